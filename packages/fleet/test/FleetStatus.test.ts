import { assert, describe, layer } from "@effect/vitest"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as FleetStatus from "../src/FleetStatus.js"
import { backends, TestDatabase } from "../../node/test/support/postgres.js"

/**
 * FleetStatus over SQLite and (with CI or VPPKIT_TEST_PG_URL) PostgreSQL: runs recorded and replaced per location,
 * failures in a row and the last success derived from the runs before, and the locations of the sync store merged
 * with the last runs.
 */

const run = (uId: string, result: "synced" | "failed", finishedAt: string): FleetStatus.Run => ({
  uId,
  full: result === "synced",
  result,
  startedAt: "2026-01-01T00:00:00.000Z",
  finishedAt,
  millis: 1234,
  records: result === "synced" ? 17 : 3,
  retries: 2,
  ...(result === "failed" ? { failure: { tag: "GaveUpError", message: "gave up after 3 attempts" } } : {}),
  outcome: { uId, result, resources: [{ resource: "assets", records: 3 }] }
})

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`FleetStatus (${backend.name})`, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.scoped("records each location's last run; counts failures in a row; keeps the last success; merges sync_state", () =>
        Effect.gen(function*() {
          const db = yield* (yield* TestDatabase).fresh
          yield* Effect.gen(function*() {
            const status = yield* FleetStatus.FleetStatus
            assert.deepStrictEqual(yield* status.locations, [])
            assert.isTrue(Option.isNone(yield* status.lastRun("100")))

            const synced = yield* status.record(run("100", "synced", "2026-01-01T00:01:00.000Z"))
            assert.strictEqual(synced.consecutiveFailures, 0)
            assert.strictEqual(synced.lastSuccessAt, "2026-01-01T00:01:00.000Z")
            yield* status.record(run("100", "failed", "2026-01-01T00:02:00.000Z"))
            const failed = yield* status.record(run("100", "failed", "2026-01-01T00:03:00.000Z"))
            assert.strictEqual(failed.consecutiveFailures, 2)
            assert.strictEqual(failed.lastSuccessAt, "2026-01-01T00:01:00.000Z")
            const stored = Option.getOrThrow(yield* status.lastRun("100"))
            assert.deepStrictEqual(stored, failed)
            assert.deepStrictEqual(stored.failure, { tag: "GaveUpError", message: "gave up after 3 attempts" })
            assert.deepStrictEqual(stored.outcome, run("100", "failed", "").outcome)
            assert.strictEqual(stored.full, false)
            assert.strictEqual(stored.millis, 1234)
            assert.isUndefined(stored.runner, "a run that names no runner")
            const again = yield* status.record({ ...run("100", "synced", "2026-01-01T00:04:00.000Z"), runner: "10.0.0.7:34431" })
            assert.strictEqual(again.consecutiveFailures, 0)
            assert.isUndefined(again.failure)
            assert.isUndefined(Option.getOrThrow(yield* status.lastRun("100")).failure)
            assert.strictEqual(Option.getOrThrow(yield* status.lastRun("100")).runner, "10.0.0.7:34431")

            // a location the sync store knows (synced by `vppkit sync`, say): its resources, no last run
            const store = yield* SyncStore.SyncStore
            yield* store.recordLocation({
              uId: "200",
              locationName: "Main",
              orgName: "Org",
              baseUrl: "https://example.test",
              tokenExpiresAt: "2027-01-01T00:00:00.000Z",
              fingerprint: "ab".repeat(32),
              seenAt: "2026-01-01T00:00:00.000Z"
            })
            yield* store.forLocation("200").writeState({
              resource: "assets",
              checkpointField: "versionId",
              checkpoint: "v1",
              consistency: "consistent",
              records: 5,
              lastFullSyncAt: "2026-01-01T00:00:00.000Z",
              lastSyncAt: "2026-01-01T00:00:00.000Z"
            })
            const all = yield* status.locations
            assert.deepStrictEqual(all.map((s) => s.uId), ["100", "200"])
            assert.deepStrictEqual(all[0]!.resources, [])
            assert.strictEqual(all[0]!.lastRun?.finishedAt, "2026-01-01T00:04:00.000Z")
            assert.strictEqual(all[1]!.locationName, "Main")
            assert.strictEqual(all[1]!.tokenExpiresAt, "2027-01-01T00:00:00.000Z")
            assert.deepStrictEqual(all[1]!.resources.map((r) => [r.resource, r.records, r.consistency]), [["assets", 5, "consistent"]])
            assert.isUndefined(all[1]!.lastRun)
            assert.deepStrictEqual(yield* status.location("200"), Option.some(all[1]!))
            assert.isTrue(Option.isNone(yield* status.location("300")))
          }).pipe(
            Effect.provide(
              Layer.merge(FleetStatus.layer, SqlSyncStore.layer).pipe(Layer.provideMerge(NodeDatabase.layer(db)))
            )
          )
        }))
    })
  })
}
