import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Resources from "@vppkit/core/Resources"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as path from "node:path"
import { temporaryDirectory } from "./helpers/cli.js"
import { assertBuilt } from "./support/bin.js"
import { isData, isoNow, locations, makeFleet } from "./support/fleet.js"

/**
 * `vppkit fleet run` on SQLite: the same 30 locations as the cluster test (fleetCluster.test.ts; 6 of them with two
 * tokens of their library, simulators with random faults) synced by ONE process, a `SingleRunner` alone on the
 * file. On SQLite the syncs write one after another (one connection, held by each resource's transaction across
 * its requests, its retries' backoff and its rate limit's waits), so the simulators serve the same data faster than
 * the cluster test's: 2 ms a request, and pages of 100 records, which keep a location's first sync under the 15
 * requests a second of its token (with pages of 25 the legacy licenses alone take 20 requests, and each location
 * waits ~1 s for its rate in its transaction: 30 s for the first syncs of the fleet). Every location reaches equality with its simulator; the simulators' data changes and the changes arrive by
 * incremental syncs; the runner is killed (`kill -9`) in the middle of syncs, and what it leaves is whole (each
 * resource's rows as its committed `sync_state` counts them); a new runner on the same file brings every location
 * to equality again. No library ever has more than 5 requests in flight.
 */

interface OutcomeRow {
  readonly uid: string
  readonly full_sync: number
  readonly outcome: string
}

describe("vppkit fleet run: one process on a SQLite file", () => {
  it.scopedLive("30 locations with faults: equality, changes arrive incrementally, kill -9 mid-sync and a restart — nothing half-written, equality again", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const directory = yield* temporaryDirectory
      const db = path.join(directory, "fleet.sqlite")
      const { addTokens, allSyncedSince, churn, inDatabase, midSync, runners, seen, simulators, startRunner: startAny, uIds } =
        yield* makeFleet(db, directory, { latency: "2 millis", pageSize: 100 })
      // the full pass's window (4 hours from its cron) opens 12 hours from now: every scheduled sync of the test is
      // an incremental one (a location's first sync is full whatever is asked)
      const fullCron = `0 ${(new Date().getUTCHours() + 12) % 24} * * *`
      const startRunner = startAny(
        (baseUrl) => ["fleet", "run", "--db", db, "--base-url", baseUrl, "--full-cron", fullCron],
        /fleet running on /
      )

      // 1. every location synced to equality (its first sync: full)
      yield* addTokens
      const t0 = isoNow()
      yield* startRunner
      yield* allSyncedSince(t0, "first syncs")

      // 2. the simulators' data changes: it arrives by incremental syncs
      yield* churn
      const t1 = isoNow()
      yield* allSyncedSince(t1, "after the changes")
      const outcomes = yield* inDatabase(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<OutcomeRow>`SELECT uid, full_sync, outcome FROM vppkit_fleet_outcomes WHERE started_at > ${t1}`))
      assert.strictEqual(outcomes.length, locations)
      const withDelta = Resources.all.filter((resource) => resource.delta !== undefined).map((resource) => resource.name)
      assert.isAbove(withDelta.length, 0)
      for (const row of outcomes) {
        assert.strictEqual(row.full_sync, 0, `location ${row.uid}: an incremental sync`)
        const modes = (JSON.parse(row.outcome) as { readonly resources: ReadonlyArray<{ resource: string; mode: string }> })
          .resources.filter((resource) => withDelta.includes(resource.resource)).map((resource) => resource.mode)
        assert.deepStrictEqual(modes, withDelta.map(() => "incremental"), `location ${row.uid}`)
      }

      // 3. kill -9 in the middle of syncs of changed data: each resource of each location is as its last committed
      // pass left it (its rows as many as its sync_state counts), then a new runner brings every location to equality
      yield* churn
      const doomed = yield* midSync(0)
      runners[0]!.running.child.kill("SIGKILL")
      assert.strictEqual((yield* runners[0]!.running.exit).signal, "SIGKILL")
      assert.isAbove(doomed.size, 0)
      const integrity = yield* inDatabase(Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly integrity_check: string }>`PRAGMA integrity_check`))
      assert.deepStrictEqual(integrity.map((row) => row.integrity_check), ["ok"])
      yield* inDatabase(Effect.forEach(uIds, (uId, i) =>
        Effect.forEach(Resources.all, (resource) =>
          Effect.gen(function*() {
            const state = yield* SyncStore.readState(resource.name)
            const rows = yield* SyncStore.rows(resource)
            assert.isTrue(Option.isSome(state), `location ${i} ${resource.name}: synced before`)
            assert.strictEqual(rows.length, Option.getOrThrow(state).records, `location ${i} ${resource.name}: rows as committed`)
          }).pipe(SyncStore.forLocation(uId)), { discard: true }), { discard: true }))
      const t2 = isoNow()
      yield* startRunner
      yield* allSyncedSince(t2, "after kill -9 and a restart")
      for (const location of doomed) {
        assert.isTrue(
          seen.some((s) => s.runner === 1 && s.location === location && isData(s)),
          `location ${location}, in the middle of its sync when killed, synced by the new runner`
        )
      }

      // SIGTERM: the runner stops cleanly
      runners[1]!.running.child.kill("SIGTERM")
      const exit = yield* runners[1]!.running.exit
      assert.strictEqual(exit.code, 0, exit.stderr.slice(-2000))
      for (const [i, simulator] of simulators.entries()) assert.isAtMost(yield* simulator.maxInFlight, 5, `location ${i}`)
    }), 180_000)
})
