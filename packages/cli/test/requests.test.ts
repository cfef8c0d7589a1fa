import { assert, describe, it } from "@effect/vitest"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import { assertFailure, bin, run, serve, temporaryDirectory } from "./helpers/cli.js"
import { environment, runBin } from "./support/bin.js"

/**
 * What a run says about its requests: a refused loopback connection fails at once; `--verbose` prints one line per
 * request (never the token, never a legacy body); `--log-format json` prints JSON lines; `--log-level debug`
 * prints the debug logs on stderr; retries are shown as they happen on a terminal; `sync --retries`.
 */

const settings: Simulator.Settings = {
  seed: 31,
  pageSize: 50,
  records: { assets: 3, users: 20, assignments: 120 },
  subscriptions: { subscriptions: 2, assignments: 4, admins: 1 }
}

/** A loopback port nobody listens on (bound, then closed). */
const closedPort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** `GET /v2/assets?pageIndex=0 200 12 ms`, `… retry 1`, `… --- 3 ms: connection refused` */
const requestLine = /^(GET|POST) (\/[^\s?]*)(\?\S*)? (\d{3}|---) (\d+) ms(?: retry (\d+))?(?:: .+)?$/

const lines = (text: string) => text.split("\n").filter((line) => line.length > 0)

/** Runs the bin under a pseudo-terminal (`script`): stdin, stdout and stderr are the terminal; answers what it showed. */
const runOnTerminal = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  Effect.async<{ readonly code: number | null; readonly output: string }>((resume) => {
    const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`
    // stdout goes to /dev/null: the terminal is stderr's, as when records are piped to a file.
    const command = [process.execPath, bin, ...args].map(quote).join(" ") + " > /dev/null"
    const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], {
      env: environment({ COLUMNS: "100", LINES: "30", ...env }),
      stdio: ["ignore", "pipe", "pipe"]
    })
    const chunks: Array<string> = []
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => chunks.push(chunk))
    child.on("close", (code) => resume(Effect.succeed({ code, output: chunks.join("") })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("a server that cannot be reached", () => {
  it.scopedLive("a refused loopback connection fails at once: exit 4, one line, one attempt", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const port = yield* closedPort
      const args = ["list", "assets", served.connect[0]!, served.connect[1]!, "--base-url", `http://127.0.0.1:${port}/mdm`]
      // Before, 8 retries took about a minute: the kill at 15 s would have ended it (exit code null).
      const [plain, verbose] = yield* Effect.all([
        Effect.promise(() => runBin(args, { timeoutMs: 15_000 })),
        Effect.promise(() => runBin([...args, "--verbose"], { timeoutMs: 15_000 }))
      ], { concurrency: 2 })
      const line = assertFailure(plain, 4, args)
      assert.match(
        line,
        new RegExp(`^vppkit: could not reach the server at /v2/service/config: connection refused by 127\\.0\\.0\\.1:${port} \\(is the server running\\?\\)$`)
      )
      assert.strictEqual(verbose.code, 4, verbose.stderr)
      const requests = lines(verbose.stderr).filter((line) => requestLine.test(line))
      assert.deepStrictEqual(requests, [`GET /v2/service/config --- ${requests[0]?.split(" ")[3]} ms: connection refused`])
    }))
})

describe("--verbose", () => {
  it.scopedLive("one line per request on stderr: method, path, status, ms, retry; never the token or a legacy body", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const raw = Redacted.value(served.simulator.token.value)
      const secret = (JSON.parse(Buffer.from(raw, "base64").toString("utf8")) as { token: string }).token
      yield* served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/assignments", times: 1 })
      const runs = yield* Effect.all([
        run(["list", "assignments", "--verbose", "--format", "ndjson", "--concurrency", "1", ...served.connect]),
        run(["list", "legacy-licenses", "--verbose", "--format", "csv", ...served.connect])
      ], { concurrency: 2 })
      for (const result of runs) {
        assert.strictEqual(result.code, 0, result.stderr)
        for (const needle of [raw, secret, secret.slice(0, secret.length >> 1), secret.slice(secret.length >> 1)]) {
          assert.notInclude(result.stderr + result.stdout, needle)
        }
        assert.notMatch(result.stderr, /sToken|batchToken|\{/, "no request body")
      }
      // The lines are the requests the server saw, one for one.
      const seen = (yield* served.simulator.log).map((entry) => `${entry.method} ${entry.path} ${entry.status}`).sort()
      const printed = runs.flatMap((result) => lines(result.stderr)).flatMap((line) => {
        const match = requestLine.exec(line)
        return match === null ? [] : [`${match[1]} ${match[2]} ${match[4]}`]
      }).sort()
      assert.deepStrictEqual(printed, seen)
      const [assignments, legacy] = runs
      const assignmentLines = lines(assignments!.stderr).filter((line) => line.startsWith("GET /v2/assignments"))
      // (Page 0 is asked for without a pageIndex.)
      assert.match(assignmentLines[0]!, /^GET \/v2\/assignments 503 \d+ ms: unavailable \(HTTP 503, error 9729\)$/)
      assert.match(assignmentLines[1]!, /^GET \/v2\/assignments 200 \d+ ms retry 1$/)
      assert.match(assignmentLines[2]!, /^GET \/v2\/assignments\?pageIndex=1 200 \d+ ms$/)
      assert.match(lines(legacy!.stderr).find((line) => line.startsWith("POST"))!, /^POST \/getVPPLicensesSrv 200 \d+ ms$/)
      // And the summary is still the last line.
      assert.match(lines(assignments!.stderr).at(-1)!, /^listed 120 assignments records/)
    }))

  it.scopedLive("--log-format json: every line on stderr is a JSON object (requests and logs)", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      yield* served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/users", times: 1 })
      const result = yield* run([
        "list", "users", "--quiet", "--verbose", "--log-format", "json", "--log-level", "debug", "--format", "ndjson",
        ...served.connect
      ])
      assert.strictEqual(result.code, 0, result.stderr)
      const objects = lines(result.stderr).map((line) => JSON.parse(line) as Record<string, unknown>)
      const requests = objects.filter((o) => o["type"] === "request")
      assert.strictEqual(requests.length, (yield* served.simulator.log).length)
      assert.deepInclude(requests, {
        ...requests.find((o) => o["status"] === 503),
        type: "request",
        method: "GET",
        path: "/v2/users",
        query: "",
        status: 503,
        retry: 0
      })
      for (const request of requests) {
        assert.hasAllKeys(request, ["time", "type", "method", "path", "query", "status", "ms", "retry", ...("error" in request ? ["error"] : [])])
        assert.isNumber(request["ms"])
      }
      assert.isTrue(requests.some((o) => o["path"] === "/v2/users" && o["status"] === 200 && o["retry"] === 1))
      const logs = objects.filter((o) => o["type"] === "log")
      assert.isTrue(
        logs.some((o) => o["level"] === "DEBUG" && String(o["message"]).startsWith("retrying /v2/users in ")),
        result.stderr
      )
    }))
})

describe("--log-level debug", () => {
  it.scopedLive("prints the debug logs on stderr, none on stdout", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      yield* served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/assignments", times: 1 })
      const result = yield* run(["list", "assignments", "--log-level", "debug", "--format", "ndjson", ...served.connect])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(lines(result.stdout).length, 120)
      for (const line of lines(result.stdout)) assert.doesNotThrow(() => JSON.parse(line), line)
      assert.match(
        result.stderr,
        /^\[\d\d:\d\d:\d\d\.\d{3}\] DEBUG retrying \/v2\/assignments in \d+\.\d s: the service is unavailable \(HTTP 503, error 9729 from \/v2\/assignments\) \(1\/8\)$/m
      )
      // After the command's other options too (@effect/cli's own --log-level is read only before them).
      const directory = yield* temporaryDirectory
      yield* served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/users", times: 1 })
      const sync = yield* run([
        "sync", "--db", path.join(directory, "debug.sqlite"), "--resources", "users", ...served.connect, "--log-level", "debug"
      ])
      assert.strictEqual(sync.code, 0, sync.stderr)
      assert.match(sync.stderr, /^\[[\d:.]+\] DEBUG retrying \/v2\/users in \d+\.\d s: .* \(1\/8\)$/m)
      // Without it, no debug line.
      yield* served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/assignments", times: 1 })
      const quiet = yield* run(["list", "assignments", "--format", "ndjson", ...served.connect])
      assert.notInclude(quiet.stderr + quiet.stdout, "DEBUG")
    }))
})

describe("sync --retries", () => {
  it.scopedLive("--retries 0 gives up on the first failure; --retries 1 outlasts one", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const directory = yield* temporaryDirectory
      const sync = (retries: string, db: string) =>
        run(["sync", "--resources", "users", "--retries", retries, "--db", path.join(directory, db), ...served.connect])
      yield* served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/users", times: 1 })
      const gaveUp = yield* sync("0", "a.sqlite")
      assert.strictEqual(gaveUp.code, 4, gaveUp.stderr)
      assert.match(lines(gaveUp.stderr).at(-1)!, /^vppkit: gave up after retries: the service is unavailable \(HTTP 503/)
      yield* served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/users", times: 1 })
      const outlasted = yield* sync("1", "b.sqlite")
      assert.strictEqual(outlasted.code, 0, outlasted.stderr)
      assert.match(outlasted.stderr, /^users: full, \d+ records, 1 page, 1 retry, consistent/m)
      assertFailure(yield* sync("many", "c.sqlite"), 2)
    }))
})

describe("retries on a terminal", () => {
  it.scopedLive("are shown as they happen, before the first page too; not in a pipe", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const args = ["list", "assignments", "--format", "ndjson", ...served.connect]
      yield* served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/assignments", times: 2 })
      const shown = yield* runOnTerminal(args)
      assert.strictEqual(shown.code, 0, shown.output)
      const retry = (n: number) =>
        new RegExp(`retrying /v2/assignments in \\d+(\\.\\d)? s: unavailable \\(HTTP 503, error 9729\\) \\(${n}/8\\)\\r?\\n`)
      assert.match(shown.output, retry(1))
      assert.match(shown.output, retry(2))
      // The retries came before the first page: they are the first lines shown.
      assert.match(shown.output, /^(\u001b\[[0-9;?]*[A-Za-z]|\r)*retrying \/v2\/assignments/)
      assert.match(shown.output, /listed 120 assignments records \(3 pages, 2 retries\)/)

      yield* served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/assignments", times: 2 })
      const piped = yield* run(args)
      assert.strictEqual(piped.code, 0, piped.stderr)
      assert.notInclude(piped.stderr, "retrying")
    }))
})
