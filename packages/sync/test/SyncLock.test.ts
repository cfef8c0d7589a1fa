import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as Resources from "@vppkit/core/Resources"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as SqlSyncStore from "../src/SqlSyncStore.js"
import * as Sync from "../src/Sync.js"
import * as SyncStore from "../src/SyncStore.js"
import { backends, TestDatabase } from "../../node/test/support/postgres.js"

/**
 * The location's lock that `Sync.run` takes in the store (`SyncStore.withLocationLock`), whoever calls it: two runs of
 * one location at once in one process — the second fails at once with `LocationBusyError` naming the first, and
 * asks the server nothing but Client Config; once the first ends, the next run takes the lock. A run with `lockWait`
 * waits for the lock instead (released meanwhile: it syncs; held past the wait: `LocationBusyError`). SQLite and, with
 * CI or VPPKIT_TEST_PG_URL, PostgreSQL (a session advisory lock on a reserved connection).
 */

const settings: Simulator.Settings = { seed: 11, pageSize: 25, records: { assets: 4, users: 30, assignments: 40 } }

const resources = [Resources.byName("assets")!, Resources.byName("users")!]

const storeLayer = (db: string) => SqlSyncStore.layer.pipe(Layer.provideMerge(NodeDatabase.layer(db)))

const advisoryLocks = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.onDialectOrElse({
    pg: () =>
      Effect.map(
        sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        (rows) => Number(rows[0]!.n)
      ),
    orElse: () => Effect.succeed(0)
  }))

/** A simulator and a store over a fresh database of the backend's. */
const simulatorAndStore = Layer.merge(
  Simulator.layerTest(settings, { retry: { baseDelay: 0 }, rateLimitPause: 0 }),
  Layer.unwrapEffect(Effect.map(Effect.flatMap(TestDatabase, (database) => database.fresh), storeLayer))
)

/** A first run ("first run") that holds its location's lock until `release` is done; answered once it holds it. */
const firstRunHolding = Effect.gen(function*() {
  const locked = yield* Deferred.make<Sync.Location>()
  const release = yield* Deferred.make<void>()
  const first = yield* Sync.run({
    resources,
    lockHolder: "first run",
    onLocation: (location) => Effect.zipRight(Deferred.succeed(locked, location), Deferred.await(release))
  }).pipe(Effect.fork)
  return { first, location: yield* Deferred.await(locked), release }
})

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`Sync.run's location lock (${backend.name})`, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.scoped("a second run of a location while one runs fails at once, typed, naming the first; it asks for no records", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.Simulator
          const { first, location, release } = yield* firstRunHolding
          const before = (yield* simulator.log).length

          const error = yield* Sync.run({ resources, lockHolder: "second run" }).pipe(Effect.flip)
          assert.instanceOf(error, SyncStore.LocationBusyError)
          const busy = error as SyncStore.LocationBusyError
          assert.strictEqual(busy.location, location.uId)
          assert.strictEqual(busy.holder?.name, "first run")
          assert.isDefined(busy.holder?.since)
          assert.include(busy.message, location.uId)
          // The second run learned its location (Client Config) and stopped there.
          const during = (yield* simulator.log).slice(before)
          assert.isAbove(during.length, 0)
          assert.deepStrictEqual(during.filter((entry) => !entry.path.includes("config")), [])

          yield* Deferred.succeed(release, undefined)
          const summaries = yield* Fiber.join(first)
          assert.deepStrictEqual(summaries.map((summary) => summary.resource), resources.map((r) => r.name))
          assert.strictEqual(yield* advisoryLocks, 0)

          // Released with the first run: the next one takes the lock and syncs.
          const next = yield* Sync.run({ resources })
          assert.strictEqual(next.length, resources.length)
          assert.strictEqual(yield* advisoryLocks, 0)
        }).pipe(Effect.provide(simulatorAndStore)))

      it.scoped("a run that waits for the lock (lockWait) while another holds it: told once, asks for no records, runs once it is released", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.Simulator
          const { first, location, release } = yield* firstRunHolding
          const before = (yield* simulator.log).length

          const told: Array<SyncStore.LocationBusyError> = []
          const waiting = yield* Deferred.make<void>()
          const second = yield* Sync.run({
            resources,
            lockHolder: "second run",
            lockWait: "1 minute",
            onLockWait: (busy) => Effect.zipRight(Effect.sync(() => told.push(busy)), Deferred.succeed(waiting, undefined))
          }).pipe(Effect.fork)
          yield* Deferred.await(waiting)
          assert.strictEqual(told[0]?.location, location.uId)
          assert.strictEqual(told[0]?.holder?.name, "first run")
          // it waits: it has asked for nothing but Client Config, and it has not ended
          const during = (yield* simulator.log).slice(before)
          assert.deepStrictEqual(during.filter((entry) => !entry.path.includes("config")), [])
          assert.isTrue((yield* Fiber.poll(second))._tag === "None")

          // the first ends, then the second takes the lock and asks for its records
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(first)
          const afterFirst = (yield* simulator.log).length
          const summaries = yield* Fiber.join(second)
          assert.deepStrictEqual(summaries.map((summary) => summary.resource), resources.map((r) => r.name))
          assert.isAbove((yield* simulator.log).length, afterFirst)
          assert.strictEqual(told.length, 1)
          assert.strictEqual(yield* advisoryLocks, 0)
        }).pipe(Effect.provide(simulatorAndStore)))

      it.scoped("a run that waits for the lock fails with LocationBusyError once it was held past its lockWait, naming the holder and the wait", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.Simulator
          const { first, location, release } = yield* firstRunHolding
          const before = (yield* simulator.log).length
          let told = 0
          const error = yield* Sync.run({
            resources,
            lockHolder: "second run",
            lockWait: "400 millis",
            onLockWait: () => Effect.sync(() => told++)
          }).pipe(Effect.flip)
          assert.instanceOf(error, SyncStore.LocationBusyError)
          const busy = error as SyncStore.LocationBusyError
          assert.strictEqual(busy.location, location.uId)
          assert.strictEqual(busy.holder?.name, "first run")
          // it failed only past its bound
          assert.isAtLeast(busy.waitedMillis ?? 0, 400)
          assert.match(busy.message, /; waited \d+\.\d s for it$/)
          assert.strictEqual(told, 1)
          const during = (yield* simulator.log).slice(before)
          assert.deepStrictEqual(during.filter((entry) => !entry.path.includes("config")), [])
          // the first run was never disturbed
          yield* Deferred.succeed(release, undefined)
          assert.strictEqual((yield* Fiber.join(first)).length, resources.length)
          assert.strictEqual(yield* advisoryLocks, 0)
        }).pipe(Effect.provide(simulatorAndStore)))

      it.scoped.skipIf(backend.name !== "postgres")(
        "a lock held by another session (its own pool) and released meanwhile: the waiting run takes it; none is left held",
        () =>
          Effect.gen(function*() {
            const db = yield* (yield* TestDatabase).fresh
            const target = yield* NodeDatabase.parse(db)
            const other = yield* Layer.build(NodeDatabase.layerTarget(target))
            const store = yield* Layer.build(storeLayer(db))
            const simulator = yield* Layer.build(Simulator.layerTest(settings, { retry: { baseDelay: 0 }, rateLimitPause: 0 }))
            const location = yield* Sync.learnLocation.pipe(Effect.provide(simulator))
            // another session holds the location's lock (as a sync of another process would)
            const held = yield* Scope.make()
            yield* SqlSyncStore.holdLock(location.uId, { holder: "vppkit sync elsewhere" }).pipe(
              Effect.provide(other),
              Scope.extend(held)
            )
            const waiting = yield* Deferred.make<SyncStore.LocationBusyError>()
            const run = yield* Sync.run({
              resources,
              location,
              lockWait: "1 minute",
              onLockWait: (busy) => Deferred.succeed(waiting, busy).pipe(Effect.asVoid)
            }).pipe(
              Effect.provide(simulator),
              Effect.provide(store),
              Effect.fork
            )
            assert.strictEqual((yield* Deferred.await(waiting)).holder?.name, "vppkit sync elsewhere")
            assert.strictEqual(yield* Effect.provide(advisoryLocks, other), 1)
            yield* Scope.close(held, Exit.void)
            const summaries = yield* Fiber.join(run)
            assert.deepStrictEqual(summaries.map((summary) => summary.location), resources.map(() => location.uId))
            assert.strictEqual(yield* Effect.provide(advisoryLocks, other), 0)
          })
      )

      it.scoped("the lock is the location's: another location syncs meanwhile", () =>
        Effect.gen(function*() {
          const db = yield* (yield* TestDatabase).fresh
          const store = yield* Layer.build(storeLayer(db))
          const simulatorOf = (seed: number) =>
            Simulator.layerTest({ ...settings, seed }, { retry: { baseDelay: 0 }, rateLimitPause: 0 })
          const locked = yield* Deferred.make<Sync.Location>()
          const release = yield* Deferred.make<void>()
          const first = yield* Sync.run({
            resources,
            onLocation: (location) => Effect.zipRight(Deferred.succeed(locked, location), Deferred.await(release))
          }).pipe(Effect.provide(simulatorOf(1)), Effect.provide(store), Effect.fork)
          const a = yield* Deferred.await(locked)
          const other = yield* Sync.learnLocation.pipe(Effect.provide(simulatorOf(2)))
          assert.notStrictEqual(other.uId, a.uId, "the simulators must serve two locations")
          const summaries = yield* Sync.run({ resources }).pipe(Effect.provide(simulatorOf(2)), Effect.provide(store))
          assert.deepStrictEqual(summaries.map((summary) => summary.location), resources.map(() => other.uId))
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(first)
        }))

      it.scoped.skipIf(backend.name !== "postgres")(
        "a lock tried more times than the pool has connections while another holds it: each try fails at once, then it is taken",
        () =>
          Effect.gen(function*() {
            const db = yield* (yield* TestDatabase).fresh
            const target = yield* NodeDatabase.parse(db)
            const holder = yield* Layer.build(NodeDatabase.layerTarget(target))
            // a pool of 2: a try that kept its connection would leave the third waiting for one forever
            const waiter = yield* Layer.build(NodeDatabase.layerTarget(target, { maxConnections: 2 }))
            const held = yield* Scope.make()
            yield* SqlSyncStore.holdLock("vppkit-test-setup", { holder: "first" }).pipe(Effect.provide(holder), Scope.extend(held))
            const tryLock = SqlSyncStore.holdLock("vppkit-test-setup", { holder: "second" }).pipe(
              Effect.provide(waiter),
              Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("waited for a connection") })
            )
            for (let i = 0; i < 5; i++) {
              const error = yield* Effect.flip(tryLock)
              assert.instanceOf(error, SyncStore.LocationBusyError)
              assert.strictEqual((error as SyncStore.LocationBusyError).holder?.name, "first")
            }
            yield* Scope.close(held, Exit.void)
            yield* tryLock
            assert.strictEqual(yield* Effect.provide(advisoryLocks, holder), 1)
          })
      )
    })
  })
}
