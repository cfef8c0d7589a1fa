import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Cli from "../src/Cli.js"

describe("Cli.splitFlagValues", () => {
  it("splits --flag=value at the first =, up to --, and leaves everything else alone", () => {
    assert.deepStrictEqual(
      Cli.splitFlagValues(["list", "--adam-id=1", "-q", "--since=a=b==", "--empty=", "users", "--", "--x=y"]),
      ["list", "--adam-id", "1", "-q", "--since", "a=b==", "--empty=", "users", "--", "--x=y"]
    )
  })
})

describe("Cli.checkFlagValues", () => {
  const right = (args: ReadonlyArray<string>) => {
    const checked = Cli.checkFlagValues(args)
    assert.isTrue(Either.isRight(checked), JSON.stringify(checked))
    return Either.getOrThrow(checked)
  }
  const left = (args: ReadonlyArray<string>) => Either.getLeft(Cli.checkFlagValues(args)).pipe(Option.getOrThrow)

  it("a boolean filter flag without true or false after it means true; with one, it keeps it", () => {
    assert.deepStrictEqual(right(["list", "users", "--active-only"]), ["list", "users", "--active-only", "true"])
    assert.deepStrictEqual(right(["list", "--active-only", "--format", "csv", "users"]), [
      "list",
      "--active-only",
      "true",
      "--format",
      "csv",
      "users"
    ])
    assert.deepStrictEqual(right(["list", "assets", "--revocable", "false", "-q"]), ["list", "assets", "--revocable", "false", "-q"])
    // any other word is left as its value, for the filter's own check ("expected true or false")
    assert.deepStrictEqual(right(["list", "assets", "--revocable", "maybe"]), ["list", "assets", "--revocable", "maybe"])
  })

  it("a flag that takes a value: missing, empty or a flag in its place is refused, naming the flag", () => {
    assert.strictEqual(left(["list", "assets", "--adam-id"]), "--adam-id: expected a value after it")
    assert.strictEqual(left(["list", "assets", "--adam-id", " "]), "--adam-id: expected a value, got an empty one")
    assert.strictEqual(left(["list", "users", "--since", "--quiet"]), "--since: expected a value, got the flag --quiet")
    assert.strictEqual(left(["sync", "--resources", ""]), "--resources: expected a value, got an empty one")
    assert.strictEqual(left(["sync", "--db"]), "--db: expected a value after it")
    assert.deepStrictEqual(right(["sync", "--resources", "users", "--full"]), ["sync", "--resources", "users", "--full"])
  })

  it("leaves alone what comes before the command and after --", () => {
    assert.deepStrictEqual(right(["--help"]), ["--help"])
    assert.deepStrictEqual(right(["list", "users", "--", "--since"]), ["list", "users", "--", "--since"])
  })
})
