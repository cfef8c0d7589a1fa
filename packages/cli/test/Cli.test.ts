import { assert, describe, it } from "@effect/vitest"
import * as Cli from "../src/Cli.js"

describe("Cli.splitFlagValues", () => {
  it("splits --flag=value at the first =, up to --, and leaves everything else alone", () => {
    assert.deepStrictEqual(
      Cli.splitFlagValues(["list", "--adam-id=1", "-q", "--since=a=b==", "--empty=", "users", "--", "--x=y"]),
      ["list", "--adam-id", "1", "-q", "--since", "a=b==", "--empty=", "users", "--", "--x=y"]
    )
  })
})
