import { assert, describe, it } from "@effect/vitest"
import * as SToken from "@vppkit/core/SToken"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { afterAll } from "vitest"
import { temporaryDirectorySync, writeToken } from "./helpers/cli.js"
import { runBin, start, waitForOutput } from "./support/bin.js"

const secret = "canary-secret-0f9c2d7e5b1a"
const days = (n: number) => new Date(Date.now() + n * 86_400_000)
const tokenFor = (expiresAt: Date, orgName = "Canary School") =>
  Redacted.value(SToken.make({ secret, orgName, expiresAt }).value)

const temp = temporaryDirectorySync()
afterAll(() => temp.remove())
const valid = writeToken(temp.dir, tokenFor(days(400)), "valid.token")

/** Asserts a failure printed exactly one line on stderr, no stack trace and never the token. */
const assertOneLine = (stderr: string, includes: string) => {
  const lines = stderr.trim().split("\n")
  assert.strictEqual(lines.length, 1, stderr)
  assert.include(lines[0], includes)
  assert.notInclude(stderr, "    at ")
  assert.notInclude(stderr, secret)
}

describe("vppkit (built bin)", () => {
  it("--help lists the commands and exits 0", async () => {
    const result = await runBin(["--help"])
    assert.strictEqual(result.code, 0)
    for (const command of ["token", "locations", "mock-server"]) assert.include(result.stdout, command)
  })

  it("an unknown command is a usage error (exit 2)", async () => {
    const result = await runBin(["frobnicate"])
    assert.strictEqual(result.code, 2)
  })

  it("an unknown flag is a usage error (exit 2)", async () => {
    const result = await runBin(["token", "--no-such-flag"])
    assert.strictEqual(result.code, 2)
  })
})

describe("vppkit token", () => {
  it("shows organisation, expiry and days left, never the secret", async () => {
    const result = await runBin(["token", "--token-file", valid])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.include(result.stdout, "Canary School")
    assert.match(result.stdout, /days left\s+(399|400)/)
    assert.notInclude(result.stdout + result.stderr, secret)
    assert.notInclude(result.stdout + result.stderr, tokenFor(days(400)).slice(0, 24))
  })

  it("--json prints one object", async () => {
    const result = await runBin(["token", "--json"], { env: { VPP_TOKEN_FILE: valid } })
    assert.strictEqual(result.code, 0, result.stderr)
    const shown = JSON.parse(result.stdout) as Record<string, unknown>
    assert.strictEqual(shown["orgName"], "Canary School")
    assert.strictEqual(shown["expired"], false)
    assert.deepStrictEqual(Object.keys(shown).sort(), ["daysLeft", "expired", "expiresAt", "orgName"])
  })

  it("reads VPP_TOKEN when no file is given", async () => {
    const result = await runBin(["token"], { env: { VPP_TOKEN: tokenFor(days(30), "Env School") } })
    assert.strictEqual(result.code, 0, result.stderr)
    assert.include(result.stdout, "Env School")
  })

  it("--token-file wins over VPP_TOKEN in the environment", async () => {
    const result = await runBin(["token", "--token-file", valid], { env: { VPP_TOKEN: tokenFor(days(30), "Env School") } })
    assert.strictEqual(result.code, 0, result.stderr)
    assert.include(result.stdout, "Canary School")
  })

  it("warns on stderr when the token expires within 15 days", async () => {
    const soon = writeToken(temp.dir, tokenFor(days(5.5)), "soon.token")
    const result = await runBin(["token", "--token-file", soon])
    assert.strictEqual(result.code, 0)
    assert.include(result.stderr, "expires in 5 days")
    const quiet = await runBin(["token", "--quiet", "--token-file", soon])
    assert.strictEqual(quiet.stderr, "")
  })

  it("an expired token: details on stdout, one line on stderr, exit 3", async () => {
    const expired = writeToken(temp.dir, tokenFor(days(-3)), "expired.token")
    const result = await runBin(["token", "--token-file", expired])
    assert.strictEqual(result.code, 3)
    assert.include(result.stdout, "(expired)")
    assertOneLine(result.stderr, "expired on")
  })

  const tokenFailures: ReadonlyArray<{ name: string; args: ReadonlyArray<string>; env?: Record<string, string>; says: string }> = [
    { name: "no token configured", args: [], says: "no sToken configured" },
    { name: "a token file that does not exist", args: ["--token-file", path.join(temp.dir, "missing.token")], says: "no such file" },
    { name: "a token file that is a directory", args: ["--token-file", temp.dir], says: "--token-file" },
    { name: "a malformed token", args: [], env: { VPP_TOKEN: "not a token" }, says: "not a valid sToken" },
    { name: "both VPP_TOKEN and VPP_TOKEN_FILE", args: [], env: { VPP_TOKEN: tokenFor(days(3)), VPP_TOKEN_FILE: valid }, says: "only one" }
  ]
  for (const failure of tokenFailures) {
    it(`${failure.name}: one actionable line, exit 3`, async () => {
      const result = await runBin(["token", ...failure.args], failure.env === undefined ? {} : { env: failure.env })
      assert.strictEqual(result.code, 3, result.stderr)
      assertOneLine(result.stderr, failure.says)
    })
  }

  it("a remote base URL without HTTPS is refused: exit 2", async () => {
    const result = await runBin(["token", "--token-file", valid, "--base-url", "http://vpp.example.com/mdm"])
    assert.strictEqual(result.code, 2)
    assertOneLine(result.stderr, "--base-url")
  })
})

/** Starts `vppkit mock-server` (killed with the scope) and waits for the line that gives its base URL. */
const startMockServer = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const running = yield* start(["mock-server", "--port", "0", ...args])
    const [, baseUrl] = yield* waitForOutput(running, /export VPP_BASE_URL=(\S+)/)
    const stop = Effect.suspend(() => {
      running.child.kill("SIGTERM")
      return Effect.map(running.exit, (exit) => exit.code)
    })
    return { baseUrl: baseUrl!, stop }
  })

describe("vppkit mock-server", () => {
  it.scopedLive("serves the simulator on 127.0.0.1 with a token it writes, and stops on SIGTERM (exit 0)", () =>
    Effect.gen(function*() {
      const tokenFile = path.join(temp.dir, "mock.token")
      const server = yield* startMockServer(["--write-token", tokenFile, "--assets", "7", "--unlimited-assets", "2", "--org-name", "Mock Academy"])
      assert.match(server.baseUrl, /^http:\/\/127\.0\.0\.1:\d+\/mdm$/)
      assert.strictEqual(fs.statSync(tokenFile).mode & 0o777, 0o600)
      const raw = fs.readFileSync(tokenFile, "utf8").trim()
      const body = yield* Effect.promise(async () => {
        const response = await fetch(`${server.baseUrl}/v2/assets`, { headers: { authorization: `Bearer ${raw}` } })
        assert.strictEqual(response.status, 200)
        return (await response.json()) as { assets: ReadonlyArray<unknown> }
      })
      assert.strictEqual(body.assets.length, 7)
      const split = yield* Effect.promise(async () => {
        const response = await fetch(`${server.baseUrl}/v2/assets?unlimited=true`, { headers: { authorization: `Bearer ${raw}` } })
        return (await response.json()) as { assets: ReadonlyArray<unknown>; unlimitedAssets: ReadonlyArray<unknown> }
      })
      assert.deepStrictEqual([split.assets.length, split.unlimitedAssets.length], [5, 2])
      const token = yield* Effect.promise(() => runBin(["token", "--token-file", tokenFile, "--base-url", server.baseUrl]))
      assert.strictEqual(token.code, 0, token.stderr)
      assert.include(token.stdout, "Mock Academy")
      assert.strictEqual(yield* server.stop, 0)
    }))

  it("bad settings are usage errors (exit 2)", async () => {
    for (
      const args of [["--fault-rate", "2"], ["--page-size", "0"], ["--assets", "-1"], ["--pages", "sideways"], ["--tokens", "0"], [
        "--tokens",
        "101"
      ]]
    ) {
      const result = await runBin(["mock-server", "--port", "0", ...args])
      assert.strictEqual(result.code, 2, `${args.join(" ")}: ${result.stderr}`)
    }
  })

  it.scopedLive("a port in use is one line and exit 1", () =>
    Effect.gen(function*() {
      const server = yield* startMockServer([])
      const port = new URL(server.baseUrl).port
      const result = yield* Effect.promise(() => runBin(["mock-server", "--port", port]))
      assert.strictEqual(result.code, 1)
      assertOneLine(result.stderr, "in use")
    }))
})

describe("vppkit demo", () => {
  it("syncs, changes, syncs again and verifies the database against the server", async () => {
    const db = path.join(temp.dir, "demo.sqlite")
    const result = await runBin(["demo", "--db", db, "--assignments", "300", "--assets", "4", "--fault-rate", "0.1"], {
      timeoutMs: 60_000
    })
    assert.strictEqual(result.code, 0, result.stderr)
    for (const step of ["1. Full sync", "2. Changes on the server", "3. Incremental sync", "5. Full sync", "Summary"]) {
      assert.include(result.stdout, step)
    }
    assert.include(result.stdout, "The database equals the server")
    assert.match(result.stdout, /Legacy services \(legacy-licenses, legacy-users\): the incremental sync fetched [\d,]+ records in \d+ requests/)
    assert.isTrue(fs.existsSync(db))
  }, 60_000)

  it("bad settings are usage errors (exit 2)", async () => {
    const result = await runBin(["demo", "--fault-rate", "1.5", "--db", path.join(temp.dir, "never.sqlite")])
    assert.strictEqual(result.code, 2)
    assertOneLine(result.stderr, "--fault-rate")
    assert.isFalse(fs.existsSync(path.join(temp.dir, "never.sqlite")))
  })
})
