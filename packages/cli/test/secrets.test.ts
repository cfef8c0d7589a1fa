import { assert, describe, it } from "@effect/vitest"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { temporaryDirectory, writeToken } from "./helpers/cli.js"
import { type Exit, run, start, waitForOutput } from "./support/bin.js"

/**
 * The sToken goes to Apple and nowhere else. A canary token runs through every command — token, list of each
 * paginator family in several formats with checkpoint files, sync (full, then incremental, then one killed with
 * SIGKILL mid-run so its write-ahead log stays behind), mock-server, demo — and neither the whole Base64 token
 * nor the secret inside it (nor either half of the secret) may appear in any stdout or stderr, or in any file
 * the commands leave: databases with their -wal and -shm files, checkpoint files.
 *
 * The simulator accepts only its own token, so the canary is the simulator's: a seed and an organisation name
 * fix it, and `vppkit demo --seed` and `vppkit mock-server --seed --org-name` make the same one. The requests go
 * through a recording proxy on loopback, which shows where the token travels: in the Authorization header of
 * the v2 requests and the `sToken` field of the legacy POST bodies, and nowhere else (never in a URL).
 */

const seed = 424_242
// `vppkit demo` names its organisation so: with the same seed it serves the same token.
const orgName = "Demo School District"
const settings: Simulator.Settings = {
  seed,
  orgName,
  pageSize: 100,
  latency: 2,
  records: { assets: 2, users: 60, assignments: 250 },
  subscriptions: { subscriptions: 4, assignments: 30, admins: 3 }
}

interface Recorded {
  readonly method: string
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

/** An HTTP proxy on 127.0.0.1 that records every request and forwards it to `target`; closed with the scope. */
const recordingProxy = (target: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: http.Server; readonly url: string; readonly requests: Array<Recorded> }>((resume) => {
      const requests: Array<Recorded> = []
      const agent = new http.Agent({ keepAlive: false })
      const server = http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const body = Buffer.concat(chunks)
          requests.push({ method: request.method!, url: request.url!, headers: request.headers, body: body.toString("utf8") })
          const upstream = http.request(
            new URL(request.url!, target),
            { method: request.method!, headers: request.headers, agent },
            (answer) => {
              response.writeHead(answer.statusCode!, answer.headers)
              answer.pipe(response)
            }
          )
          upstream.on("error", () => response.destroy())
          upstream.end(body)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as import("node:net").AddressInfo
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${port}`, requests }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** Every file under a directory, recursively. */
const filesUnder = (directory: string): Array<string> =>
  fs.readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name)
    return entry.isDirectory() ? filesUnder(full) : [full]
  })

describe("secrets", () => {
  it.scopedLive("a canary sToken appears in no output, database, WAL or checkpoint file, and travels only in the Authorization header or the legacy body", () =>
    Effect.gen(function*() {
      const server = yield* Effect.orDie(SimulatorServer.make(settings))
      const raw = Redacted.value(server.simulator.token.value)
      const secret = (JSON.parse(Buffer.from(raw, "base64").toString("utf8")) as { token: string }).token
      assert.isAtLeast(secret.length, 32, "the canary has a secret worth searching for")
      const needles = { "the Base64 sToken": raw, "its secret": secret, "the secret's first half": secret.slice(0, secret.length >> 1), "the secret's second half": secret.slice(secret.length >> 1) }

      const proxy = yield* recordingProxy(server.url)
      const directory = yield* temporaryDirectory
      const tokenFile = writeToken(directory, server.simulator.token.value)
      const connect = ["--token-file", tokenFile, "--base-url", `${proxy.url}/mdm`]
      const at = (name: string) => path.join(directory, name)

      const runs: Array<{ readonly args: ReadonlyArray<string>; readonly exit: Exit }> = []
      const ok = (args: ReadonlyArray<string>, exit: Exit) => {
        runs.push({ args, exit })
        assert.strictEqual(exit.code, 0, `vppkit ${args.join(" ")}: ${exit.stderr}`)
      }
      const runAll = (commands: ReadonlyArray<ReadonlyArray<string>>) =>
        Effect.forEach(commands, (args) => Effect.map(run(args), (exit) => ok(args, exit)), { concurrency: 2, discard: true })

      // token; list of each family in several formats (checkpoint files for the incremental ones); the demo.
      const lists = [
        ["token", ...connect],
        ["token", "--json", ...connect],
        ["list", "assets", "--format", "table", ...connect],
        ["list", "assignments", "--format", "ndjson", "--checkpoint", at("assignments.json"), ...connect],
        ["list", "users", "--format", "csv", "--checkpoint", at("users.json"), ...connect],
        ["list", "subscriptions", "--format", "json", ...connect],
        ["list", "subscription-assignments", "--format", "csv", ...connect],
        // --verbose prints a line per request (and the legacy ones carry the sToken in their body); JSON logs too.
        ["list", "legacy-licenses", "--format", "ndjson", "--checkpoint", at("licenses.json"), "--verbose", ...connect],
        ["list", "legacy-users", "--format", "json", "--checkpoint", at("legacy-users.json"), "--verbose", "--log-format", "json", "--log-level", "debug", ...connect]
      ]
      const demo = ["demo", "--seed", String(seed), "--db", at("demo.sqlite"), "--assignments", "120", "--assets", "2", "--fault-rate", "0"]
      yield* Effect.all([
        runAll(lists),
        Effect.map(run(demo), (exit) => ok(demo, exit))
      ], { concurrency: 2 })

      // Then, two at a time: the same lists again (deltas from the checkpoint files); sync full, then incremental,
      // then one killed (kill -9) once it has written, so its write-ahead log stays; mock-server with the same seed
      // and organisation (the same token), listed through, then stopped.
      yield* server.simulator.churn("assignments", { inserts: 5, updates: 3, deletes: 2 })
      yield* server.simulator.churn("users", { inserts: 3, updates: 2, deletes: 1 })
      const deltas = runAll(lists.filter((args) => args.includes("--checkpoint")))
      const sync = ["sync", "--db", at("vppkit.sqlite"), "--verbose", "--log-level", "debug", ...connect]
      const killed = ["sync", "--db", at("killed.sqlite"), ...connect]
      const syncs = Effect.gen(function*() {
        ok(sync, yield* run(sync))
        yield* server.simulator.churn("assignments", { inserts: 5, updates: 3, deletes: 2 })
        ok(sync, yield* run(sync))
        yield* Effect.scoped(Effect.gen(function*() {
          const running = yield* start(killed)
          const wal = at("killed.sqlite-wal")
          // Killed once a resource or two are committed: their pages are in the log.
          while (!(fs.existsSync(wal) && fs.statSync(wal).size > 64 * 1024) && running.child.exitCode === null) {
            yield* Effect.sleep("5 millis")
          }
          running.child.kill("SIGKILL")
          runs.push({ args: killed, exit: yield* running.exit })
        }))
        assert.isTrue(fs.existsSync(at("killed.sqlite-wal")), "the killed sync left its write-ahead log")
      })
      const mockToken = at("mock.token")
      const mock = ["mock-server", "--port", "0", "--seed", String(seed), "--org-name", orgName, "--write-token", mockToken]
      const mockServer = Effect.scoped(Effect.gen(function*() {
        const running = yield* start(mock)
        const [, baseUrl] = yield* waitForOutput(running, /export VPP_BASE_URL=(\S+)/)
        assert.strictEqual(fs.readFileSync(mockToken, "utf8").trim(), raw, "the mock server serves the canary token")
        assert.strictEqual(fs.statSync(mockToken).mode & 0o777, 0o600, "written for its owner only")
        const args = ["list", "assets", "--format", "csv", "--token-file", mockToken, "--base-url", baseUrl!]
        ok(args, yield* run(args))
        running.child.kill("SIGTERM")
        const exit = yield* running.exit
        runs.push({ args: mock, exit })
        assert.strictEqual(exit.code, 0, exit.stderr)
      }))
      yield* Effect.all([syncs, Effect.zipRight(deltas, mockServer)], { concurrency: 2, discard: true })

      // Nothing printed holds the token.
      for (const { args, exit } of runs) {
        for (const [stream, text] of [["stdout", exit.stdout], ["stderr", exit.stderr]] as const) {
          for (const [what, needle] of Object.entries(needles)) {
            assert.notInclude(text, needle, `${what} on the ${stream} of vppkit ${args.join(" ")}`)
          }
        }
      }
      assert.isAbove(runs.reduce((n, r) => n + r.exit.stdout.length, 0), 10_000, "the runs printed records")
      const stderrOf = (command: string, resource: string) =>
        runs.filter((r) => r.args[0] === command && r.args[1] === resource).map((r) => r.exit.stderr).join("")
      assert.match(stderrOf("list", "legacy-licenses"), /^POST \/getVPPLicensesSrv 200 \d+ ms$/m, "--verbose printed the requests")
      assert.match(stderrOf("list", "legacy-users"), /^\{"time":"[^"]+","type":"request","method":"POST","path":"\/getVPPUsersSrv"/m)
      assert.match(stderrOf("sync", "--db"), /^GET \/v2\/assets\?unlimited=true 200 \d+ ms$/m)

      // No file left behind holds it, except the token files themselves.
      const files = filesUnder(directory).filter((file) => file !== tokenFile && file !== mockToken)
      const names = files.map((file) => path.basename(file))
      for (const expected of ["vppkit.sqlite", "killed.sqlite", "killed.sqlite-wal", "demo.sqlite", "assignments.json", "users.json", "licenses.json", "legacy-users.json"]) {
        assert.include(names, expected, `${expected} was written and is searched`)
      }
      for (const file of files) {
        const bytes = fs.readFileSync(file)
        for (const [what, needle] of Object.entries(needles)) {
          assert.strictEqual(bytes.indexOf(needle), -1, `${what} in ${path.basename(file)}`)
        }
      }

      // On the wire: in the Authorization header of a v2 request, in the sToken field of a legacy body; nowhere else.
      const v2 = proxy.requests.filter((request) => request.method === "GET")
      const legacy = proxy.requests.filter((request) => request.method === "POST")
      assert.isAbove(v2.length, 10)
      assert.isAbove(legacy.length, 2)
      for (const request of proxy.requests) {
        const where = `${request.method} ${request.url}`
        const { authorization, ...otherHeaders } = request.headers
        for (const needle of Object.values(needles)) {
          assert.notInclude(request.url, needle, `the token in the URL: ${where}`)
          assert.notInclude(JSON.stringify(otherHeaders), needle, `the token in a header other than Authorization: ${where}`)
        }
        if (request.method === "GET") {
          assert.strictEqual(authorization, `Bearer ${raw}`, where)
          assert.strictEqual(request.body, "", where)
        } else {
          const body = JSON.parse(request.body) as Record<string, unknown>
          assert.strictEqual(body["sToken"], raw, where)
          const { sToken: _, ...rest } = body
          for (const needle of Object.values(needles)) assert.notInclude(JSON.stringify(rest), needle, where)
          assert.isUndefined(authorization, `a legacy request sends the token once, in its body: ${where}`)
        }
      }
    }), 60_000)
})
