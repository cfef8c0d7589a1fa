import * as TestRunner from "@effect/cluster/TestRunner"
import * as HttpClient from "@effect/platform/HttpClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import type * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import * as VppClient from "@vppkit/core/VppClient"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Sync from "@vppkit/sync/Sync"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Scheduler from "effect/Scheduler"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as crypto from "node:crypto"
import * as Fleet from "../src/Fleet.js"
import * as FleetKey from "../src/FleetKey.js"
import * as FleetMetrics from "../src/FleetMetrics.js"
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
 * time, letting every fiber run until all have suspended after each wake-up ({@link CountingScheduler}). TestClock
 * does the same but waits for every fiber to suspend with `setTimeout(0)` turns after each wake-up; the cluster
 * wakes several fibers a second (a metrics gauge per entity type, its storage polls), so over the hours of simulated
 * time the schedules need, TestClock spent minutes of idle real time.
 */
class SimulatedClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  /** The scheduler of every fiber under this clock: `advance` waits for it to run out of work. */
  readonly scheduler = new CountingScheduler(Scheduler.defaultScheduler)
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
        await this.settled()
        const due = this.sleepers.filter((s) => s.at <= end).sort((a, b) => a.at - b.at)[0]
        if (due === undefined) break
        this.sleepers = this.sleepers.filter((s) => s !== due)
        this.now = Math.max(this.now, due.at)
        due.wake()
      }
      this.now = end
      await this.settled()
    })
  }
  /**
   * Turns of the event loop until no fiber has work left: the fibers woken (and those they wake) have run and
   * suspended, also those the scheduler handed on with `setTimeout(0)` after many steps (a fixed number of turns
   * could end before such a timer fired, and the clock then moved on under a fiber that was still at work). The
   * work of a fiber waiting for a promise is not the scheduler's, so it needs a few quiet turns in a row.
   */
  private async settled() {
    for (let quiet = 0, turn = 0; quiet < 4; turn++) {
      if (turn > 1_000_000) throw new Error("the fibers under the simulated clock never settle")
      await new Promise((resolve) => setImmediate(resolve))
      quiet = this.scheduler.pending === 0 ? quiet + 1 : 0
    }
  }
}

/** The default scheduler, counting the tasks given to it and not yet run: none once every fiber has suspended. */
class CountingScheduler implements Scheduler.Scheduler {
  pending = 0
  constructor(private readonly scheduler: Scheduler.Scheduler) {}
  shouldYield(fiber: Parameters<Scheduler.Scheduler["shouldYield"]>[0]) {
    return this.scheduler.shouldYield(fiber)
  }
  scheduleTask(task: Scheduler.Task, priority: number, fiber?: Parameters<Scheduler.Scheduler["shouldYield"]>[0]) {
    this.pending++
    this.scheduler.scheduleTask(() => {
      this.pending--
      task()
    }, priority, fiber)
  }
}

/**
 * Runs `body` with the Location entity and the schedules (default: incremental every 15 minutes, full at 02:00) on a TestRunner
 * over a fresh SQLite database and the given simulators; the schedules' events in a queue.
 */
const withSchedules = <A, E, R>(
  simulatorSettings: ReadonlyArray<Simulator.Settings>,
  body: (fixture: Fixture) => Effect.Effect<A, E, R>,
  options?: Fleet.Options,
  wrap: (client: HttpClient.HttpClient) => HttpClient.HttpClient = (client) => client
) =>
  Effect.gen(function*() {
    const db = yield* (yield* TestDatabase).fresh
    const simulators = yield* Effect.forEach(simulatorSettings, (s) => Simulator.make(s))
    const events = yield* Queue.unbounded<Schedules.Event>()
    const clock = new SimulatedClock()
    // the runner as the CLI builds it: the entity in the runner's pools, the schedules, the stores
    const fleet = Fleet.layer(options).pipe(
      Layer.provideMerge(TestRunner.layer),
      Layer.provideMerge(Layer.merge(NodeDatabase.layer(db), FleetKey.layer(crypto.randomBytes(32)))),
      Layer.provideMerge(Layer.succeed(HttpClient.HttpClient, wrap(routing(simulators)))),
      Layer.provideMerge(Layer.succeed(Location.ClientOptions, clientOptions)),
      Layer.provideMerge(Layer.succeed(Schedules.Report, (event) => Queue.offer(events, event)))
    )
    return yield* Effect.provide(body({ simulators, events, clock }), fleet).pipe(
      Effect.withClock(clock),
      Effect.withScheduler(clock.scheduler)
    )
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

/**
 * Lets simulated time pass until `count` events of `tag` about `uId`s (each one's first, in `collected` too) have
 * come; answers them by uId.
 */
const untilEach = <T extends "Synced" | "Failed" | "Expired" | "Overrun">(
  fixture: Fixture,
  tag: T,
  uIds: ReadonlyArray<string>,
  matches: (event: Extract<Schedules.Event, { readonly _tag: T }>) => boolean = () => true
) =>
  Effect.gen(function*() {
    const found = new Map<string, Extract<Schedules.Event, { readonly _tag: T }>>()
    const uIdOf = (event: Schedules.Event) =>
      event._tag === "Synced" ? event.outcome.uId : "uId" in event ? event.uId : undefined
    for (;;) {
      for (const event of collected) {
        const uId = uIdOf(event)
        if (event._tag === tag && uId !== undefined && uIds.includes(uId) && !found.has(uId) && matches(event as never)) {
          found.set(uId, event as Extract<Schedules.Event, { readonly _tag: T }>)
        }
      }
      if (found.size === uIds.length) return found
      collected.push(yield* until(fixture, tag))
    }
  })

/**
 * When a slot's sync starts: a minute after the slot (the tick at the end of the slot's minute sends it, to start
 * then: a minute's slots start spread over the next minute, as the slots are, not at once at the tick).
 */
const startOf = (slot: number) => slot + 60_000

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

    it.effect("each location has a stable slot: 10,000 locations spread over the period and the full pass's window", () =>
      Effect.gen(function*() {
        const period = 15 * 60_000
        const uIds = Array.from({ length: 10_000 }, (_, i) => String(2049025000000000 + i * 7919))
        assert.strictEqual(Schedules.offsetOf(uIds[0]!, period), Schedules.offsetOf(uIds[0]!, period))
        // per second of the period: 10,000 / 900 = 11.1 on average; never all in one
        const perSecond = new Map<number, number>()
        const perMinute = new Array<number>(15).fill(0)
        for (const uId of uIds) {
          const offset = Schedules.offsetOf(uId, period)
          assert.isTrue(offset >= 0 && offset < period && offset % 1000 === 0, String(offset))
          perSecond.set(offset, (perSecond.get(offset) ?? 0) + 1)
          perMinute[Math.floor(offset / 60_000)]! += 1
        }
        assert.isAtLeast(perSecond.size, 850)
        assert.isAtMost(Math.max(...perSecond.values()), 30)
        for (const count of perMinute) assert.isTrue(count > 560 && count < 780, `per minute: ${perMinute.join(", ")}`)
        // one slot each in a period of minute ticks, (m − 1 min, m], and none twice
        const slots = new Map<string, number>()
        for (let to = 60_000; to <= period; to += 60_000) {
          for (const uId of uIds.slice(0, 500)) {
            const slot = Schedules.slotOf(uId, period, to - 60_000, to)
            if (slot === undefined) continue
            assert.isFalse(slots.has(uId), uId)
            slots.set(uId, slot)
          }
        }
        // a slot at 00:00 exactly is the previous period's last tick: (−1 min, 0]
        for (const uId of uIds.slice(0, 500)) {
          const offset = Schedules.offsetOf(uId, period)
          assert.strictEqual(slots.get(uId) ?? (offset === 0 ? 0 : undefined), offset, uId)
          assert.strictEqual(Schedules.slotOf(uId, period, period * 40 - 60_000 + offset, period * 40 + offset), period * 40 + offset)
        }
        // the full pass: one slot a day each, in [02:00, 06:00) of that day, spread over the window
        const cron = Either.getOrThrow(Schedules.parseCron("0 2 * * *"))
        const window = 240 * 60_000
        const day = 86_400_000 * 20_000 // a day in 2024
        const fulls = new Map<string, number>()
        for (let to = day + 60_000; to <= day + 86_400_000; to += 60_000) {
          const starts = Schedules.windowStarts(cron, window, to - 60_000, to)
          for (const uId of uIds.slice(0, 2000)) {
            const slot = Schedules.windowSlotOf(uId, starts, window, to - 60_000, to)
            if (slot === undefined) continue
            assert.isFalse(fulls.has(uId), uId)
            fulls.set(uId, slot)
          }
        }
        assert.strictEqual(fulls.size, 2000)
        const hours = new Array<number>(4).fill(0)
        for (const slot of fulls.values()) {
          assert.isTrue(slot >= day + 2 * 3600_000 && slot < day + 6 * 3600_000, new Date(slot).toISOString())
          hours[Math.floor((slot - day - 2 * 3600_000) / 3600_000)]! += 1
        }
        for (const count of hours) assert.isTrue(count > 400 && count < 600, hours.join(", "))
        // bad options are refused before anything is used (the services here are empty): the schedules' by the
        // schedules and by the runner (Fleet), the runner's pools by the runner
        const refused = <A, E>(layer: Layer.Layer<A, E>) =>
          Effect.map(Effect.either(Layer.build(layer).pipe(Effect.scoped)), (built) =>
            Either.isLeft(built) && built.left instanceof Schedules.ScheduleError ? built.left.message : undefined)
        const services = Layer.mergeAll(
          TestRunner.layer,
          Layer.succeed(TokenStore.TokenStore, {} as TokenStore.Service),
          Layer.succeed(SqlClient.SqlClient, {} as SqlClient.SqlClient),
          Layer.succeed(FleetKey.FleetKey, {} as FleetKey.Service),
          Layer.succeed(HttpClient.HttpClient, {} as HttpClient.HttpClient)
        )
        const bad: ReadonlyArray<readonly [Fleet.Options, string]> = [
          [{ fullWindow: 0 }, "the full pass's window in minutes (--full-window) must be a whole number from 1 to 1440, not 0"],
          [{ fullWindow: 1441 }, "the full pass's window in minutes (--full-window) must be a whole number from 1 to 1440, not 1441"],
          [{ every: 90 }, "--every must be whole minutes from 1 to 59, or a multiple of 60 up to 1440, not 90"],
          [{ fullCron: "0 25 * * *" }, `the cron expression "0 25 * * *" (--full-cron) is invalid`],
          [{ incrementalConcurrency: 0 }, "the incremental syncs at once (--incremental-concurrency) must be a whole number from 1 to 10000, not 0"],
          [{ fullConcurrency: 1.5 }, "the full syncs at once (--full-concurrency) must be a whole number from 1 to 10000, not 1.5"],
          [{ incrementalConcurrency: 10_001 }, "the incremental syncs at once (--incremental-concurrency) must be a whole number from 1 to 10000, not 10001"]
        ]
        for (const [options, message] of bad) {
          const label = JSON.stringify(options)
          const resolved = Fleet.resolve(options)
          assert.isTrue(Either.isLeft(resolved), label)
          if (Either.isLeft(resolved)) assert.include(resolved.left.message, message, label)
          assert.include(yield* refused(Fleet.layer(options).pipe(Layer.provide(services))), message, label)
          const pools = "incrementalConcurrency" in options || "fullConcurrency" in options
          if (pools) {
            assert.include(yield* refused(Fleet.layerLocations(options).pipe(Layer.provide(services))), message, label)
          } else {
            assert.include(yield* refused(Schedules.layer(options).pipe(Layer.provide(services))), message, label)
          }
        }
        assert.isTrue(Either.isRight(Fleet.resolve({ incrementalConcurrency: 10_000, fullConcurrency: 1, every: 60 })))
      }))

    it.prop(
      "a location's next starts (fleet status) are its first slots after now, each a minute on; the cron's next time",
      {
        n: FastCheck.integer({ min: 0, max: 999_999_999 }),
        now: FastCheck.integer({ min: 0, max: 4_000_000_000_000 }),
        every: FastCheck.constantFrom(1, 5, 15, 59, 60, 120, 1440)
      },
      ({ every, n, now }) => {
        const uId = String(2049025000000000 + n)
        const minute = 60_000
        const period = every * minute
        const day = 86_400_000
        const { full, incremental } = Either.getOrThrow(Schedules.nextStarts({ every }))(uId, now)
        // the incremental: a minute after a slot of the location's offset in the period, the first such after now
        const slot = incremental.getTime() - minute
        assert.strictEqual((((slot - Schedules.offsetOf(uId, period)) % period) + period) % period, 0)
        assert.isAbove(incremental.getTime(), now)
        assert.isAtMost(incremental.getTime() - period, now)
        // the full pass (02:00 UTC, a window of 240 minutes): a minute after 02:00 + the offset in the window, daily
        const fullSlot = full.getTime() - minute - Schedules.offsetOf(uId, 240 * minute)
        assert.strictEqual(((fullSlot % day) + day) % day, 2 * 3_600_000)
        assert.isAbove(full.getTime(), now)
        assert.isAtMost(full.getTime() - day, now)
        // an incremental cron: every location at its next time, not spread
        const cron = Either.getOrThrow(Schedules.nextStarts({ incrementalCron: "*/5 * * * *" }))(uId, now)
        assert.strictEqual(cron.incremental.getTime(), (Math.floor(now / (5 * minute)) + 1) * 5 * minute)
      }
    )

    it.scoped("each location syncs at its slot: incremental every 15 minutes, full in its window after the cron", () =>
      withSchedules([settings(3), settings(4)], (fixture) =>
        Effect.gen(function*() {
          const { simulators } = fixture
          collected = []
          const uIds = yield* addLocations(simulators)
          assert.notStrictEqual(uIds[0], uIds[1])
          const period = 15 * 60_000
          // the schedules as the runner recorded them in the database, and the next starts they tell (fleet status)
          // as of 00:01, the first tick (the schedules cover from their start, 00:00: a slot before it is not sent)
          const stored = Option.getOrThrow(yield* Schedules.stored)
          assert.deepStrictEqual(stored, { every: 15, fullCron: "40 0 * * *", fullWindow: 10 })
          const startsOf = Either.getOrThrow(Schedules.nextStarts(stored))
          const told = new Map(uIds.map((uId) => [uId, startsOf(uId, 60_000)]))
          // the first incremental sync of each at the tick of its slot in the first period (the clock starts at 00:00)
          const first = yield* untilEach(fixture, "Synced", uIds)
          for (const uId of uIds) {
            const outcome = first.get(uId)!.outcome
            assert.strictEqual(outcome.result, "synced")
            assert.strictEqual(outcome.startedAt.getTime() - startOf(Schedules.offsetOf(uId, period)), 0, uId)
            assert.strictEqual(told.get(uId)!.incremental.getTime(), outcome.startedAt.getTime(), uId)
          }
          for (const [i, simulator] of simulators.entries()) yield* assertEqualsSimulator(simulator, uIds[i]!)

          // changes arrive incrementally at the location's next slot, a period later
          yield* simulators[0]!.churn("assignments", { inserts: 4, updates: 3 })
          const second = (yield* untilEach(fixture, "Synced", [uIds[0]!], (e) => e.outcome.startedAt > first.get(uIds[0]!)!.outcome.startedAt))
            .get(uIds[0]!)!.outcome
          assert.strictEqual(second.startedAt.getTime(), startOf(Schedules.offsetOf(uIds[0]!, period)) + period)
          const afterFirst = first.get(uIds[0]!)!.outcome.startedAt.getTime()
          assert.strictEqual(
            startsOf(uIds[0]!, afterFirst).incremental.getTime(),
            second.startedAt.getTime()
          )
          assert.strictEqual(second.resources.find((r) => r.resource === "assignments")!.mode, "incremental")
          yield* assertEqualsSimulator(simulators[0]!, uIds[0]!)

          // the full pass at 00:40 (nightly by default) + each location's offset in the window of 10 minutes
          const full = yield* untilEach(fixture, "Synced", uIds, (e) => e.outcome.full)
          for (const uId of uIds) {
            const outcome = full.get(uId)!.outcome
            const start = startOf(40 * 60_000 + Schedules.offsetOf(uId, 10 * 60_000))
            assert.strictEqual(told.get(uId)!.full.getTime(), start, uId)
            // at its start, or, when the location's incremental started at the same time and took its turn first
            // (the first location's slots coincide at 00:45:44), as that sync ended
            const before = collected.find((e) =>
              e._tag === "Synced" && e.outcome.uId === uId && !e.outcome.full && e.outcome.startedAt.getTime() === start &&
              e.outcome.finishedAt <= outcome.startedAt
            )
            const expected = before?._tag === "Synced" ? before.outcome.finishedAt.getTime() : start
            assert.strictEqual(outcome.startedAt.getTime(), expected, uId)
            for (const r of outcome.resources) assert.strictEqual(r.mode, "full")
          }
          assert.deepStrictEqual(take("Failed"), [])
          assert.deepStrictEqual(take("Overrun"), [])
        }), { fullCron: "40 0 * * *", fullWindow: 10 }), 180_000)

    it.scoped("a tick held up past its minute covers every slot since the previous one: none lost, none twice", () =>
      withSchedules([settings(16), settings(17), settings(18)], (fixture) =>
        Effect.gen(function*() {
          const { simulators } = fixture
          collected = []
          const uIds = yield* addLocations(simulators)
          const period = 15 * 60_000
          // the database is busy (its one connection held, as a long sync's transaction holds it) from before the
          // first tick (00:01) until 00:16: that tick waits for the token store, no other tick comes meanwhile
          const sql = yield* SqlClient.SqlClient
          const release = yield* Deferred.make<void>()
          const holding = yield* Effect.fork(sql.withTransaction(Deferred.await(release)))
          yield* fixture.clock.advance(16 * 60_000 + 10_000)
          assert.deepStrictEqual(collected, [])
          assert.isTrue(Option.isNone(yield* Queue.poll(fixture.events)))
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(holding)
          // the late tick covers from where the schedule began (00:00), at most a period back (00:01), to its minute
          // (00:16): a whole period, every location's slot in it
          const tick = yield* until(fixture, "Tick")
          assert.deepStrictEqual({ from: tick.from.getTime(), to: tick.to.getTime() }, { from: 60_000, to: 16 * 60_000 })
          assert.deepStrictEqual([...tick.locations].sort(), [...uIds].sort())
          assert.include(Schedules.tickMessage(tick), "catching up: slots since 1970-01-01T00:01:00.000Z")
          // each sync a minute after its slot: the last by a minute after the tick's end
          assert.include(Schedules.tickMessage(tick), "starting by 1970-01-01T00:17:00.000Z")
          const synced = yield* untilEach(fixture, "Synced", uIds)
          for (const [i, simulator] of simulators.entries()) yield* assertEqualsSimulator(simulator, uIds[i]!)
          // each once: the next ones at their slots of the next period, a minute's ticks again
          const next = yield* untilEach(
            fixture,
            "Synced",
            uIds,
            (e) => e.outcome.startedAt > synced.get(e.outcome.uId)!.outcome.startedAt
          )
          for (const uId of uIds) {
            const offset = Schedules.offsetOf(uId, period)
            const slot = offset <= 60_000 ? 2 * period + offset : period + offset
            assert.strictEqual(next.get(uId)!.outcome.startedAt.getTime(), startOf(slot), uId)
          }
          for (const event of take("Tick")) assert.strictEqual(event.to.getTime() - event.from.getTime(), 60_000)
          assert.deepStrictEqual(take("Failed"), [])
          assert.deepStrictEqual(take("Overrun"), [])
        })), 120_000)

    it.scoped("at most the schedule's concurrency syncs at once; a slot whose previous sync has not finished is an overrun, reported and counted", () =>
      Effect.gen(function*() {
        // every location's Client Config (a sync's first request) waits until the test lets it go
        const held: Array<{ readonly token: string; readonly go: Deferred.Deferred<void> }> = []
        let holding = true
        const gate = (client: HttpClient.HttpClient) =>
          HttpClient.make((request) =>
            Effect.gen(function*() {
              if (holding && request.url.endsWith("/client/config")) {
                const go = yield* Deferred.make<void>()
                held.push({ token: request.headers["authorization"] ?? "", go })
                yield* Deferred.await(go)
              }
              return yield* client.execute(request)
            })
          )
        const overruns = Metric.tagged(FleetMetrics.scheduleOverruns, "schedule", "incremental")
        yield* withSchedules([settings(11), settings(12), settings(13), settings(14), settings(15)], (fixture) =>
          Effect.gen(function*() {
            const { simulators } = fixture
            collected = []
            holding = false
            const uIds = yield* addLocations(simulators)
            holding = true
            const before = (yield* Metric.value(overruns)).count
            // every minute every location is due (every: 1): 5 at 00:01, 2 at once, the others wait for the pool
            const tick = yield* until(fixture, "Tick")
            assert.deepStrictEqual([...tick.locations].sort(), [...uIds].sort())
            yield* fixture.clock.advance(30_000)
            // (a request held past the client's timeout is tried again: the syncs are the tokens held)
            const syncing = () => new Set(held.map((h) => h.token)).size
            assert.strictEqual(syncing(), 2)
            // 00:02: every location's previous sync is running or waiting: 5 overruns, nothing started twice
            const overrun = yield* untilEach(fixture, "Overrun", uIds)
            for (const event of overrun.values()) {
              // each location's slot in the minute to 00:02, a period after the one of its running (or waiting) sync
              const offset = Schedules.offsetOf(event.uId, 60_000)
              assert.strictEqual(event.slot.getTime(), offset === 0 ? 120_000 : 60_000 + offset)
              assert.deepStrictEqual(event.running, { full: false, slot: new Date(event.slot.getTime() - 60_000) })
              assert.include(
                Schedules.overrunMessage(event),
                `location ${event.uId}: incremental sync due ${event.slot.toISOString()} not started: its incremental sync due ${event.running.slot.toISOString()} has not finished`
              )
            }
            assert.strictEqual((yield* Metric.value(overruns)).count - before, 5)
            assert.strictEqual(syncing(), 2)
            assert.deepStrictEqual(take("Synced"), [])
            // one let go: its sync ends, and one waiting sync takes its place (still 2 at once)
            for (const h of held.filter((h) => h.token === held[0]!.token)) yield* Deferred.succeed(h.go, undefined)
            yield* untilEach(fixture, "Synced", uIds.filter((_, i) => held[0]!.token === `Bearer ${Redacted.value(simulators[i]!.token.value)}`))
            yield* fixture.clock.advance(1000)
            assert.strictEqual(syncing(), 3)
            // all let go: every location syncs and reaches equality
            holding = false
            for (const h of held) yield* Deferred.succeed(h.go, undefined)
            yield* untilEach(fixture, "Synced", uIds)
            for (const [i, simulator] of simulators.entries()) yield* assertEqualsSimulator(simulator, uIds[i]!)
            assert.deepStrictEqual(take("Failed"), [])
          }), { every: 1, incrementalConcurrency: 2, fullCron: "0 23 * * *" }, gate)
      }), 120_000)

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
            // the slot's sync starts up to a minute after the tick
            for (let second = 0; !(yield* Deferred.isDone(started)); second += 5) {
              assert.isBelow(second, 120, "the scheduled sync did not start within two simulated minutes of its tick")
              yield* fixture.clock.advance(5000)
            }
            // the scheduled sync is running (held at its first resource): an on-demand sync is sent
            const onDemand = yield* Effect.fork((yield* Location.Location.client)(uId!).Sync({ full: true }))
            for (let i = 0; i < 50; i++) yield* Effect.promise(() => new Promise((r) => setImmediate(r)))
            assert.isTrue(Option.isNone(yield* onDemand.poll), "the on-demand sync ended while the scheduled one ran")
            assert.strictEqual((yield* simulator.log).filter(isClientConfig).length, 1)
            yield* Deferred.succeed(proceed, undefined)
            const outcome = yield* Fiber.join(onDemand)
            const scheduled = (yield* until(fixture, "Synced")).outcome
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

    it.scoped("a failing sync is reported and tried again at its next slot; the other locations sync meanwhile", () =>
      withSchedules([settings(6), settings(7)], (fixture) =>
        Effect.gen(function*() {
          const { simulators } = fixture
          collected = []
          const uIds = yield* addLocations(simulators)
          // the first location's users endpoint refuses once (not a retried error)
          yield* simulators[0]!.inject({ _tag: "Error", status: 400, errorNumber: 9600 }, { path: "/v2/users" })
          const failed = (yield* untilEach(fixture, "Failed", [uIds[0]!])).get(uIds[0]!)!
          assert.strictEqual(failed.outcome?.result, "failed")
          assert.strictEqual(failed.failure.tag, "BadRequestError")
          yield* untilEach(fixture, "Synced", [uIds[1]!])
          yield* assertEqualsSimulator(simulators[1]!, uIds[1]!)

          // its next slot, a period later, tries it again, and it syncs
          const retried = (yield* untilEach(fixture, "Synced", [uIds[0]!])).get(uIds[0]!)!.outcome
          assert.strictEqual(retried.startedAt.getTime() - failed.outcome!.startedAt.getTime(), 15 * 60_000)
          assert.deepStrictEqual(take("Failed").map((e) => e.uId), [uIds[0]])
          yield* assertEqualsSimulator(simulators[0]!, uIds[0]!)
        })), 120_000)

    it.scoped("a location whose token expired is reported at its slot and skipped: no request to Apple", () =>
      withSchedules([settings(8), settings(9, { tokenExpiresAt: new Date(5 * 60_000) })], (fixture) =>
        Effect.gen(function*() {
          const { simulators } = fixture
          collected = []
          const uIds = yield* addLocations(simulators.slice(0, 1))
          // the expired token's location is stated (the simulator refuses an expired token's Client Config); its slot
          // is after the expiry (a uId whose offset is)
          let expiredUId = 2049025000000001
          while (Schedules.offsetOf(String(expiredUId), 15 * 60_000) <= 6 * 60_000) expiredUId++
          yield* Effect.flatMap(TokenStore.TokenStore, (tokens) =>
            tokens.add({ token: simulators[1]!.token.value, uId: String(expiredUId), name: "sim1" }))
          uIds.push(String(expiredUId))
          const expired = (yield* untilEach(fixture, "Expired", [uIds[1]!])).get(uIds[1]!)!
          assert.deepStrictEqual(expired.tokens, ["sim1"])
          assert.strictEqual(expired.expiredAt.getTime(), 5 * 60_000)
          yield* untilEach(fixture, "Synced", [uIds[0]!])
          assert.deepStrictEqual([...new Set(take("Synced").map((e) => e.outcome.uId))], [uIds[0]])
          assert.deepStrictEqual(take("Failed"), [])
          assert.deepStrictEqual(yield* simulators[1]!.log, [])
          assert.isAbove((yield* simulators[0]!.log).length, 0)
          assert.deepStrictEqual(yield* SyncStore.locations.pipe(Effect.map((ls) => ls.map((l) => l.uId))), [uIds[0]])
        })), 120_000)
  })
})
