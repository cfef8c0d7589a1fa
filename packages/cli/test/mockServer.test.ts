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

describe("vppkit mock-server --tokens", () => {
  it.scopedLive("--tokens 3 --write-token PATH: PATH, PATH.2, PATH.3, each a different token of the one library, all listed; a sync with two of them records one location with 2 tokens", () =>
    Effect.gen(function*() {
      const tokenFile = path.join(temp.dir, "library.token")
      const running = yield* start(["mock-server", "--port", "0", "--tokens", "3", "--write-token", tokenFile, "--assignments", "50", "--users", "20", "--assets", "3"])
      const [, baseUrl] = yield* waitForOutput(running, /export VPP_BASE_URL=(\S+)/)
      const [listed] = yield* waitForOutput(running, /tokens of the same library.*\n/)
      const files = [tokenFile, `${tokenFile}.2`, `${tokenFile}.3`]
      assert.strictEqual(listed!.trim(), `tokens of the same library (--tokens 3): ${files.join(", ")}`)
      for (const file of files) assert.strictEqual(fs.statSync(file).mode & 0o777, 0o600, file)
      const tokens = files.map((file) => fs.readFileSync(file, "utf8").trim())
      assert.strictEqual(new Set(tokens).size, 3, "three different tokens")
      assert.isFalse(fs.existsSync(`${tokenFile}.4`))
      const { stdout } = yield* running.output
      for (const token of tokens) assert.notInclude(stdout, token)

      const db = path.join(temp.dir, "tokens.sqlite")
      for (const file of [files[0]!, files[2]!]) {
        const sync = yield* Effect.promise(() => runBin(["sync", "-q", "--db", db, "--token-file", file, "--base-url", baseUrl!]))
        assert.strictEqual(sync.code, 0, sync.stderr)
      }
      const locations = yield* Effect.promise(() => runBin(["locations", "--db", db, "-o", "json"]))
      assert.strictEqual(locations.code, 0, locations.stderr)
      const found = JSON.parse(locations.stdout) as ReadonlyArray<{ readonly locationName: string; readonly tokens: number }>
      assert.deepStrictEqual(found.map((l) => [l.locationName, l.tokens]), [["Mock School", 2]])
    }), 60_000)

  it.scopedLive("--quiet: the token files are written but not listed", () =>
    Effect.gen(function*() {
      const tokenFile = path.join(temp.dir, "quiet.token")
      const running = yield* start(["mock-server", "--port", "0", "--quiet", "--tokens", "2", "--write-token", tokenFile])
      yield* waitForOutput(running, /export VPP_TOKEN_FILE=/)
      assert.isTrue(fs.existsSync(`${tokenFile}.2`))
      running.child.kill("SIGTERM")
      const exit = yield* running.exit
      assert.strictEqual(exit.code, 0, exit.stderr)
      assert.strictEqual(exit.stdout.trim().split("\n").length, 3, exit.stdout)
      assert.notInclude(exit.stdout, "tokens of the same library")
    }))
})
