import * as TestRunner from "@effect/cluster/TestRunner"
import * as HttpClient from "@effect/platform/HttpClient"
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
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as crypto from "node:crypto"
import * as FleetKey from "../src/FleetKey.js"
import * as FleetStatus from "../src/FleetStatus.js"
import * as Location from "../src/Location.js"
import * as Schedules from "../src/Schedules.js"
import * as TokenStore from "../src/TokenStore.js"
import { sqlite, TestDatabase } from "../../node/test/support/postgres.js"
import { compare } from "../../sync/test/support/store.js"

/**
 * The schedules (ClusterCron) in an in-memory cluster (`@effect/cluster`'s TestRunner) under a simulated clock
 * ({@link SimulatedClock}, it starts at 1970-01-01T00:00Z), over two in-memory simulators (two libraries, two `uId`s)
 * behind one HttpClient that routes by token, the tokens in the TokenStore and the records in SQLite.
 */

const settings = (seed: number, extra?: Partial<Simulator.Settings>): Simulator.Settings => ({
  seed,
  pageSize: 20,
  records: { assets: 5, users: 30, assignments: 60 },
  subscriptions: { subscriptions: 6, assignments: 12, admins: 3 },
  ...extra
})

const clientOptions = {
  baseUrl: Simulator.testBaseUrl,
  maxRequestsPerSecond: Infinity,
  retry: { baseDelay: 0 },
  rateLimitPause: 0
}

/**
 * One HttpClient over several simulators: a request goes to the simulator whose token it carries (in the
 * Authorization header, or in a legacy POST's body).
 */
const routing = (simulators: ReadonlyArray<Simulator.Service>) =>
  HttpClient.make((request) => {
    const auth = request.headers["authorization"] ?? ""
    const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
    const target = simulators.find((s) =>
      s.tokens.some((t) => auth === `Bearer ${Redacted.value(t.value)}` || body.includes(Redacted.value(t.value)))
    ) ?? simulators[0]!
    return Simulator.makeHttpClient(target).execute(request)
  })

interface Fixture {
  readonly simulators: ReadonlyArray<Simulator.Service>
  readonly events: Queue.Queue<Schedules.Event>
  readonly clock: SimulatedClock
}

/** Stores each simulator's token under the uId its Client Config names; the logs cleared. */
const addLocations = (simulators: ReadonlyArray<Simulator.Service>) =>
  Effect.gen(function*() {
    const tokens = yield* TokenStore.TokenStore
    const uIds: Array<string> = []
    for (const [i, simulator] of simulators.entries()) {
      const client = yield* VppClient.make({ ...clientOptions, token: simulator.token }).pipe(
        Effect.provideService(HttpClient.HttpClient, Simulator.makeHttpClient(simulator))
      )
      const location = yield* Sync.learnLocation.pipe(Effect.provideService(VppClient.VppClient, client))
      yield* tokens.add({ token: simulator.token.value, uId: location.uId, name: `sim${i}` })
      yield* simulator.clearLog
      uIds.push(location.uId)
    }
    return uIds
  })

/**
 * A simulated clock (it starts at 1970-01-01T00:00Z, as TestClock) that `advance` moves forward one sleeper at a
 * time, letting every fiber run (a few turns of the event loop) after each wake-up. TestClock does the same but
 * waits for every fiber to suspend with `setTimeout(0)` turns after each wake-up; the cluster wakes several fibers a
 * second (a metrics gauge per entity type, its storage polls), so over the hours of simulated time the schedules
 * need, TestClock spent minutes of idle real time.
 */
class SimulatedClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private now = 0
  private sleepers: Array<{ readonly at: number; readonly wake: () => void }> = []
  unsafeCurrentTimeMillis() {
    return this.now
  }
  readonly currentTimeMillis = Effect.sync(() => this.now)
  unsafeCurrentTimeNanos() {
    return BigInt(this.now) * 1_000_000n
  }
  readonly currentTimeNanos = Effect.sync(() => this.unsafeCurrentTimeNanos())
  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const sleeper = { at: this.now + Duration.toMillis(duration), wake: () => resume(Effect.void) }
      this.sleepers.push(sleeper)
      return Effect.sync(() => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper)
      })
    })
  }
  /** Wakes, in time order, every sleeper due within `millis` (and those they start), then sets the time. */
  advance(millis: number): Effect.Effect<void> {
    return Effect.promise(async () => {
      const end = this.now + millis
      for (;;) {
        await turns()
        const due = this.sleepers.filter((s) => s.at <= end).sort((a, b) => a.at - b.at)[0]
        if (due === undefined) break
        this.sleepers = this.sleepers.filter((s) => s !== due)
        this.now = Math.max(this.now, due.at)
        due.wake()
      }
      this.now = end
      await turns()
    })
  }
}

/** A few turns of the event loop: the fibers woken (and those they wake) run. */
const turns = async () => {
  for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve))
}

/**
 * Runs `body` with the Location entity and the schedules (default: incremental every 15 minutes, full at 02:00) on a TestRunner
 * over a fresh SQLite database and the given simulators; the schedules' events in a queue.
 */
const withSchedules = <A, E, R>(
  simulatorSettings: ReadonlyArray<Simulator.Settings>,
  body: (fixture: Fixture) => Effect.Effect<A, E, R>,
  options?: Schedules.Options
) =>
  Effect.gen(function*() {
    const db = yield* (yield* TestDatabase).fresh
    const simulators = yield* Effect.forEach(simulatorSettings, (s) => Simulator.make(s))
    const events = yield* Queue.unbounded<Schedules.Event>()
    const clock = new SimulatedClock()
    const fleet = Schedules.layer(options).pipe(
      Layer.provideMerge(Location.layer),
      Layer.provideMerge(TestRunner.layer),
      Layer.provideMerge(Layer.merge(TokenStore.layer, FleetStatus.layer)),
      Layer.provideMerge(SqlSyncStore.layer),
      Layer.provideMerge(Layer.merge(NodeDatabase.layer(db), FleetKey.layer(crypto.randomBytes(32)))),
      Layer.provideMerge(Layer.succeed(HttpClient.HttpClient, routing(simulators))),
      Layer.provideMerge(Layer.succeed(Location.ClientOptions, clientOptions)),
      Layer.provideMerge(Layer.succeed(Schedules.Report, (event) => Queue.offer(events, event)))
    )
    return yield* Effect.provide(body({ simulators, events, clock }), fleet).pipe(Effect.withClock(clock))
  })

/**
 * Lets simulated time pass (5 seconds at a time, half the cluster's storage poll interval, letting every fiber run
 * after each wake-up) until the schedules report `tag`; the other events are kept in `collected`.
 */
const until = <T extends Schedules.Event["_tag"]>(
  { clock, events }: Fixture,
  tag: T,
  limitSeconds = 3 * 3600
) =>
  Effect.gen(function*() {
    for (let second = 0; second <= limitSeconds; second += 5) {
      for (;;) {
        const event = yield* Queue.poll(events)
        if (Option.isNone(event)) break
        if (event.value._tag === tag) return event.value as Extract<Schedules.Event, { readonly _tag: T }>
        collected.push(event.value)
      }
      yield* clock.advance(5000)
    }
    return assert.fail(`no ${tag} event within ${limitSeconds} simulated seconds`)
  })

/** Waits for the end of the tick of `minute` past 00 (a tick is delivered at least once: it may run twice). */
const untilDone = (fixture: Fixture, minute: number, full = false) =>
  Effect.gen(function*() {
    for (;;) {
      const done = yield* until(fixture, "TickDone")
      collected.push(done)
      if (done.full === full && done.at.getUTCMinutes() === minute) return done
    }
  })

let collected: Array<Schedules.Event> = []
const take = <T extends Schedules.Event["_tag"]>(tag: T) => {
  const found = collected.filter((e): e is Extract<Schedules.Event, { readonly _tag: T }> => e._tag === tag)
  collected = collected.filter((e) => e._tag !== tag)
  return found
}

const assertEqualsSimulator = (simulator: Simulator.Service, uId: string) =>
  Effect.gen(function*() {
    for (const resource of Resources.all) {
      const { different, extra, missing, server } = yield* compare(simulator, resource).pipe(SyncStore.forLocation(uId))
      assert.isAbove(server.size, 0, `${resource.name}: the server has no records; the test proves nothing`)
      assert.deepStrictEqual({ missing, extra, different }, { missing: [], extra: [], different: [] }, resource.name)
    }
  })

const isClientConfig = (entry: Simulator.LogEntry) => entry.path.endsWith("/client/config")

describe("Schedules", () => {
  layer(sqlite)((it) => {
    it.effect("everyMinutes and parseCron accept what a cron can say and refuse the rest", () =>
      Effect.gen(function*() {
        assert.isTrue((yield* Effect.either(Schedules.everyMinutes(15)))._tag === "Right")
        assert.isTrue((yield* Effect.either(Schedules.everyMinutes(120)))._tag === "Right")
        assert.isTrue((yield* Effect.either(Schedules.everyMinutes(0)))._tag === "Left")
        assert.isTrue((yield* Effect.either(Schedules.everyMinutes(90)))._tag === "Left")
        assert.isTrue((yield* Effect.either(Schedules.everyMinutes(1.5)))._tag === "Left")
        assert.isTrue((yield* Effect.either(Schedules.parseCron("0 2 * * *")))._tag === "Right")
        assert.isTrue((yield* Effect.either(Schedules.parseCron("0 25 * * *")))._tag === "Left")
      }))

    it.scoped("a cron firing syncs every location of the token store, incremental every 15 minutes, full at its cron", () =>
      withSchedules([settings(3), settings(4)], (fixture) =>
        Effect.gen(function*() {
          const { simulators } = fixture
          collected = []
          const uIds = yield* addLocations(simulators)
          assert.notStrictEqual(uIds[0], uIds[1])
          const tick = yield* until(fixture, "Tick")
          assert.strictEqual(tick.full, false)
          assert.deepStrictEqual(tick.locations, [...uIds].sort())
          // the first incremental tick is at 00:15 (the cron's first time after the start at 00:00)
          assert.strictEqual(tick.at.getUTCHours(), 0)
          assert.strictEqual(tick.at.getUTCMinutes(), 15)
          yield* untilDone(fixture, 15)
          const synced = take("Synced").map((e) => e.outcome)
          assert.deepStrictEqual([...new Set(synced.map((o) => o.uId))].sort(), [...uIds].sort())
          for (const outcome of synced) assert.strictEqual(outcome.result, "synced")
          for (const [i, simulator] of simulators.entries()) yield* assertEqualsSimulator(simulator, uIds[i]!)

          // changes arrive incrementally at the next tick
          yield* simulators[0]!.churn("assignments", { inserts: 4, updates: 3 })
          yield* untilDone(fixture, 30)
          const second = take("Synced").map((e) => e.outcome).filter((o) => o.startedAt.getUTCMinutes() === 30)
          assert.deepStrictEqual([...new Set(second.map((o) => o.uId))].sort(), [...uIds].sort())
          const assignments = second.find((o) => o.uId === uIds[0])!.resources.find((r) => r.resource === "assignments")!
          assert.strictEqual(assignments.mode, "incremental")
          yield* assertEqualsSimulator(simulators[0]!, uIds[0]!)

          // the full pass at its cron (00:40 here; nightly by default)
          yield* untilDone(fixture, 40, true)
          const full = take("Synced").map((e) => e.outcome).filter((o) => o.full)
          assert.deepStrictEqual([...new Set(full.map((o) => o.uId))].sort(), [...uIds].sort())
          for (const outcome of full) for (const r of outcome.resources) assert.strictEqual(r.mode, "full")
          assert.deepStrictEqual(take("Failed"), [])
        }), { fullCron: "40 0 * * *" }), 180_000)

    it.scoped("an on-demand Sync while a scheduled one runs waits behind it (never runs alongside)", () =>
      Effect.gen(function*() {
        const started = yield* Deferred.make<void>()
        const proceed = yield* Deferred.make<void>()
        let first = true
        // the first sync's first resource waits until the test lets it go
        const progress = (_resource: Resource.Any) =>
          Effect.zipRight(
            Effect.suspend(() => {
              if (!first) return Effect.void
              first = false
              return Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(proceed))
            }),
            Effect.succeed<Sync.Progress>({ page: () => Effect.void, finish: () => Effect.void })
          )
        yield* withSchedules([settings(5)], (fixture) =>
          Effect.gen(function*() {
            const { simulators } = fixture
            collected = []
            const [uId] = yield* addLocations(simulators)
            const simulator = simulators[0]!
            yield* until(fixture, "Tick")
            yield* Deferred.await(started)
            // the scheduled sync is running (held at its first resource): an on-demand sync is sent
            const onDemand = yield* Effect.fork((yield* Location.Location.client)(uId!).Sync({ full: true }))
            for (let i = 0; i < 50; i++) yield* Effect.promise(() => new Promise((r) => setImmediate(r)))
            assert.isTrue(Option.isNone(yield* onDemand.poll), "the on-demand sync ended while the scheduled one ran")
            assert.strictEqual((yield* simulator.log).filter(isClientConfig).length, 1)
            yield* Deferred.succeed(proceed, undefined)
            const outcome = yield* Fiber.join(onDemand)
            yield* until(fixture, "TickDone")
            const [scheduled] = take("Synced").map((e) => e.outcome)
            assert.strictEqual(scheduled!.full, false)
            assert.strictEqual(outcome.full, true)
            assert.isAtMost(scheduled!.finishedAt.getTime(), outcome.startedAt.getTime())
            // the server saw the scheduled sync's requests, then the on-demand one's
            const log = yield* simulator.log
            const configs = log.flatMap((entry, index) => isClientConfig(entry) ? [index] : [])
            assert.strictEqual(configs.length, 2)
            const firstEnded = Math.max(...log.slice(0, configs[1]).map((e) => e.finishedAt))
            assert.isAtMost(firstEnded, log[configs[1]!]!.startedAt)
            yield* assertEqualsSimulator(simulator, uId!)
          })).pipe(Effect.provideService(Location.SyncOptions, { progress }))
      }), 120_000)

    it.scoped("a failing sync is reported and tried again at the next tick; the other locations sync meanwhile", () =>
      withSchedules([settings(6), settings(7)], (fixture) =>
        Effect.gen(function*() {
          const { simulators } = fixture
          collected = []
          const uIds = yield* addLocations(simulators)
          // the first location's users endpoint refuses once (not a retried error)
          yield* simulators[0]!.inject({ _tag: "Error", status: 400, errorNumber: 9600 }, { path: "/v2/users" })
          yield* untilDone(fixture, 15)
          const failed = take("Failed")
          assert.deepStrictEqual(failed.map((e) => e.uId), [uIds[0]])
          assert.strictEqual(failed[0]!.outcome?.result, "failed")
          assert.strictEqual(failed[0]!.failure.tag, "BadRequestError")
          assert.include(take("Synced").map((e) => e.outcome.uId), uIds[1])
          yield* assertEqualsSimulator(simulators[1]!, uIds[1]!)

          // the next tick tries it again, and it syncs
          yield* untilDone(fixture, 30)
          assert.deepStrictEqual(take("Failed"), [])
          const retried = take("Synced").map((e) => e.outcome).filter((o) => o.startedAt.getUTCMinutes() === 30)
          assert.deepStrictEqual([...new Set(retried.map((o) => o.uId))].sort(), [...uIds].sort())
          yield* assertEqualsSimulator(simulators[0]!, uIds[0]!)
        })), 120_000)

    it.scoped("a location whose token expired is reported and skipped: no request to Apple", () =>
      withSchedules([settings(8), settings(9, { tokenExpiresAt: new Date(5 * 60_000) })], (fixture) =>
        Effect.gen(function*() {
          const { simulators } = fixture
          collected = []
          const uIds = yield* addLocations(simulators.slice(0, 1))
          // the expired token's location is stated (the simulator refuses an expired token's Client Config)
          yield* Effect.flatMap(TokenStore.TokenStore, (tokens) =>
            tokens.add({ token: simulators[1]!.token.value, uId: "2049025000000001", name: "sim1" }))
          uIds.push("2049025000000001")
          yield* untilDone(fixture, 15)
          const expired = take("Expired")
          assert.deepStrictEqual([...new Set(expired.map((e) => e.uId))], [uIds[1]])
          assert.deepStrictEqual(expired[0]!.tokens, ["sim1"])
          assert.strictEqual(expired[0]!.expiredAt.getTime(), 5 * 60_000)
          assert.deepStrictEqual([...new Set(take("Synced").map((e) => e.outcome.uId))], [uIds[0]])
          assert.deepStrictEqual(take("Failed"), [])
          assert.deepStrictEqual(yield* simulators[1]!.log, [])
          assert.isAbove((yield* simulators[0]!.log).length, 0)
          assert.deepStrictEqual(yield* SyncStore.locations.pipe(Effect.map((ls) => ls.map((l) => l.uId))), [uIds[0]])
        })), 120_000)
  })
})
