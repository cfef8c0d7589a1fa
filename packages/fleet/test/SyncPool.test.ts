import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, layer } from "@effect/vitest"
import * as Resources from "@vppkit/core/Resources"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as Sync from "@vppkit/sync/Sync"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import { postgres, serverUrl, TestDatabase } from "../../node/test/support/postgres.js"

/**
 * A runner syncs many locations at once into one PostgreSQL database through one pool: each sync holds its
 * location's lock (a session advisory lock) for its length. With a pool of 2 connections, 2 syncs hold their locks
 * at once and a third waits: each must write on its lock's connection — were the lock on a connection of its own,
 * the two holders would wait forever for a third connection to write with (the test would hang).
 */

const settingsOf = (seed: number): Simulator.Settings => ({ seed, pageSize: 20, records: { assets: 4, users: 20, assignments: 30 } })

const resources = [Resources.byName("assets")!, Resources.byName("users")!, Resources.byName("assignments")!]

describe.skipIf(serverUrl === undefined)("Sync.run of many locations on a small PostgreSQL pool", () => {
  layer(serverUrl === undefined ? postgres("postgres://unused@127.0.0.1/unused") : postgres(serverUrl), {
    excludeTestServices: true
  })((it) => {
    it.scoped("3 locations at once on a pool of 2: two hold their locks together, all three complete", () =>
      Effect.gen(function*() {
        const url = yield* (yield* TestDatabase).fresh
        const store = yield* Layer.build(
          SqlSyncStore.layer.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })))
        )
        // the first two syncs to lock their location wait for each other before they write anything
        const arrived = yield* Ref.make(0)
        const both = yield* Deferred.make<void>()
        const onLocation = () =>
          Effect.gen(function*() {
            const n = yield* Ref.updateAndGet(arrived, (n) => n + 1)
            if (n === 2) yield* Deferred.succeed(both, undefined)
            if (n <= 2) yield* Deferred.await(both)
          })
        const syncs = yield* Effect.all(
          [1, 2, 3].map((seed) =>
            Sync.run({ resources, onLocation }).pipe(
              Effect.provide(Simulator.layerTest(settingsOf(seed), { retry: { baseDelay: 0 }, rateLimitPause: 0 })),
              Effect.provide(store)
            )
          ),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(yield* Ref.get(arrived), 3)
        const locations = syncs.map((summaries) => summaries[0]!.location)
        assert.strictEqual(new Set(locations).size, 3)
        for (const summaries of syncs) {
          assert.deepStrictEqual(summaries.map((s) => s.resource), resources.map((r) => r.name))
          for (const summary of summaries) assert.isAbove(summary.rows, 0)
        }
      }))
  })
})
