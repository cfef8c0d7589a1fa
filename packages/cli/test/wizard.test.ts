import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { checkWizard } from "../src/internal/wizard.js"
import { assertFailure, runBin } from "./support/bin.js"

describe("--wizard without a terminal", () => {
  for (const args of [["--wizard"], ["list", "--wizard"], ["sync", "--wizard", "--db", "x.sqlite"]]) {
    it(`vppkit ${args.join(" ")} with stdin closed: one line, exit 2 at once`, async () => {
      const started = Date.now()
      const result = await runBin(args, { timeoutMs: 10_000 })
      const line = assertFailure(result, 2, args)
      assert.include(line, "--wizard")
      assert.include(line, "stdin is not")
      assert.isBelow(Date.now() - started, 9_000)
    })
  }

  it("is left to @effect/cli on a terminal, and after -- it is an argument", () => {
    assert.isTrue(Either.isRight(checkWizard(["list", "--wizard"], true)))
    assert.isTrue(Either.isRight(checkWizard(["list", "--", "--wizard"], false)))
    assert.isTrue(Either.isLeft(checkWizard(["list", "--wizard"], false)))
  })
})
