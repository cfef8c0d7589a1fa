import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { postgres, serverUrl, TestDatabase } from "../../node/test/support/postgres.js"
import * as Resources from "../src/Resources.js"
import { serve, writeToken } from "./helpers/cli.js"
import { assertBuilt, assertFailure, type Exit, run, start } from "./support/bin.js"
import { compare } from "./support/store.js"

/**
 * Many locations in one PostgreSQL database, end to end: the built `vppkit sync` syncs three simulated locations
 * into one database — two tokens of one library (North) and another library (South) — with faults and writes
 * happening on the servers while the syncs run, two locations at once (one of them in the middle of a resource's
 * transaction), a second token of a library refused while the first one syncs, a run killed (`kill -9`) in the
 * middle of a walk, another killed under traffic, and reruns.
 * Then, the writes stopped, a last sync of each token: every location's partition equals its server, the library
 * of two tokens is in the database once (one location, its two tokens' fingerprints, each row once), and no
 * lock or session of a sync is left. Runs when VPPKIT_TEST_PG_URL or CI names a server.
 */

/** Faults the client's retries absorb, none with a pause of a second (the run stays short). */
const faults: ReadonlyArray<Simulator.Fault> = [
  { _tag: "RateLimited", retryAfter: { seconds: 0 } },
  { _tag: "Unavailable", retryAfter: { seconds: 0 } },
  { _tag: "InternalError" },
  { _tag: "BadGateway" },
  { _tag: "GatewayTimeout" },
  { _tag: "MalformedJson" },
  { _tag: "ConnectionReset" },
  { _tag: "TokenlessResponse" },
  { _tag: "ZeroRecordBatch" }
]

const common = {
  pageSize: 25,
  randomFaults: { probability: 0.06, faults },
  // Writes between the requests of the runs: inserts, updates and deletes, so pages shift under the walks.
  churn: { every: 10, resources: ["assignments", "users", "subscriptions"], inserts: 1, updates: 1, deletes: 1 }
} satisfies Simulator.Settings

/** One library with two sTokens (an administrator downloaded a second one). */
const north: Simulator.Settings = {
  ...common,
  seed: 71,
  orgName: "North School",
  tokens: 2,
  records: { assets: 2, users: 50, assignments: 140 },
  subscriptions: { subscriptions: 6, assignments: 45, admins: 3 }
}

/** Another library. */
const south: Simulator.Settings = {
  ...common,
  seed: 72,
  orgName: "South School",
  records: { assets: 2, users: 40, assignments: 110 },
  subscriptions: { subscriptions: 5, assignments: 30, admins: 2 }
}

/** The database's store (and its client) for the body. */
const inDatabase = <A, E>(db: string, body: Effect.Effect<A, E, SqlClient.SqlClient | SyncStore.SyncStore>) =>
  Effect.scoped(Effect.provide(body, SqlSyncStore.layer.pipe(Layer.provideMerge(NodeDatabase.layer(db)))))

/** Requests for records (not the service's or the client's config) the simulator answered. */
const dataRequests = (simulator: Simulator.Service) =>
  Effect.map(simulator.log, (log) => log.filter((entry) => !entry.path.endsWith("/config")).length)

const assertOk = (exit: Exit, what: string) => assert.strictEqual(exit.code, 0, `${what}: exit ${exit.code} ${exit.signal}: ${exit.stderr}`)

/** The location's partition holds exactly its server's records, every resource. */
const assertSame = (simulator: Simulator.Service, name: string) =>
  Effect.gen(function*() {
    for (const resource of Resources.all) {
      const { different, extra, missing, server } = yield* compare(simulator, resource)
      assert.isAbove(server.size, 0, `${name} ${resource.name}`)
      assert.deepStrictEqual({ missing, extra, different }, { missing: [], extra: [], different: [] }, `${name} ${resource.name}`)
    }
  })

const count = (value: unknown) => Number(value)

describe.skipIf(serverUrl === undefined)("vppkit sync: many locations in one PostgreSQL database", () => {
  layer(serverUrl === undefined ? postgres("postgres://unused@127.0.0.1/unused") : postgres(serverUrl), {
    excludeTestServices: true
  })((it) => {
    it.scoped("two tokens of one library and another library, with faults, writes, kill -9 and reruns: each partition equals its server, the library once", () =>
      Effect.gen(function*() {
        yield* assertBuilt
        const db = yield* (yield* TestDatabase).fresh
        const a = yield* serve(north)
        const b = yield* serve(south)
        assert.strictEqual(a.simulator.tokens.length, 2)
        const secondToken = writeToken(a.directory, a.simulator.tokens[1]!.value, "second.vpptoken")
        // Apple's default rate (15 requests per second) would make the walks slow: the loopback takes more.
        const sync = ["sync", "-q", "--db", db, "--max-requests-per-second", "500"]
        const first = [...sync, ...a.connect]
        const second = [...sync, "--token-file", secondToken, "--base-url", a.server.baseUrl]
        const other = [...sync, ...b.connect]

        // 1. North's first token. Its run stalls on purpose in the middle of a walk (subscription assignments, a
        // cursor walk: nothing else in flight; its first page written in the resource's open transaction), holding
        // its location's lock.
        yield* a.simulator.inject({ _tag: "Stall" }, { path: "/v2/subscriptions/assignments", skip: 1 })
        let northUId = ""
        yield* Effect.scoped(Effect.gen(function*() {
          const stalled = yield* start(first)
          while (!(yield* a.simulator.log).some((entry) => entry.path === "/v2/subscriptions/assignments")) {
            if (stalled.child.exitCode !== null) assert.fail(`North's first run ended: ${(yield* stalled.exit).stderr}`)
            yield* Effect.sleep("5 millis")
          }
          yield* Effect.sleep("150 millis")
          const before = yield* dataRequests(a.simulator)

          // 2. Meanwhile, at once: North's second token — the same location, so it is refused at once (6), naming
          // it — and South, another library: its first run (which makes nothing the database has, and takes no lock
          // of a table North writes in) ends while North's is still stalled in its transaction. Before, it waited
          // for North's transaction (CREATE INDEX IF NOT EXISTS of an existing index).
          const [refused, southFirst] = yield* Effect.all([
            run(second).pipe(
              Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("the second token's run did not exit within 15 s") })
            ),
            run(other).pipe(
              Effect.timeoutFail({
                duration: "45 seconds",
                onTimeout: () => new Error("South's first run did not end while North's was in the middle of a resource")
              })
            )
          ], { concurrency: 2 }).pipe(Effect.orDie)
          const line = assertFailure(refused, 6, second)
          const match = /^vppkit: another vppkit sync of location uId (\d+) is running on (.+) \(pid (\d+) on .+\): wait for it to finish, or stop it$/
            .exec(line)
          assert.isNotNull(match, line)
          northUId = match![1]!
          assert.strictEqual(match![2], NodeDatabase.describe(db))
          assert.strictEqual(Number(match![3]), stalled.child.pid)
          assertOk(southFirst, "South's first run")
          assert.isNull(stalled.child.exitCode, "North's first run is still running")
          assert.strictEqual(yield* dataRequests(a.simulator), before, "North's first run is still stalled; the refused run sent no data request")

          // 3. kill -9 in the middle of the walk: the server ends the session, its transaction and its lock.
          stalled.child.kill("SIGKILL")
          const killed = yield* stalled.exit
          assert.strictEqual(killed.signal, "SIGKILL")
        }))

        // 4. North's rerun with its second token (continuing the location's partition and checkpoints), and at once
        // South's second run, killed under traffic a few requests in, then rerun.
        yield* Effect.all([
          Effect.map(run(second), (exit) => assertOk(exit, "North's rerun (second token)")),
          Effect.gen(function*() {
            const killed = yield* Effect.scoped(Effect.gen(function*() {
              const before = yield* dataRequests(b.simulator)
              const running = yield* start(other)
              while ((yield* dataRequests(b.simulator)) - before < 4) {
                if (running.child.exitCode !== null) assert.fail(`South's second run ended: ${(yield* running.exit).stderr}`)
                yield* Effect.sleep("2 millis")
              }
              running.child.kill("SIGKILL")
              return yield* running.exit
            }))
            assert.strictEqual(killed.signal, "SIGKILL", killed.stderr)
            assertOk(yield* run(other), "South's rerun")
          })
        ], { concurrency: 2 })

        // 5. The writes stop; a last full sync of each location at once, then North's second token (incremental:
        // nothing changed since).
        yield* a.simulator.setChurn(undefined)
        yield* b.simulator.setChurn(undefined)
        yield* Effect.all([
          Effect.gen(function*() {
            assertOk(yield* run([...first, "--full"]), "North's last full sync")
            assertOk(yield* run(second), "North's last sync (second token)")
          }),
          Effect.map(run([...other, "--full"]), (exit) => assertOk(exit, "South's last full sync"))
        ], { concurrency: 2 })
        for (const simulator of [a.simulator, b.simulator]) {
          const log = yield* simulator.log
          assert.isAbove(log.filter((entry) => entry.fault !== undefined).length, 0, "no fault was met: the test proves nothing")
        }

        yield* inDatabase(db, Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          // Two locations: North with its two tokens' fingerprints, South with one.
          const locations = yield* SyncStore.locations
          assert.deepStrictEqual(
            locations.map((location) => ({ orgName: location.orgName, tokens: location.tokens, resources: location.resources.length }))
              .sort((x, y) => x.orgName < y.orgName ? -1 : 1),
            [
              { orgName: "North School", tokens: 2, resources: Resources.all.length },
              { orgName: "South School", tokens: 1, resources: Resources.all.length }
            ]
          )
          const southUId = locations.find((location) => location.orgName === "South School")!.uId
          assert.strictEqual(locations.find((location) => location.orgName === "North School")!.uId, northUId)
          const tokens = yield* sql<{ readonly uid: string; readonly n: unknown }>`SELECT ${sql("uid")}, COUNT(*) AS ${sql("n")} FROM ${
            sql(SqlSyncStore.locationTokensTable)
          } GROUP BY ${sql("uid")} ORDER BY ${sql("uid")}`
          assert.deepStrictEqual(
            tokens.map((row) => [row.uid, count(row.n)]),
            [[northUId, 2], [southUId, 1]].sort((x, y) => String(x[0]) < String(y[0]) ? -1 : 1)
          )

          // Each partition equals its server.
          yield* assertSame(a.simulator, "North").pipe(SyncStore.forLocation(northUId))
          yield* assertSame(b.simulator, "South").pipe(SyncStore.forLocation(southUId))

          // Every row in the database belongs to one of the two locations, once: the library of two tokens is
          // written once (as many rows as its server has records), and nothing is left unassigned.
          for (const resource of Resources.all) {
            const partitions = yield* sql<{ readonly uid: string; readonly n: unknown; readonly keys: unknown }>`SELECT ${
              sql(SqlSyncStore.locationColumn)
            } AS ${sql("uid")}, COUNT(*) AS ${sql("n")}, COUNT(DISTINCT ${sql(SqlSyncStore.keyColumn)}) AS ${sql("keys")} FROM ${
              sql(resource.table)
            } GROUP BY ${sql(SqlSyncStore.locationColumn)}`
            const expected = new Map([
              [northUId, (yield* a.simulator.recordsAsSynced(resource.descriptor)).length],
              [southUId, (yield* b.simulator.recordsAsSynced(resource.descriptor)).length]
            ])
            assert.deepStrictEqual(
              new Map(partitions.map((row) => [row.uid, count(row.n)])),
              expected,
              `${resource.name}: rows per location`
            )
            for (const row of partitions) assert.strictEqual(count(row.keys), count(row.n), `${resource.name}: a natural key twice in ${row.uid}`)
          }
          const states = yield* sql<{ readonly uid: string; readonly n: unknown }>`SELECT ${sql(SqlSyncStore.locationColumn)} AS ${
            sql("uid")
          }, COUNT(*) AS ${sql("n")} FROM ${sql(SqlSyncStore.stateTable)} GROUP BY ${sql(SqlSyncStore.locationColumn)}`
          assert.deepStrictEqual(
            new Map(states.map((row) => [row.uid, count(row.n)])),
            new Map([[northUId, Resources.all.length], [southUId, Resources.all.length]])
          )

          // No sToken in any table.
          const secrets = [...a.simulator.tokens, b.simulator.token].map((token) => Redacted.value(token.value))
          for (const table of [SqlSyncStore.locationsTable, SqlSyncStore.locationTokensTable, SqlSyncStore.stateTable, ...Resources.all.map((r) => r.table)]) {
            const text = JSON.stringify(yield* sql.unsafe(`SELECT * FROM "${table}"`))
            for (const secret of secrets) assert.notInclude(text, secret, table)
          }

          // No lock and no session of a sync is left (the server ends a session shortly after its client is gone).
          const leftover = sql<{ readonly locks: unknown; readonly sessions: unknown }>`SELECT
            (SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS ${
            sql("locks")
          },
            (SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'vppkit sync %') AS ${sql("sessions")}`
          let left = { locks: 0, sessions: 0 }
          for (let attempt = 0; attempt < 100; attempt++) {
            const [row] = yield* leftover
            left = { locks: count(row!.locks), sessions: count(row!.sessions) }
            if (left.locks === 0 && left.sessions === 0) break
            yield* Effect.sleep("50 millis")
          }
          assert.deepStrictEqual(left, { locks: 0, sessions: 0 })
        }))
      }), { timeout: 120_000 })

    it.scoped("three libraries' first syncs into one new database at once: every one ends, the migrations ran once, each partition equals its server", () =>
      Effect.gen(function*() {
        yield* assertBuilt
        const db = yield* (yield* TestDatabase).fresh
        const small = { pageSize: 25, records: { assets: 1, users: 8, assignments: 20 }, subscriptions: { subscriptions: 2, assignments: 4, admins: 1 } }
        const served = yield* Effect.all([81, 82, 83].map((seed) => serve({ ...small, seed, orgName: `School ${seed}` })))
        // Three processes open the new database together: migrations and tables raced for (advisory locks).
        const exits = yield* Effect.all(
          served.map((s) => run(["sync", "-q", "--db", db, "--max-requests-per-second", "500", ...s.connect])),
          { concurrency: "unbounded" }
        )
        exits.forEach((exit, i) => assertOk(exit, `School ${81 + i}`))
        yield* inDatabase(db, Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          assert.deepStrictEqual(yield* sql`SELECT ${sql("migration_id")}, ${sql("name")} FROM ${sql(SqlSyncStore.migrationsTable)} ORDER BY 1`, [
            { migration_id: 1, name: "sync_state" },
            { migration_id: 2, name: "locations" }
          ])
          const locations = yield* SyncStore.locations
          assert.deepStrictEqual(locations.map((location) => location.orgName).sort(), ["School 81", "School 82", "School 83"])
          for (const [i, s] of served.entries()) {
            const uId = locations.find((location) => location.orgName === `School ${81 + i}`)!.uId
            yield* assertSame(s.simulator, `School ${81 + i}`).pipe(SyncStore.forLocation(uId))
          }
        }))
      }))
  })
})
