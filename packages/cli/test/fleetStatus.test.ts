import { assert, describe, it } from "@effect/vitest"
import * as Schedules from "@vppkit/fleet/Schedules"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseListen } from "../src/internal/fleetRun.js"
import { serve, temporaryDirectory } from "./helpers/cli.js"
import { assertBuilt, assertFailure, run, type Running, start } from "./support/bin.js"
import { lines, startOnTerminal } from "./support/pseudoTerminal.js"

/**
 * `vppkit fleet status` and the runner's port (`fleet run --http`) with the built CLI: a location added and
 * synced, its status from the database; the runner serving /healthz, /status and /metrics; never the token.
 */

const settings = { seed: 83, orgName: "East School", pageSize: 25, records: { assets: 2, users: 20, assignments: 60 } }

/** Waits until the running bin's stderr matches `pattern`. */
const waitForStderr = (running: Running, pattern: RegExp) =>
  Effect.gen(function*() {
    for (;;) {
      const { stderr, stdout } = yield* running.output
      const match = pattern.exec(stderr)
      if (match !== null) return match
      if (running.child.exitCode !== null) return yield* Effect.dieMessage(`vppkit exited: ${stdout}${stderr}`)
      yield* Effect.sleep("20 millis")
    }
  }).pipe(Effect.timeoutFail({ duration: 30_000, onTimeout: () => new Error(`no ${pattern} on stderr`) }), Effect.orDie)

interface Status {
  readonly uId: string
  readonly locationName: string | null
  readonly records: number
  readonly tokenDaysLeft: number | null
  readonly lastRun: {
    readonly result: string
    readonly full: boolean
    readonly consecutiveFailures: number
    readonly runner?: string
  } | null
  readonly nextIncrementalAt: string | null
  readonly nextFullAt: string | null
}

describe("vppkit fleet status and fleet run --http", () => {
  it("parses --http HOST:PORT", () => {
    assert.deepStrictEqual(Effect.runSync(parseListen("127.0.0.1:9090")), { host: "127.0.0.1", port: 9090 })
    assert.deepStrictEqual(Effect.runSync(parseListen(":0")), { host: undefined, port: 0 })
    assert.deepStrictEqual(Effect.runSync(parseListen("[::1]:80")), { host: "::1", port: 80 })
    for (const bad of ["", "host", "host:port", "1.2.3.4:70000"]) {
      assert.strictEqual(Effect.runSync(Effect.flip(parseListen(bad)))._tag, "UsageError", bad)
    }
  })

  it.scopedLive("status after a sync; the runner's port answers /healthz, /status and /metrics; never the token", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const served = yield* serve(settings)
      const directory = yield* temporaryDirectory
      const db = path.join(directory, "fleet.sqlite")
      const keyFile = path.join(directory, "fleet.key")
      fs.writeFileSync(keyFile, crypto.randomBytes(32), { mode: 0o600 })
      const env = { VPPKIT_FLEET_KEY_FILE: keyFile }
      const secret = Redacted.value(served.simulator.token.value)

      const empty = yield* run(["fleet", "status", "--db", db, "-o", "json"], { env })
      // a database that does not exist is refused in one line (exit 2), and not created (nor its lock)
      assert.match(assertFailure(empty, 2), /^vppkit: fleet status: no database .*fleet\.sqlite/)
      assert.strictEqual(empty.stderr.trim().split("\n").length, 1, empty.stderr)
      const listed = yield* run(["fleet", "list", "--db", db, "-o", "json"], { env })
      assert.match(assertFailure(listed, 2), /^vppkit: fleet list: no database /)
      assert.deepStrictEqual(fs.readdirSync(directory).filter((f) => f.startsWith("fleet.sqlite")), [])

      const added = yield* run(["fleet", "add", ...served.connect, "--name", "east", "--db", db], { env })
      assert.strictEqual(added.code, 0, added.stderr)
      const before = yield* run(["fleet", "status", "--db", db, "-o", "json"], { env })
      const [never] = JSON.parse(before.stdout) as ReadonlyArray<Status>
      assert.strictEqual(never?.lastRun, null, "not synced yet")

      const synced = yield* run(["fleet", "sync", "--base-url", served.server.baseUrl, "--db", db], { env })
      assert.strictEqual(synced.code, 0, synced.stderr)
      const after = yield* run(["fleet", "status", "--db", db, "-o", "json"], { env })
      assert.strictEqual(after.code, 0, after.stderr)
      const statuses = JSON.parse(after.stdout) as ReadonlyArray<Status>
      assert.strictEqual(statuses.length, 1)
      const status = statuses[0]!
      assert.strictEqual(status.lastRun?.result, "synced")
      assert.strictEqual(status.lastRun?.consecutiveFailures, 0)
      // run by `fleet sync` in its own process: the machine's name; no runner has started: no next syncs known
      assert.strictEqual(status.lastRun?.runner, os.hostname())
      assert.strictEqual(status.nextIncrementalAt, null)
      assert.strictEqual(status.nextFullAt, null)
      assert.isAbove(status.tokenDaysLeft ?? -1, 0)
      const served_ = settings.records
      assert.isAtLeast(status.records, served_.assets + served_.users + served_.assignments, "the rows of every resource")
      const table = yield* run(["fleet", "status", "--db", db, "-o", "csv"], { env })
      assert.include(table.stdout.split("\n")[0], "last run")
      assert.include(table.stdout.split("\n")[0], "runner")
      assert.include(table.stdout, status.uId)
      // on a terminal: a table by default, the uId whole even at 60 columns (the other columns give way)
      const terminal = yield* startOnTerminal(["fleet", "status", "--db", db], { columns: 60, env })
      const shown = yield* terminal.exit
      assert.strictEqual(shown.code, 0, shown.screen)
      const [header, line] = lines(shown.screen)
      assert.match(header!, /^uId +l/)
      assert.isTrue(line!.startsWith(`${status.uId}  `), line)
      for (const text of lines(shown.screen)) assert.isAtMost(text.length, 60, text)
      for (const output of [after.stdout, after.stderr, table.stdout, shown.screen]) assert.notInclude(output, secret)

      const bad = yield* run(["fleet", "run", "--db", db, "--http", "nowhere"], { env })
      assert.include(assertFailure(bad, 2), "--http")

      // every 59 minutes: the location's slot is all but surely not in the seconds before /metrics is read
      const runner = yield* start(
        ["fleet", "run", "--base-url", served.server.baseUrl, "--db", db, "--http", "127.0.0.1:0", "--every", "59"],
        { env }
      )
      const [, url] = yield* waitForStderr(runner, /fleet status on (http:\/\/\S+)\/status/)
      const get = (route: string) =>
        Effect.promise(() => fetch(`${url}${route}`).then(async (response) => ({ status: response.status, body: await response.text() })))
      const health = yield* get("/healthz")
      assert.strictEqual(health.status, 200, health.body)
      const askedRunner = Date.now()
      const fromRunner = yield* get("/status")
      assert.strictEqual(fromRunner.status, 200, fromRunner.body)
      const body = JSON.parse(fromRunner.body) as {
        readonly locations: ReadonlyArray<
          Pick<Status, "nextIncrementalAt" | "nextFullAt"> & { readonly uId: string; readonly lastRun?: { readonly result: string } }
        >
      }
      assert.deepStrictEqual(body.locations.map((location) => [location.uId, location.lastRun?.result]), [[status.uId, "synced"]])
      const metrics = yield* get("/metrics")
      assert.strictEqual(metrics.status, 200)
      // the runtime's metrics in Prometheus text; the token's days left from the start, before this runner syncs
      assert.match(metrics.body, /^# TYPE effect_cluster_entities gauge$/m)
      const daysLeft = new RegExp(`^vppkit_fleet_token_days_left\\{location="${status.uId}"\\} (\\S+)$`, "m").exec(metrics.body)
      assert.isNotNull(daysLeft, metrics.body)
      assert.closeTo(Number(daysLeft![1]), status.tokenDaysLeft!, 1.01)
      // (and this runner had not synced: the gauge was set at its start, not by a sync)
      assert.notMatch(metrics.body, /^vppkit_fleet_syncs_total\{[^}]*\} [1-9]/m)
      for (const text of [health.body, fromRunner.body, metrics.body]) assert.notInclude(text, secret)

      // with a runner started, fleet status tells the location's next syncs by its schedules: the incremental a minute
      // after its slot in the 59 minutes (its uId's offset), the full pass a minute after 02:00 UTC + its offset in
      // the 240 minutes' window
      // (the same in the runner's /status)
      const assertNext = (told: Pick<Status, "nextIncrementalAt" | "nextFullAt">, asked: number) => {
        const nextIncremental = Date.parse(told.nextIncrementalAt!)
        const period = 59 * 60_000
        assert.strictEqual((((nextIncremental - 60_000 - Schedules.offsetOf(status.uId, period)) % period) + period) % period, 0)
        assert.isAbove(nextIncremental, asked - 1000)
        assert.isAtMost(nextIncremental, asked + period + 60_000)
        const nextFull = Date.parse(told.nextFullAt!)
        assert.strictEqual((nextFull - 60_000 - Schedules.offsetOf(status.uId, 240 * 60_000)) % 86_400_000, 2 * 3_600_000)
        assert.isAbove(nextFull, asked - 1000)
        assert.isAtMost(nextFull, asked + 86_400_000 + 60_000)
        return { nextIncremental, nextFull }
      }
      assertNext(body.locations[0]!, askedRunner)
      const asked = Date.now()
      const during = JSON.parse((yield* run(["fleet", "status", "--db", db, "-o", "json"], { env })).stdout) as ReadonlyArray<Status>
      const { nextFull, nextIncremental } = assertNext(during[0]!, asked)
      const csv = (yield* run(["fleet", "status", "--db", db, "-o", "csv"], { env })).stdout.trim().split("\n")
      const column = csv[0]!.split(",").indexOf("next")
      const first = new Date(Math.min(nextIncremental, nextFull)).toISOString().slice(11, 16)
      assert.strictEqual(csv[1]!.split(",")[column], `${first}Z${nextFull < nextIncremental ? " full" : ""}`)

      runner.child.kill("SIGTERM")
      const stopped = yield* runner.exit
      assert.strictEqual(stopped.code, 0, stopped.stderr)
    }), 120_000)
})
