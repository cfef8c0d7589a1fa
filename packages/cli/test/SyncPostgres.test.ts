import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it, layer } from "@effect/vitest"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as os from "node:os"
import { serverUrl, TestDatabase, postgres } from "../../node/test/support/postgres.js"
import * as Resources from "../src/Resources.js"
import { serve } from "./helpers/cli.js"
import { assertBuilt, assertFailure, run, start } from "./support/bin.js"
import { compare, inOnlyLocation } from "./support/store.js"

/**
 * The built `vppkit sync` into PostgreSQL (`--db postgres://…`, `VPPKIT_DB`), as child processes against the
 * simulator served on loopback: the same database as SQLite's, one sync at a time (an advisory lock), and one
 * line for a database that cannot be reached. Runs when VPPKIT_TEST_PG_URL or CI names a server.
 */

const settings: Simulator.Settings = { seed: 61, pageSize: 50, records: { assets: 3, users: 40, assignments: 150 } }

const inDatabase = <A, E>(db: string, body: Effect.Effect<A, E, SqlClient.SqlClient | SyncStore.SyncStore>) =>
  Effect.scoped(Effect.provide(inOnlyLocation(body), SqlSyncStore.layer.pipe(Layer.provideMerge(NodeDatabase.layer(db)))))

/** The database's client and sync store, scoped to the location `uId`. */
const inLocation = <A, E>(db: string, uId: string, body: Effect.Effect<A, E, SqlClient.SqlClient | SyncStore.SyncStore>) =>
  Effect.scoped(Effect.provide(body.pipe(SyncStore.forLocation(uId)), SqlSyncStore.layer.pipe(Layer.provideMerge(NodeDatabase.layer(db)))))

const assertAllSame = (simulator: Simulator.Service) =>
  Effect.gen(function*() {
    for (const resource of Resources.all) {
      const { different, extra, missing, server } = yield* compare(simulator, resource)
      assert.isAbove(server.size, 0, resource.name)
      assert.deepStrictEqual({ missing, extra, different }, { missing: [], extra: [], different: [] }, resource.name)
    }
  })

/** Requests for records (not the token's config) the simulator answered. */
const dataRequests = (simulator: Simulator.Service) =>
  Effect.map(simulator.log, (log) => log.filter((entry) => !entry.path.includes("config")).length)

describe.skipIf(serverUrl === undefined)("vppkit sync --db postgres://…", () => {
  layer(serverUrl === undefined ? postgres("postgres://unused@127.0.0.1/unused") : postgres(serverUrl), {
    excludeTestServices: true
  })((it) => {
    it.scoped("syncs into PostgreSQL like into SQLite; VPPKIT_DB names the database, --db wins over it", () =>
      Effect.gen(function*() {
        yield* assertBuilt
        const db = yield* (yield* TestDatabase).fresh
        const served = yield* serve(settings)
        const first = yield* run(["sync", "-q", "--json", "--db", db, ...served.connect])
        assert.strictEqual(first.code, 0, first.stderr)
        const summary = JSON.parse(first.stdout) as { readonly db: string; readonly resources: ReadonlyArray<{ mode: string }> }
        assert.strictEqual(summary.db, NodeDatabase.describe(db))
        assert.isTrue(summary.resources.every((resource) => resource.mode === "full"))
        yield* inDatabase(db, assertAllSame(served.simulator))

        // VPPKIT_DB: the same database, so the next run is incremental where the API allows.
        yield* served.simulator.churn("assignments", { inserts: 5, updates: 5, deletes: 3 })
        const second = yield* run(["sync", "-q", "--json", ...served.connect], { env: { VPPKIT_DB: db } })
        assert.strictEqual(second.code, 0, second.stderr)
        const modes = (JSON.parse(second.stdout) as { readonly resources: ReadonlyArray<{ resource: string; mode: string }> })
          .resources
        assert.strictEqual(modes.find((resource) => resource.resource === "assignments")?.mode, "incremental")

        // --db wins over VPPKIT_DB (which names a server that is not there).
        const third = yield* run(["sync", "-q", "--full", "--db", db, ...served.connect], {
          env: { VPPKIT_DB: "postgres://nobody@127.0.0.1:1/none" }
        })
        assert.strictEqual(third.code, 0, third.stderr)
        yield* inDatabase(db, assertAllSame(served.simulator))
      }), 90_000) // three syncs by the built CLI (and their start-ups): past 30 s on a loaded 2-core machine

    it.scoped("a second sync of the same location exits at once (6) naming the running one, another location syncs meanwhile; a killed one leaves no lock", () =>
      Effect.gen(function*() {
        yield* assertBuilt
        const db = yield* (yield* TestDatabase).fresh
        const served = yield* serve(settings)
        const { simulator } = served
        // Subscription assignments never answer the first run: it is still running while the second one starts.
        yield* simulator.inject({ _tag: "Stall" }, { path: "/v2/subscriptions/assignments" })
        const args = ["sync", "--db", db, ...served.connect]
        let uId = ""
        let otherUId = ""
        let otherSimulator: Simulator.Service | undefined
        yield* Effect.scoped(Effect.gen(function*() {
          const first = yield* start(args)
          const startedAt = Date.now()
          while (!(yield* simulator.log).some((entry) => entry.path === "/v2/subscriptions")) yield* Effect.sleep("5 millis")
          yield* Effect.sleep("150 millis")
          const requests = yield* dataRequests(simulator)
          const second = yield* run(args).pipe(
            Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the second run did not exit within 10 s") }),
            Effect.orDie
          )
          const line = assertFailure(second, 6, args)
          const match =
            /^vppkit: another vppkit sync of location uId (\d+) is running on (.+) \(pid (\d+) on (.+), started at (\S+)\): wait for it to finish, or stop it$/
              .exec(line)
          assert.isNotNull(match, line)
          assert.match(match![1]!, /^\d+$/)
          uId = match![1]!
          assert.strictEqual(match![2], NodeDatabase.describe(db))
          assert.strictEqual(Number(match![3]), first.child.pid)
          assert.strictEqual(match![4], os.hostname())
          assert.approximately(Date.parse(match![5]!), startedAt, 10_000)
          assert.strictEqual(yield* dataRequests(simulator), requests, "the second run sent no data request")

          // Another location syncs into the same database meanwhile.
          const other = yield* serve({ ...settings, seed: 62, orgName: "Other School" })
          const third = yield* run(["sync", "-q", "--db", db, ...other.connect])
          assert.strictEqual(third.code, 0, third.stderr)
          otherSimulator = other.simulator
          otherUId = (yield* inLocation(db, uId, SyncStore.locations)).find((location) => location.uId !== uId)!.uId

          // kill -9 ends the session, and the server releases the lock with it.
          first.child.kill("SIGKILL")
          yield* first.exit
        }))
        const next = yield* run(["sync", "-q", "--db", db, ...served.connect])
        assert.strictEqual(next.code, 0, next.stderr)
        yield* inLocation(db, uId, assertAllSame(simulator))
        yield* inLocation(db, otherUId, assertAllSame(otherSimulator!))
        // A run that ends leaves no lock behind.
        const locks = yield* inLocation(
          db,
          uId,
          Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly n: number }>`SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
        )
        assert.strictEqual(locks[0]!.n, 0)
      }), 90_000)
  })
})

// No server needed: these run everywhere.
describe("vppkit sync --db postgres://… without a server", () => {
  it.scopedLive("a server that is not there, or a malformed URL: one line, the exit code, never the password", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const served = yield* serve(settings)
      const unreachable = ["sync", "--db", "postgres://vpp:hunter2@127.0.0.1:1/vpp", ...served.connect]
      const refused = yield* run(unreachable)
      assert.strictEqual(
        assertFailure(refused, 1, unreachable),
        "vppkit: cannot open the database postgres://vpp@127.0.0.1:1/vpp: connection refused (ECONNREFUSED 127.0.0.1:1): is PostgreSQL running there?"
      )
      const malformed = ["sync", "--db", "postgres://vpp:hunter2@[db/vpp", ...served.connect]
      assert.strictEqual(
        assertFailure(yield* run(malformed), 2, malformed),
        "vppkit: --db postgres://…: not a valid URL (expected postgres://user:password@host:port/database)"
      )
      assert.notInclude(refused.stderr + refused.stdout, "hunter2")
      assert.strictEqual((yield* served.simulator.log).length, 0, "no request before the database is open")
    }))
})
