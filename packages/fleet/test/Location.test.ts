import * as SingleRunner from "@effect/cluster/SingleRunner"
import * as TestRunner from "@effect/cluster/TestRunner"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import type * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import * as VppClient from "@vppkit/core/VppClient"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as Sync from "@vppkit/sync/Sync"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as FleetKey from "../src/FleetKey.js"
import * as FleetStatus from "../src/FleetStatus.js"
import * as Location from "../src/Location.js"
import * as TokenStore from "../src/TokenStore.js"
import { sqlite, TestDatabase } from "../../node/test/support/postgres.js"
import { compare } from "../../sync/test/support/store.js"

/**
 * The Location entity in an in-memory cluster (`@effect/cluster`'s TestRunner: sharding, in-memory message storage)
 * over the in-memory simulator, its token in the TokenStore and its records in a SQLite SyncStore.
 */

const settings: Simulator.Settings = {
  seed: 11,
  pageSize: 20,
  records: { assets: 6, users: 50, assignments: 90 },
  subscriptions: { subscriptions: 10, assignments: 20, admins: 4 }
}

/** The client options a location syncs with: the simulator's base URL, no waits between retries. */
const clientOptions = {
  baseUrl: Simulator.testBaseUrl,
  maxRequestsPerSecond: Infinity,
  retry: { baseDelay: 0 },
  rateLimitPause: 0
}

/** A runner of the Location entity over a fresh SQLite database and a fresh simulator. */
const fleet = (
  db: string,
  simulatorSettings: Simulator.Settings,
  key: Uint8Array = crypto.randomBytes(32),
  syncOptions?: Location.SyncOptions["Type"]
) =>
  Location.layer.pipe(
    Layer.provideMerge(TestRunner.layer),
    Layer.provideMerge(Layer.merge(TokenStore.layer, FleetStatus.layer)),
    Layer.provideMerge(SqlSyncStore.layer),
    Layer.provideMerge(Layer.merge(NodeDatabase.layer(db), FleetKey.layer(key))),
    Layer.provideMerge(Simulator.layerHttpClient),
    Layer.provideMerge(Simulator.layer(simulatorSettings)),
    Layer.provideMerge(Layer.succeed(Location.ClientOptions, clientOptions)),
    Layer.provideMerge(Layer.succeed(Location.RunnerName, "127.0.0.1:34431")),
    // (else the caller's, or none)
    Layer.provideMerge(syncOptions === undefined ? Layer.empty : Layer.succeed(Location.SyncOptions, syncOptions))
  )

type Fleet = Layer.Layer.Success<ReturnType<typeof fleet>>

const withFleet = <A, E>(
  body: Effect.Effect<A, E, Fleet>,
  simulatorSettings: Simulator.Settings = settings,
  database?: string,
  key?: string,
  syncOptions?: Location.SyncOptions["Type"]
) =>
  Effect.gen(function*() {
    const db = database ?? (yield* (yield* TestDatabase).fresh)
    return yield* Effect.provide(
      body,
      fleet(db, simulatorSettings, key === undefined ? undefined : crypto.createHash("sha256").update(key).digest(), syncOptions)
    )
  })

/** The simulator's location (`uId`), learned as a sync learns it; its token stored for it. The log cleared. */
const addSimulatorLocation = Effect.gen(function*() {
  const simulator = yield* Simulator.Simulator
  const client = yield* VppClient.make({ ...clientOptions, token: simulator.token })
  const location = yield* Sync.learnLocation.pipe(Effect.provideService(VppClient.VppClient, client))
  yield* Effect.flatMap(TokenStore.TokenStore, (tokens) => tokens.add({ token: simulator.token.value, uId: location.uId, name: "sim" }))
  yield* simulator.clearLog
  return location.uId
})

/** Asserts the location's tables hold exactly the simulator's records, for every resource. */
const assertEqualsSimulator = (uId: string) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.Simulator
    for (const resource of Resources.all) {
      const { different, extra, missing, server } = yield* compare(simulator, resource).pipe(SyncStore.forLocation(uId))
      assert.isAbove(server.size, 0, `${resource.name}: the server has no records; the test proves nothing`)
      assert.deepStrictEqual({ missing, extra, different }, { missing: [], extra: [], different: [] }, resource.name)
    }
  })

const isClientConfig = (entry: Simulator.LogEntry) => entry.path.endsWith("/client/config")

describe("Location", () => {
  layer(sqlite, { excludeTestServices: true })((it) => {
    it.scoped("a Sync message syncs the location: its tables equal the simulator; Status answers the outcome", () =>
      withFleet(Effect.gen(function*() {
        const uId = yield* addSimulatorLocation
        const simulator = yield* Simulator.Simulator
        const location = (yield* Location.Location.client)(uId)
        assert.isTrue(Option.isNone(yield* location.Status()))

        const first = yield* location.Sync({ full: false })
        assert.strictEqual(first.uId, uId)
        assert.strictEqual(first.result, "synced")
        assert.deepStrictEqual(first.resources.map((r) => r.resource), Resources.all.map((r) => r.name))
        for (const r of first.resources) assert.strictEqual(r.mode, "full")
        yield* assertEqualsSimulator(uId)
        assert.deepStrictEqual(yield* location.Status(), Option.some(first))

        // churn, then an incremental sync brings the changes; a full one reconciles
        yield* simulator.churn("assignments", { inserts: 7, updates: 5, deletes: 3 })
        const second = yield* location.Sync({ full: false })
        assert.strictEqual(second.resources.find((r) => r.resource === "assignments")!.mode, "incremental")
        const third = yield* location.Sync({ full: true })
        for (const r of third.resources) assert.strictEqual(r.mode, "full")
        yield* assertEqualsSimulator(uId)
        assert.deepStrictEqual(yield* location.Status(), Option.some(third))
      })))

    it.scoped("two Sync messages sent at once to one location run one after another, never together", () =>
      withFleet(Effect.gen(function*() {
        const uId = yield* addSimulatorLocation
        const simulator = yield* Simulator.Simulator
        const location = (yield* Location.Location.client)(uId)
        const [a, b] = yield* Effect.all([location.Sync({ full: true }), location.Sync({ full: true })], {
          concurrency: "unbounded"
        })
        assert.strictEqual(a.result, "synced")
        assert.strictEqual(b.result, "synced")
        const [earlier, later] = a.startedAt <= b.startedAt ? [a, b] : [b, a]
        assert.isAtMost(earlier.finishedAt.getTime(), later.startedAt.getTime())
        // The server saw one sync's requests, then the other's: each begins with Client Config, and the second Client
        // Config comes after every request of the first sync (two full syncs of unchanged data ask the same requests).
        const log = yield* simulator.log
        const configs = log.flatMap((entry, index) => isClientConfig(entry) ? [index] : [])
        assert.strictEqual(configs.length, 2)
        assert.strictEqual(configs[0], 0)
        assert.strictEqual(configs[1], log.length / 2)
        const firstSync = log.slice(0, log.length / 2)
        const secondSync = log.slice(log.length / 2)
        assert.deepStrictEqual(secondSync.map((e) => e.path).sort(), firstSync.map((e) => e.path).sort())
        const firstEnded = Math.max(...firstSync.map((e) => e.finishedAt))
        assert.isAtMost(firstEnded, secondSync[0]!.startedAt)
        yield* assertEqualsSimulator(uId)
      }), { ...settings, latency: "2 millis" }))

    it.scoped("Status answers while a sync of the location runs (it does not wait behind the Sync message)", () =>
      Effect.gen(function*() {
        const started = yield* Deferred.make<void>()
        const proceed = yield* Deferred.make<void>()
        // the sync's first resource waits until the test lets it go
        const progress = (_resource: Resource.Any) =>
          Effect.zipRight(
            Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(proceed)),
            Effect.succeed<Sync.Progress>({ page: () => Effect.void, finish: () => Effect.void })
          )
        yield* withFleet(
          Effect.gen(function*() {
            const uId = yield* addSimulatorLocation
            const location = (yield* Location.Location.client)(uId)
            const running = yield* Effect.fork(location.Sync({ full: false }))
            yield* Deferred.await(started)
            assert.isTrue(Option.isNone(yield* location.Status()))
            assert.isTrue(Option.isNone(yield* running.poll))
            yield* Deferred.succeed(proceed, undefined)
            const outcome = yield* Fiber.join(running)
            assert.strictEqual(outcome.result, "synced")
            assert.deepStrictEqual(yield* location.Status(), Option.some(outcome))
            yield* assertEqualsSimulator(uId)
          })
        ).pipe(Effect.provideService(Location.SyncOptions, { progress }))
      }))

    it.scoped("a token stored for a location whose Client Config names another uId syncs nothing and fails typed", () =>
      withFleet(Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        yield* Effect.flatMap(TokenStore.TokenStore, (tokens) => tokens.add({ token: simulator.token.value, uId: "999" }))
        const error = yield* Effect.flip((yield* Location.Location.client)("999").Sync({ full: false }))
        assert.strictEqual((error as Location.LocationSyncError).outcome.failure?.tag, "TokenLocationError")
        assert.deepStrictEqual(yield* SyncStore.locations, [])
      })))

    it.scoped("a location without a token fails its Sync with a typed error, and Status says so", () =>
      withFleet(Effect.gen(function*() {
        const location = (yield* Location.Location.client)("4242")
        const error = yield* Effect.flip(location.Sync({ full: false }))
        assert.strictEqual(error._tag, "LocationSyncError")
        const outcome = (error as Location.LocationSyncError).outcome
        assert.strictEqual(outcome.result, "failed")
        assert.strictEqual(outcome.failure?.tag, "TokenNotFoundError")
        assert.deepStrictEqual(outcome.resources, [])
        assert.deepStrictEqual(yield* location.Status(), Option.some(outcome))
      })))

    it.scoped("a Sync while another sync holds the location's lock in the store (the cluster ran it twice) waits for it, then fails typed past its lockWait; asks for no records", () =>
      Effect.gen(function*() {
        const told: Array<SyncStore.LocationBusyError> = []
        yield* withFleet(
          Effect.gen(function*() {
            const uId = yield* addSimulatorLocation
            const simulator = yield* Simulator.Simulator
            const location = (yield* Location.Location.client)(uId)
            // another runner's sync of the location, as the store sees it, for longer than the sync waits
            const error = yield* Effect.flip(location.Sync({ full: false })).pipe(
              SyncStore.withLocationLock(uId, { holder: "vppkit fleet on another runner" })
            )
            const outcome = (error as Location.LocationSyncError).outcome
            assert.strictEqual(outcome.failure?.tag, "LocationBusyError")
            assert.include(outcome.failure?.message, "vppkit fleet on another runner")
            assert.match(outcome.failure?.message ?? "", /; waited \d+\.\d s for it$/)
            assert.isAtLeast(outcome.finishedAt.getTime() - outcome.startedAt.getTime(), 300)
            assert.strictEqual(told.length, 1)
            assert.deepStrictEqual(outcome.resources, [])
            assert.deepStrictEqual((yield* simulator.log).map((entry) => isClientConfig(entry)), [true])
            assert.deepStrictEqual(yield* location.Status(), Option.some(outcome))
            // the lock released, the next Sync runs
            assert.strictEqual((yield* location.Sync({ full: false })).result, "synced")
            yield* assertEqualsSimulator(uId)
          }),
          settings,
          undefined,
          undefined,
          { lockWait: "300 millis", onLockWait: (busy) => Effect.sync(() => void told.push(busy)) }
        )
      }))

    it.scoped("a scheduled sync waiting for the location's lock (by default) counts as unfinished: the next slot is an overrun; it syncs once the lock is released", () =>
      Effect.gen(function*() {
        const waiting = yield* Deferred.make<SyncStore.LocationBusyError>()
        yield* withFleet(
          Effect.gen(function*() {
            const uId = yield* addSimulatorLocation
            const simulator = yield* Simulator.Simulator
            const location = (yield* Location.Location.client)(uId)
            const release = yield* Deferred.make<void>()
            const locked = yield* Deferred.make<void>()
            // another runner's sync of the location, as the store sees it, until the test lets it go
            const other = yield* Effect.zipRight(Deferred.succeed(locked, undefined), Deferred.await(release)).pipe(
              SyncStore.withLocationLock(uId, { holder: "vppkit fleet on another runner" }),
              Effect.fork
            )
            yield* Deferred.await(locked)
            const slot = new Date("2026-12-06T03:00:00Z")
            const first = yield* Effect.fork(location.Scheduled({ full: false, slot }))
            const busy = yield* Deferred.await(waiting)
            assert.strictEqual(busy.holder?.name, "vppkit fleet on another runner")
            // the next slot while the first waits for the lock: an overrun naming it, nothing started twice
            const next = new Date(slot.getTime() + 60_000)
            const overrun = yield* Effect.flip(location.Scheduled({ full: false, slot: next }))
            assert.instanceOf(overrun, Location.OverrunError)
            assert.deepStrictEqual((overrun as Location.OverrunError).running, { full: false, slot })
            // the first still waits, having asked for nothing but Client Config
            assert.isTrue((yield* Fiber.poll(first))._tag === "None")
            assert.deepStrictEqual((yield* simulator.log).map((entry) => isClientConfig(entry)), [true])
            // released: the waiting sync takes the lock and syncs; then the next slot runs
            yield* Deferred.succeed(release, undefined)
            yield* Fiber.join(other)
            assert.strictEqual((yield* Fiber.join(first)).result, "synced")
            assert.strictEqual((yield* location.Scheduled({ full: false, slot: next })).result, "synced")
            yield* assertEqualsSimulator(uId)
          }),
          settings,
          undefined,
          undefined,
          // the default wait (a minute), told when it begins
          { onLockWait: (busy) => Deferred.succeed(waiting, busy).pipe(Effect.asVoid) }
        )
      }))

    it.scoped("the status outlives the entity: each run recorded in the database, with sync_state's resources; failures in a row counted", () =>
      Effect.gen(function*() {
        const db = yield* (yield* TestDatabase).fresh
        const uId = yield* withFleet(
          Effect.gen(function*() {
            const uId = yield* addSimulatorLocation
            const outcome = yield* (yield* Location.Location.client)(uId).Sync({ full: false })
            const status = yield* FleetStatus.FleetStatus
            const [one] = yield* status.locations
            assert.strictEqual(one?.uId, uId)
            const run = one!.lastRun!
            assert.strictEqual(run.result, "synced")
            assert.strictEqual(run.consecutiveFailures, 0)
            assert.strictEqual(run.runner, "127.0.0.1:34431", "the runner that ran it")
            assert.strictEqual(run.lastSuccessAt, outcome.finishedAt.toISOString())
            assert.strictEqual(run.records, outcome.resources.reduce((sum, r) => sum + r.records, 0))
            assert.isAbove(run.records, 0)
            assert.deepStrictEqual(one!.resources.map((r) => r.resource).sort(), Resources.all.map((r) => r.name).sort())
            for (const r of one!.resources) {
              assert.strictEqual(r.records, outcome.resources.find((o) => o.resource === r.resource)!.rows)
            }
            return uId
          }),
          settings,
          db
        )
        // Another runner over the same database (a new cluster, a new entity instance): Status reads the recorded run;
        // the token is gone (the key differs), so its syncs fail, counted in a row, the last success kept.
        yield* withFleet(
          Effect.gen(function*() {
            const location = (yield* Location.Location.client)(uId)
            const before = Option.getOrThrow(yield* location.Status())
            assert.strictEqual(before.result, "synced")
            yield* Effect.flip(location.Sync({ full: false }))
            const failed = yield* Effect.flip(location.Sync({ full: false }))
            const status = Option.getOrThrow(yield* Effect.flatMap(FleetStatus.FleetStatus, (s) => s.location(uId)))
            assert.strictEqual(status.lastRun?.result, "failed")
            assert.strictEqual(status.lastRun?.consecutiveFailures, 2)
            assert.strictEqual(status.lastRun?.failure?.tag, (failed as Location.LocationSyncError).outcome.failure?.tag)
            assert.strictEqual(status.lastRun?.lastSuccessAt, before.finishedAt.toISOString())
            assert.strictEqual(status.resources.length, Resources.all.length)
            assert.deepStrictEqual(yield* location.Status(), Option.some((failed as Location.LocationSyncError).outcome))
          }).pipe(Effect.provideService(Location.ClientOptions, clientOptions)),
          settings,
          db,
          "other key"
        )
      }))

    it.scoped("on SingleRunner (messages in the same SQLite database as the records), a Sync message syncs the location", () =>
      Effect.gen(function*() {
        const db = yield* (yield* TestDatabase).fresh
        const single = Location.layer.pipe(
          Layer.provideMerge(SingleRunner.layer({ runnerStorage: "memory" })),
          Layer.provideMerge(Layer.merge(TokenStore.layer, FleetStatus.layer)),
          Layer.provideMerge(SqlSyncStore.layer),
          Layer.provideMerge(Layer.merge(NodeDatabase.layer(db), FleetKey.layer(crypto.randomBytes(32)))),
          Layer.provideMerge(Simulator.layerHttpClient),
          Layer.provideMerge(Simulator.layer(settings)),
          Layer.provideMerge(Layer.succeed(Location.ClientOptions, clientOptions))
        )
        yield* Effect.gen(function*() {
          const uId = yield* addSimulatorLocation
          const outcome = yield* (yield* Location.Location.client)(uId).Sync({ full: false })
          assert.strictEqual(outcome.result, "synced")
          yield* assertEqualsSimulator(uId)
          // the message and its reply were stored in the database, beside the records
          const sql = yield* SqlClient.SqlClient
          const tables = (yield* sql<{ readonly name: string }>`SELECT ${sql("name")} FROM ${sql("sqlite_master")} WHERE ${
            sql("type")
          } = ${"table"}`).map((row) => row.name)
          assert.includeMembers(tables, ["cluster_messages", "cluster_replies", TokenStore.tokensTable, SqlSyncStore.stateTable])
          const messages = yield* sql<{ readonly tag: string }>`SELECT ${sql("tag")} FROM ${sql("cluster_messages")}`
          assert.deepStrictEqual(messages.map((m) => m.tag), ["Sync"])
        }).pipe(Effect.provide(single))
      }))
  })
})
