import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Resources from "@vppkit/core/Resources"
import * as FleetKey from "@vppkit/fleet/FleetKey"
import * as TokenStore from "@vppkit/fleet/TokenStore"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freshDatabase, serverUrl } from "../../node/test/support/postgres.js"
import { compare } from "../../sync/test/support/store.js"
import { temporaryDirectory } from "./helpers/cli.js"
import { assertBuilt, assertFailure, run, type Running, start } from "./support/bin.js"

/**
 * `vppkit fleet run` on many runners (PostgreSQL): the built CLI's runners on loopback share one database (a
 * database of the test's own: the cluster's shard locks are advisory locks of the database), 30 locations (6 of
 * them with two tokens of their library) served by simulators with random faults behind one base URL per runner
 * (so each request is known to come from its runner). 3 runners sync every location to equality; one is killed
 * (`kill -9`) in the middle of syncs and its locations finish on the others; a 4th runner joins and takes shards
 * over; one runner's PostgreSQL sessions are terminated in the middle of syncs; each time every location reaches
 * equality with its simulator again. Throughout, no location is ever synced by two runners at once (the requests
 * each runner sent for it never overlap, nor interleave) and no library has more than 5 requests in flight.
 */

const locations = 30
/** Every 5th library has a second token (one location, two tokens). */
const tokensOf = (i: number) => (i % 5 === 0 ? 2 : 1)

const faults: ReadonlyArray<Simulator.Fault> = [
  { _tag: "RateLimited", retryAfter: { seconds: 0 } },
  { _tag: "Unavailable", retryAfter: { seconds: 0 } },
  { _tag: "InternalError" },
  { _tag: "BadGateway" },
  { _tag: "MalformedJson" },
  { _tag: "ConnectionReset" },
  { _tag: "ZeroRecordBatch" }
]

const settingsOf = (i: number): Simulator.Settings => ({
  seed: 900 + i,
  orgName: `School ${i}`,
  tokens: tokensOf(i),
  pageSize: 25,
  latency: "10 millis",
  records: { assets: 2, users: 8, assignments: 24 },
  subscriptions: { subscriptions: 2, assignments: 4, admins: 1 },
  randomFaults: { probability: 0.04, faults }
})

/** One request as a runner's base URL saw it: which runner, which location, when it began and ended. */
interface Seen {
  readonly runner: number
  readonly location: number
  readonly path: string
  readonly begin: number
  end: number
}

const isData = (seen: Seen) => !seen.path.endsWith("/config")

describe("vppkit fleet run --listen/--advertise", () => {
  it.live("bad values, bad schedules and SQLite are usage errors: one line, exit 2, before any database is opened", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const pg = "postgres://nobody@127.0.0.1:1/none"
      for (
        const [args, pattern] of [
          [["--db", pg, "--listen", "nowhere"], /--listen "nowhere": expected HOST:PORT/],
          [["--db", pg, "--listen", "127.0.0.1:70000"], /--listen "127.0.0.1:70000"/],
          [["--db", pg, "--advertise", ":34431"], /--advertise ":34431": expected HOST:PORT.*other machines reach/],
          [["--db", pg, "--advertise", "runner1:0"], /--advertise "runner1:0"/],
          [["--db", "fleet.sqlite", "--listen", "127.0.0.1:0"], /--listen needs a PostgreSQL --db/]
        ] as const
      ) {
        assert.match(assertFailure(yield* run(["fleet", "run", ...args]), 2, args), pattern)
      }
      // the schedule's flags, on SQLite: the database is not created
      const sqliteFile = path.join(os.tmpdir(), `vppkit-fleet-flags-${crypto.randomBytes(6).toString("hex")}.sqlite`)
      for (
        const [args, pattern] of [
          [["--every", "90"], /^vppkit: fleet run: --every must be whole minutes from 1 to 59, or a multiple of 60 up to 1440, not 90$/],
          [["--full-cron", "0 25 * * *"], /^vppkit: fleet run: the cron expression "0 25 \* \* \*" \(--full-cron\) is invalid/],
          [["--full-window", "0"], /^vppkit: fleet run: the full pass's window in minutes \(--full-window\) must be a whole number from 1 to 1440, not 0$/],
          [["--incremental-concurrency", "0"], /\(--incremental-concurrency\) must be a whole number from 1 to 10000, not 0$/],
          [["--full-concurrency", "-2"], /\(--full-concurrency\) must be a whole number from 1 to 10000, not -2$/]
        ] as const
      ) {
        const stderr = assertFailure(yield* run(["fleet", "run", "--db", sqliteFile, ...args]), 2, args)
        assert.match(stderr.trim(), pattern)
      }
      assert.isFalse(fs.existsSync(sqliteFile))
    }), 60_000)
})

describe.skipIf(serverUrl === undefined)("vppkit fleet run: many runners on one PostgreSQL database", () => {
  it.scopedLive("3 runners, 30 locations with faults: kill -9 of one, a 4th joining, one's sessions terminated — equality each time, never two syncs of a location at once", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const db = yield* Effect.orDie(freshDatabase(serverUrl!))
      const directory = yield* temporaryDirectory
      const key = crypto.randomBytes(32)
      const keyFile = path.join(directory, "fleet.key")
      fs.writeFileSync(keyFile, key, { mode: 0o600 })
      const database = NodeDatabase.layer(db)

      const simulators = yield* Effect.forEach(Array.from({ length: locations }, (_, i) => i), (i) => Simulator.make(settingsOf(i)))
      const byToken = new Map<string, number>()
      simulators.forEach((s, i) => s.tokens.forEach((t) => byToken.set(Redacted.value(t.value), i)))
      const uIds = yield* Effect.forEach(simulators, (simulator) =>
        Effect.map(
          simulator.handle({
            method: "GET",
            path: "/v2/client/config",
            query: new URLSearchParams(),
            headers: { authorization: `Bearer ${Redacted.value(simulator.token.value)}` },
            body: ""
          }),
          (response) => {
            // a random fault may meet it: asked again
            if (response.status !== 200) throw new Error(`status ${response.status}`)
            return String((JSON.parse(response.body) as { readonly uId: string }).uId)
          }
        ).pipe(Effect.catchAllDefect((defect) => Effect.fail(defect)), Effect.retry({ times: 20 }), Effect.orDie))
      assert.strictEqual(new Set(uIds).size, locations)
      for (const simulator of simulators) yield* simulator.clearLog

      // every request, as the base URL of the runner that sent it saw it
      const seen: Array<Seen> = []
      const routed = (runner: number): Simulator.Service => ({
        ...simulators[0]!,
        handle: (request) =>
          Effect.suspend(() => {
            const auth = String(request.headers["authorization"] ?? "")
            const token = auth.startsWith("Bearer ") ? auth.slice("Bearer ".length) : undefined
            let location = token === undefined ? undefined : byToken.get(token)
            if (location === undefined) {
              for (const [text, i] of byToken) if (request.body.includes(text)) location = i
            }
            const entry: Seen = { runner, location: location ?? -1, path: request.path, begin: performance.now(), end: Infinity }
            seen.push(entry)
            return (simulators[location ?? 0]!).handle(request).pipe(Effect.ensuring(Effect.sync(() => entry.end = performance.now())))
          })
      })

      // the tokens, stored as `fleet add` stores them (the command itself is tested in fleet.test.ts)
      const addTokens = Effect.gen(function*() {
        const store = yield* TokenStore.TokenStore
        for (const [i, simulator] of simulators.entries()) {
          for (const [j, token] of simulator.tokens.entries()) {
            yield* store.add({ token: token.value, name: `school-${i}${j === 0 ? "" : `-${j + 1}`}`, uId: uIds[i]! })
          }
        }
      }).pipe(
        Effect.provide(TokenStore.layer.pipe(Layer.provideMerge(Layer.merge(database, FleetKey.layer(key))))),
        Effect.scoped,
        Effect.orDie
      )

      const env = {
        VPPKIT_FLEET_KEY_FILE: keyFile,
        VPPKIT_FLEET_POLL_MILLIS: "200",
        VPPKIT_FLEET_INCREMENTAL_CRON: "*/2 * * * * *"
      }
      const runners: Array<{ readonly running: Running; readonly name: string; readonly index: number }> = []
      let launched = 0
      /** Starts a runner (its own base URL, so its requests are known as its own) and waits until it has joined. */
      const startRunner = Effect.suspend(() => {
        const index = launched++
        return Effect.gen(function*() {
          const server = yield* Effect.orDie(SimulatorServer.serve(routed(index)))
          const running = yield* start(["fleet", "run", "--db", db, "--base-url", server.baseUrl, "--listen", "127.0.0.1:0"], { env })
          for (let i = 0;; i++) {
            const { stderr } = yield* running.output
            const joined = /fleet (runner 127\.0\.0\.1:\d+) joined the cluster/.exec(stderr)
            if (joined !== null) {
              runners[index] = { running, name: `vppkit fleet ${joined[1]}`, index }
              return
            }
            if (running.child.exitCode !== null || i > 1500) assert.fail(`runner ${index} did not join: ${stderr}`)
            yield* Effect.sleep("20 millis")
          }
        })
      })

      const inDatabase = <A, E>(body: Effect.Effect<A, E, SqlClient.SqlClient | SyncStore.SyncStore>) =>
        Effect.orDie(Effect.scoped(Effect.provide(body, SqlSyncStore.layer.pipe(Layer.provideMerge(database)))))

      /** Waits until every location's last run is a success that started after `since` (ISO), then checks equality. */
      const allSyncedSince = (since: string, what: string) =>
        Effect.gen(function*() {
          for (let i = 0;; i++) {
            const rows = yield* inDatabase(Effect.flatMap(SqlClient.SqlClient, (sql) =>
              sql<{ readonly uid: string }>`SELECT uid FROM vppkit_fleet_outcomes WHERE result = 'synced' AND started_at > ${since}`))
            if (rows.length === locations) break
            for (const { index, running } of runners) {
              if (running.child.exitCode !== null && running.child.signalCode === null) {
                assert.fail(`runner ${index} ended: ${(yield* running.output).stderr}`)
              }
            }
            if (i > 900) {
              const stderr = (yield* Effect.forEach(runners, (r) => r.running.output)).map((o) => o.stderr.slice(-2000)).join("\n---\n")
              assert.fail(`${what}: ${rows.length} of ${locations} locations synced after ${since} within 90 s\n${stderr}`)
            }
            yield* Effect.sleep("100 millis")
          }
          yield* inDatabase(Effect.forEach([...simulators.entries()], ([i, simulator]) =>
            Effect.gen(function*() {
              for (const resource of Resources.all) {
                const { different, extra, missing, server } = yield* compare(simulator, resource).pipe(SyncStore.forLocation(uIds[i]!))
                assert.isAbove(server.size, 0, `${resource.name}: the server has no records; the test proves nothing`)
                assert.deepStrictEqual({ missing, extra, different }, { missing: [], extra: [], different: [] }, `${what}: location ${i} ${resource.name}`)
              }
            }), { concurrency: 6, discard: true }))
        })

      /** Waits until `runner` has a data request in flight; answers the locations it is syncing. */
      const midSync = (runner: number) =>
        Effect.gen(function*() {
          for (let i = 0;; i++) {
            const now = performance.now()
            const busy = seen.filter((s) => s.runner === runner && isData(s) && (s.end === Infinity || now - s.end < 5))
            if (busy.length > 0) return new Set(busy.map((s) => s.location))
            if (i > 6000) assert.fail(`runner ${runner} synced nothing for 30 s`)
            yield* Effect.sleep("5 millis")
          }
        })

      const churn = Effect.forEach(simulators, (simulator) =>
        Effect.zipRight(
          simulator.churn("assignments", { inserts: 2, updates: 2 }),
          simulator.churn("users", { inserts: 1, updates: 1 })
        ), { discard: true })
      const isoNow = () => new Date().toISOString()

      // 1. three runners: every location synced to equality, the locations spread over them (the tokens are stored
      // once all three have joined, so the first syncs are not handed from one to the next as they join)
      yield* Effect.all([startRunner, startRunner, startRunner], { concurrency: "unbounded", discard: true })
      const t0 = isoNow()
      yield* addTokens
      yield* allSyncedSince(t0, "three runners")
      const spread = new Set(seen.filter(isData).map((s) => s.runner))
      assert.deepStrictEqual([...spread].sort(), [0, 1, 2], "each runner synced locations of its own")

      // 2. kill -9 of runner 0 in the middle of syncs: its locations finish on the others
      yield* churn
      const doomed = yield* midSync(0)
      runners[0]!.running.child.kill("SIGKILL")
      const killedAt = performance.now()
      const t1 = isoNow()
      assert.strictEqual((yield* runners[0]!.running.exit).signal, "SIGKILL")
      yield* allSyncedSince(t1, "after kill -9 of runner 0")
      for (const location of doomed) {
        assert.isTrue(
          seen.some((s) => s.location === location && s.runner !== 0 && isData(s) && s.begin > killedAt),
          `location ${location}, in the middle of its sync on runner 0, synced by another`
        )
      }

      // 3. a 4th runner joins: it takes shards over (it syncs locations the others then leave to it)
      const joinedAt = performance.now()
      yield* startRunner
      yield* allSyncedSince(isoNow(), "after runner 3 joined")
      for (let i = 0; !seen.some((s) => s.runner === 3 && isData(s)); i++) {
        if (i > 3000) assert.fail("runner 3 synced nothing")
        yield* Effect.sleep("10 millis")
      }
      const takenOver = new Set(seen.filter((s) => s.runner === 3 && isData(s)).map((s) => s.location))
      assert.isAbove(takenOver.size, 0)
      assert.isBelow(takenOver.size, locations, "the 4th runner took some locations, not all")

      // 4. runner 1's PostgreSQL sessions terminated in the middle of syncs: the same outcome
      yield* churn
      yield* midSync(1)
      const terminated = yield* inDatabase(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        // (the sessions chosen first: PostgreSQL does not promise to test the name before calling a function of the same WHERE)
        sql<{ readonly pid: number }>`SELECT pid, pg_terminate_backend(pid) AS terminated FROM (SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = ${runners[1]!.name} AND pid <> pg_backend_pid() OFFSET 0) AS sessions`))
      assert.isAbove(terminated.length, 0, `sessions of ${runners[1]!.name}`)
      const t3 = isoNow()
      yield* allSyncedSince(t3, "after runner 1's sessions were terminated")
      assert.isNull(runners[1]!.running.child.exitCode, "runner 1 lives on")

      // SIGTERM: each runner left stops cleanly
      for (const { running } of runners.slice(1)) running.child.kill("SIGTERM")
      for (const { index, running } of runners.slice(1)) {
        const exit = yield* running.exit
        assert.strictEqual(exit.code, 0, `runner ${index}: ${exit.stderr.slice(-2000)}`)
      }

      // never two syncs of a location at once: each runner's syncs of a location as windows, from a Client Config
      // request (a sync begins with one) to its last request before the next; the windows with a data request (a
      // sync that ran, not one refused at its location's lock) of two runners never overlap
      for (let location = 0; location < locations; location++) {
        const windows: Array<{ readonly runner: number; readonly begin: number; end: number; data: boolean }> = []
        for (let runner = 0; runner < runners.length; runner++) {
          let current: (typeof windows)[number] | undefined
          for (const request of seen.filter((s) => s.location === location && s.runner === runner).sort((a, b) => a.begin - b.begin)) {
            if (current === undefined || request.path.endsWith("/client/config")) {
              current = { runner, begin: request.begin, end: request.end, data: isData(request) }
              windows.push(current)
            } else {
              current.end = Math.max(current.end, request.end)
              current.data ||= isData(request)
            }
          }
        }
        const syncs = windows.filter((w) => w.data).sort((a, b) => a.begin - b.begin)
        for (let i = 0; i < syncs.length; i++) {
          for (let j = i + 1; j < syncs.length && syncs[j]!.begin < syncs[i]!.end; j++) {
            assert.strictEqual(syncs[j]!.runner, syncs[i]!.runner, `location ${location}: synced by runners ${syncs[i]!.runner} and ${syncs[j]!.runner} at once`)
          }
        }
      }
      for (const [i, simulator] of simulators.entries()) assert.isAtMost(yield* simulator.maxInFlight, 5, `location ${i}`)
      assert.isAbove(seen.filter((s) => s.begin > joinedAt && s.runner !== 3).length, 0)
    }), 240_000)
})
