import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll } from "vitest"
import { temporaryDirectorySync } from "./helpers/cli.js"
import { assertFailure, runBin, start, waitForOutput } from "./support/bin.js"

const temp = temporaryDirectorySync()
afterAll(() => temp.remove())

describe("vppkit mock-server: stopping and its token file", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it.scopedLive(`stopped with ${signal}${signal === "SIGINT" ? " (Ctrl-C)" : ""}: one line "stopped", exit 0`, () =>
      Effect.gen(function*() {
        const running = yield* start(["mock-server", "--port", "0"])
        yield* waitForOutput(running, /export VPP_BASE_URL=/)
        running.child.kill(signal)
        const exit = yield* running.exit
        assert.strictEqual(exit.code, 0, exit.stderr)
        assert.deepStrictEqual(exit.stderr.trim().split("\n"), ["Press Ctrl-C to stop.", "stopped"])
        assert.notInclude(exit.stderr, "interrupted")
      }))
  }

  it.scopedLive("--quiet: stopped without a word, exit 0", () =>
    Effect.gen(function*() {
      const running = yield* start(["mock-server", "--port", "0", "--quiet"])
      yield* waitForOutput(running, /export VPP_BASE_URL=/)
      running.child.kill("SIGINT")
      const exit = yield* running.exit
      assert.strictEqual(exit.code, 0, exit.stderr)
      assert.strictEqual(exit.stderr, "")
    }))

  it("--write-token into a missing directory: one line naming the path, exit 2", async () => {
    const missing = path.join(temp.dir, "missing", "x")
    const args = ["mock-server", "--port", "0", "--write-token", missing]
    const result = await runBin(args)
    const line = assertFailure(result, 2, args)
    assert.strictEqual(line, `vppkit: --write-token ${missing}: cannot write it: its directory ${path.dirname(missing)} does not exist`)
    assert.notInclude(line, "FileSystem")
  })

  it("--write-token onto a directory: one line naming the path, exit 2", async () => {
    const args = ["mock-server", "--port", "0", "--write-token", temp.dir]
    const result = await runBin(args)
    const line = assertFailure(result, 2, args)
    assert.include(line, `--write-token ${temp.dir}: cannot write it: `)
    assert.notInclude(line, "FileSystem")
    assert.isTrue(fs.statSync(temp.dir).isDirectory())
  })
})
