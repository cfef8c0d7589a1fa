/**
 * The fleet's schedules with `@effect/cluster`'s `ClusterCron`: an incremental sync of every location every N minutes
 * (default 15) and a full pass nightly (default from `"0 2 * * *"`, UTC, spread over a window of 240 minutes).
 *
 * Each location has its own slot in each period, so the fleet's syncs are spread over it instead of all starting at
 * once (BENCHMARKS.md, "Fleet: scale model", where it broke first):
 *
 * - incremental: at `k × every + offset` (from 1970-01-01T00:00Z), the offset a stable hash of the `uId` modulo the
 *   period (whole seconds): 10,000 locations every 15 minutes are about 11 a second, every location synced once a
 *   period, at the same time of the period each time;
 * - full: at `start + offset`, `start` each time the full cron fires, the offset the hash modulo the window.
 *
 * Each schedule is ONE cron job (`vppkit-fleet/incremental`, `vppkit-fleet/full`) that ticks every minute and starts
 * the syncs of the locations whose slot fell in the time it covers, reading the locations from the
 * {@link TokenStore.TokenStore} as it is then (a location added later gets its slot at once, a removed one none).
 * A tick covers the time from where the schedule's previous tick left off to the start of its own minute, recorded
 * in the fleet's database (`vppkit_fleet_schedules`) in the same transaction that takes it: a tick that comes late
 * (behind a busy database, after a restart, on another runner of a cluster) starts every slot it missed, and two
 * ticks never start the same slot. After a stop the first tick goes back at most one period (incremental) or one
 * day (full): each location whose slot passed meanwhile is synced once, not once per missed slot. A tick does not
 * wait for its syncs: it sends each due location its slot (a `Scheduled { full, slot, startAt }` message to its
 * {@link Location.Location} entity) and ends, so the next tick is never late and no slot is lost behind a long sync.
 * The entity starts the sync at `startAt`, a minute after the slot: the slots a tick covers (its minute) start over
 * the next minute at their own seconds, as they are spread, not all at the tick (the pools and the database's
 * connections see ~11 syncs start a second at 10,000 locations, not 667 at each minute's start). With an
 * `incrementalCron` every location's slot is the cron's time, started at once.
 *
 * The syncs run where the locations are: each entity runs its scheduled syncs in the pool of its mode of the runner
 * that owns it (at most `incrementalConcurrency`, default 16, and `fullConcurrency`, default 4, syncs at once per
 * runner: options of `Location.layerWith`, not of the schedules; `Fleet.layer` builds a runner with both and checks
 * them together). A tick runs on whichever runner owns its cron message (each tick may land on
 * another), so neither the pools nor the bookkeeping of unfinished syncs are the tick's: with k runners, up to k
 * times the pools run at once, each runner's own syncs bounded by its own pools (and its own database connections).
 *
 * - A location whose slot comes while its previous scheduled sync of the same schedule has not finished — still
 *   running, or still waiting for its start, its turn or its runner's pool — is not synced twice: its entity (one owner in the
 *   cluster, whichever runner's tick sent either slot) answers an overrun at once — or the tick's runner knows it
 *   without asking, when its own previous slot of the location is still unanswered — and the slot is reported
 *   ({@link Event} `Overrun`, a warning) and counted (`vppkit_fleet_schedule_overruns_total{schedule}`, on the
 *   runner whose tick sent it), never skipped silently. A slot of the other schedule is not an overrun: its sync
 *   waits behind the running one (a location's syncs run one after another).
 * - A location's sync that fails is reported (`Failed`) and is tried again at its next slot.
 * - A location whose tokens have all expired (the latest expiry is past) is reported (`Expired`) at its slot and
 *   skipped: no message to its entity, so no request to Apple with a dead token.
 * - A token stored without a `uId` is reported (`Unscheduled`), once an incremental period: it names no location.
 * - An on-demand `Sync` message to a location (`vppkit fleet sync`) while a scheduled one runs waits behind it, and
 *   a scheduled one behind it: a location's syncs run one after another. On-demand syncs take no permit of the pools.
 *
 * The events of a tick's syncs are reported by the runner that ran the tick, when each entity answers.
 *
 * @since 0.1.0
 */
import * as ClusterCron from "@effect/cluster/ClusterCron"
import type * as Sharding from "@effect/cluster/Sharding"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Cron from "effect/Cron"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as FleetMetrics from "./FleetMetrics.js"
import * as coverage from "./internal/coverage.js"
import * as WholeIn from "./internal/wholeIn.js"
import * as Location from "./Location.js"
import * as TokenStore from "./TokenStore.js"

/**
 * What a schedule did, as it happened: a tick started the syncs of the locations whose slot came in the time it
 * covers (`Tick`, then
 * `TickDone` once they are handed to the pool), a location synced or failed, a location's slot came while its
 * previous scheduled sync had not finished (`Overrun`: `running` says which sync and its slot), a location was
 * skipped because its tokens expired, a token names no location. `Failed` with `uId` `"*"`: the token store or the
 * schedule's coverage could not be read (the tick ends; the next one covers its time too).
 *
 * @since 0.1.0
 * @category models
 */
export type Event =
  | {
    readonly _tag: "Tick"
    readonly full: boolean
    readonly at: Date
    /** The time the tick covers, `(from, to]`: a minute when the tick is on time, more when it catches up. */
    readonly from: Date
    readonly to: Date
    readonly locations: ReadonlyArray<string>
    /** How long after its slot each of their syncs starts: a minute for the locations' own slots, else 0. */
    readonly startDelay: number
  }
  | { readonly _tag: "Synced"; readonly outcome: Location.Outcome }
  | {
    readonly _tag: "Failed"
    readonly uId: string
    readonly full: boolean
    readonly failure: Location.Failure
    readonly outcome: Location.Outcome | undefined
  }
  | {
    readonly _tag: "Overrun"
    readonly uId: string
    readonly full: boolean
    readonly slot: Date
    readonly running: { readonly full: boolean; readonly slot: Date }
  }
  | { readonly _tag: "Expired"; readonly uId: string; readonly full: boolean; readonly expiredAt: Date; readonly tokens: ReadonlyArray<string> }
  | { readonly _tag: "Unscheduled"; readonly fingerprint: string; readonly name: string | undefined }
  | { readonly _tag: "TickDone"; readonly full: boolean; readonly at: Date }

/**
 * Where a schedule's {@link Event}s go. Default: the log (a failure, an overrun or an expired token as a warning).
 *
 * @since 0.1.0
 * @category config
 */
export class Report extends Context.Reference<Report>()("@vppkit/fleet/Schedules/Report", {
  defaultValue: (): (event: Event) => Effect.Effect<void> => logEvent
}) {}

const tokenLabel = (token: TokenStore.TokenInfo) => token.name ?? token.fingerprint.slice(0, 12)

const modeName = (full: boolean) => full ? "full" : "incremental"

/**
 * An overrun in words: the slot, and the sync that had not finished.
 *
 * @since 0.1.0
 * @category reporting
 */
export const overrunMessage = (event: Extract<Event, { readonly _tag: "Overrun" }>): string =>
  `location ${event.uId}: ${modeName(event.full)} sync due ${event.slot.toISOString()} not started: its ${
    modeName(event.running.full)
  } sync due ${event.running.slot.toISOString()} has not finished (too few syncs at once for the schedule?)`

/**
 * A tick in words: how many locations, by when their syncs start (when they start after the tick: each a minute
 * after its slot), and since when when it caught up (covered more than a minute).
 *
 * @since 0.1.0
 * @category reporting
 */
export const tickMessage = (event: Extract<Event, { readonly _tag: "Tick" }>): string =>
  `${modeName(event.full)} sync of ${event.locations.length} location(s)${
    event.startDelay > 0 ? `, starting by ${new Date(event.to.getTime() + event.startDelay).toISOString()}` : ""
  }${
    event.to.getTime() - event.from.getTime() > minuteMillis
      ? ` (catching up: slots since ${event.from.toISOString()})`
      : ""
  }`

/**
 * Logs an {@link Event} (never a token: tokens are named by their name or fingerprint's prefix).
 *
 * @since 0.1.0
 * @category reporting
 */
export const logEvent = (event: Event): Effect.Effect<void> => {
  switch (event._tag) {
    case "Tick":
      return Effect.logInfo(tickMessage(event))
    case "Synced":
      return Effect.logInfo(`location ${event.outcome.uId} synced`)
    case "Failed":
      return Effect.logWarning(
        `location ${event.uId}: ${event.failure.tag}: ${event.failure.message} (tried again at its next slot)`
      )
    case "Overrun":
      return Effect.logWarning(overrunMessage(event))
    case "Expired":
      return Effect.logWarning(
        `location ${event.uId} skipped: its token(s) ${event.tokens.join(", ")} expired ${event.expiredAt.toISOString()}`
      )
    case "Unscheduled":
      return Effect.logWarning(`token ${event.name ?? event.fingerprint.slice(0, 12)} names no location (no uId): not synced`)
    case "TickDone":
      return Effect.void
  }
}

/**
 * A schedule's options:
 * - `every`: minutes between a location's incremental syncs (default 15);
 * - `fullCron`: when the full pass's window opens (a cron expression, UTC, default `"0 2 * * *"`);
 * - `fullWindow`: minutes over which the full pass is spread (default 240: each location's full sync starts within
 *   4 hours of the cron; 1 starts them all in the cron's minute);
 * - `incrementalCron` (tests): a cron expression (UTC, seconds allowed) instead of `every`: every location at each
 *   of its times, none spread.
 *
 * @since 0.1.0
 * @category models
 */
export const Options = Schema.Struct({
  every: Schema.optional(Schema.Number),
  fullCron: Schema.optional(Schema.String),
  fullWindow: Schema.optional(Schema.Number),
  incrementalCron: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends Schema.Schema.Type<typeof Options> {}

/**
 * The default minutes between incremental syncs.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultEvery = 15

/**
 * The default cron expression of the nightly full pass (UTC).
 *
 * @since 0.1.0
 * @category config
 */
export const defaultFullCron = "0 2 * * *"

/**
 * The default minutes over which the full pass is spread.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultFullWindow = 240

/**
 * A schedule that cannot be: `every`, the window or (`Fleet.resolve`) a runner's pool out of range, or a cron
 * expression that does not parse.
 *
 * @since 0.1.0
 * @category errors
 */
export class ScheduleError extends Schema.TaggedError<ScheduleError>("@vppkit/fleet/ScheduleError")(
  "ScheduleError",
  { reason: Schema.String }
) {
  override get message(): string {
    return this.reason
  }
}

/**
 * The cron of "every N minutes": `*\/N * * * *` for N from 1 to 59 (at minutes 0, N, 2N, … of each hour: when N
 * does not divide 60 the last gap of the hour is shorter), `0 *\/H * * *` for N a multiple of 60 up to 1440.
 * (The schedules themselves use N as a period: {@link slotOf}.)
 *
 * @since 0.1.0
 * @category constructors
 */
export const everyMinutes = (every: number): Either.Either<Cron.Cron, ScheduleError> => {
  if (Number.isInteger(every) && every >= 1 && every <= 59) return Either.right(Cron.unsafeParse(`*/${every} * * * *`, "UTC"))
  if (Number.isInteger(every) && every % 60 === 0 && every >= 60 && every <= 1440) {
    return Either.right(Cron.unsafeParse(every === 1440 ? "0 0 * * *" : `0 */${every / 60} * * *`, "UTC"))
  }
  return Either.left(
    new ScheduleError({ reason: `--every must be whole minutes from 1 to 59, or a multiple of 60 up to 1440, not ${every}` })
  )
}

/**
 * Parses a cron expression (5 or 6 fields, UTC).
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseCron = (expression: string): Either.Either<Cron.Cron, ScheduleError> =>
  Either.mapLeft(
    Cron.parse(expression, "UTC"),
    (error) => new ScheduleError({ reason: `the cron expression "${expression}" (--full-cron) is invalid: ${error.message}` })
  )

/** FNV-1a, 32 bits, of the string's UTF-16 code units: stable across processes and versions. */
const fnv1a = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

/**
 * A location's offset in a period of `periodMillis`: a stable hash of its key (`uId`) modulo the period, in whole
 * seconds (in milliseconds, from 0 to the period less a second).
 *
 * @since 0.1.0
 * @category scheduling
 */
export const offsetOf = (key: string, periodMillis: number): number =>
  (fnv1a(key) % Math.max(1, Math.floor(periodMillis / 1000))) * 1000

/**
 * The slot of `key` in a period of `periodMillis` (from 1970-01-01T00:00Z) that falls in `(from, to]`, if one does
 * (the latest when several do).
 *
 * @since 0.1.0
 * @category scheduling
 */
export const slotOf = (key: string, periodMillis: number, from: number, to: number): number | undefined => {
  const offset = offsetOf(key, periodMillis)
  const slot = Math.floor((to - offset) / periodMillis) * periodMillis + offset
  return slot > from ? slot : undefined
}

/**
 * When the windows that can hold a slot in `(from, to]` open: the times `cron` fires in `(from − window, to]`.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const windowStarts = (cron: Cron.Cron, windowMillis: number, from: number, to: number): ReadonlyArray<number> => {
  const starts: Array<number> = []
  for (let start = Cron.next(cron, new Date(from - windowMillis)).getTime(); start <= to && starts.length < 10_000;) {
    starts.push(start)
    start = Cron.next(cron, new Date(start)).getTime()
  }
  return starts
}

/**
 * The slot of `key` in the windows of `windowMillis` opening at `starts` ({@link windowStarts}): `start + offset`
 * falling in `(from, to]`, if one does (the latest when several do).
 *
 * @since 0.1.0
 * @category scheduling
 */
export const windowSlotOf = (
  key: string,
  starts: ReadonlyArray<number>,
  windowMillis: number,
  from: number,
  to: number
): number | undefined => {
  const offset = offsetOf(key, windowMillis)
  let found: number | undefined
  for (const start of starts) if (start + offset > from && start + offset <= to) found = start + offset
  return found
}

const minuteMillis = 60_000
const everyMinute = Cron.unsafeParse("* * * * *", "UTC")

/**
 * A schedule: when it ticks, up to when a tick at `now` covers (`coveredUntil`), how far back its first tick and a
 * late one go (`firstBack`, `maxBack`), and which slot (if any) of a location falls in a span `(from, to]`.
 */
interface Plan {
  readonly full: boolean
  /**
   * How long after its slot a slot's sync starts ({@link startOf}): a minute when the slots are the locations' own
   * (spread over a period or a window), so that a tick's slots start over the next minute as they are spread, not
   * at once; none for the cron's times, which are everyone's.
   */
  readonly startDelay: number
  readonly ticker: Cron.Cron
  readonly coveredUntil: (now: number) => number
  readonly firstBack: number
  readonly maxBack: number
  readonly slot: (key: string, from: number, to: number) => number | undefined
  /** A location's first slot after `after`. */
  readonly next: (key: string, after: number) => number
}

/**
 * When a slot's sync starts: `startDelay` after the slot — a minute for the locations' own slots, so that the slots a
 * tick covers (its minute) start over the next minute as they are spread, not at once (the pools and the database's
 * connections see the fleet's syncs arrive ~11 a second at 10,000 locations, not 667 each minute); at once for the
 * cron's times. A start already past (a late tick, a message handled late) is at once.
 */
const startOf = (plan: Plan, slot: number): Date => new Date(slot + plan.startDelay)

/** A tick at `now` covers up to the start of its minute (a tick at 12:05:00.3 covers the slots until 12:05:00). */
const minuteOf = (now: number) => Math.floor(now / minuteMillis) * minuteMillis

/**
 * What the schedules of one runner share: the scope the scheduled syncs are awaited in (the layer's), and the slots
 * this runner's ticks sent that have not been answered yet, by schedule and location (`incremental 2049…`).
 */
interface Dispatcher {
  readonly scope: Scope.Scope
  readonly awaiting: Map<string, { readonly full: boolean; readonly slot: Date }>
}

/** A slot not started because the location's previous scheduled sync of the schedule has not finished: counted, reported. */
const overrun = (uId: string, full: boolean, slot: Date, running: { readonly full: boolean; readonly slot: Date }) =>
  Effect.zipRight(
    Metric.increment(Metric.tagged(FleetMetrics.scheduleOverruns, "schedule", modeName(full))),
    Effect.flatMap(Report, (report) => report({ _tag: "Overrun", uId, full, slot, running: { full: running.full, slot: running.slot } }))
  )

/**
 * A location's scheduled sync (`Scheduled { full, slot }` to its entity, run in the pool of the runner that owns it),
 * reported when it ends: synced, failed, or not started because its previous one has not finished (an overrun,
 * counted); an interruption is not reported.
 */
const syncLocation = (uId: string, full: boolean, slot: Date, startAt: Date) =>
  Effect.gen(function*() {
    const report = yield* Report
    const makeClient = yield* Location.Location.client
    const exit = yield* Effect.exit(makeClient(uId).Scheduled({ full, slot, startAt }))
    if (Exit.isSuccess(exit)) return yield* report({ _tag: "Synced", outcome: exit.value })
    // an interruption (the runner shuts down) is not a failure to report
    if (Cause.isInterruptedOnly(exit.cause)) return
    const error = Cause.squash(exit.cause)
    if (error instanceof Location.OverrunError) return yield* overrun(uId, full, slot, error.running)
    const outcome = error instanceof Location.LocationSyncError ? error.outcome : undefined
    const failure = outcome?.failure ?? new Location.Failure({
      tag: typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Defect",
      message: error instanceof Error ? error.message : String(error)
    })
    yield* report({ _tag: "Failed", uId, full, failure, outcome })
  })

/**
 * One tick of a schedule: each location of the token store whose slot fell in the time the tick covers (from where
 * the previous tick left off, recorded in the database) is sent its slot (a `Scheduled { full, slot }` message to
 * its entity, which runs it in its runner's pool or answers an overrun; reported when it answers) — unless this
 * runner's previous slot of the location is still unanswered (an overrun, reported and counted) or its tokens
 * expired (reported). Does not wait for the syncs; never fails.
 */
const tick = Effect.fn("Schedules.tick")(function*(plan: Plan, dispatcher: Dispatcher) {
  const report = yield* Report
  const tokens = yield* TokenStore.TokenStore
  const full = plan.full
  const taken = yield* Effect.either(Effect.gen(function*() {
    const listed = yield* tokens.list
    // the span is taken once the tokens are read: a tick held by a busy database covers the time it waited too
    const now = yield* Clock.currentTimeMillis
    const span = yield* coverage.advance(modeName(full), plan.coveredUntil(now), {
      firstBack: plan.firstBack,
      maxBack: plan.maxBack
    })
    return { listed, now, span }
  }))
  if (Either.isLeft(taken)) {
    // the token store or the coverage cannot be read: the tick ends, the next one covers its time too
    yield* report({
      _tag: "Failed",
      uId: "*",
      full,
      failure: new Location.Failure({ tag: taken.left._tag, message: taken.left.message }),
      outcome: undefined
    })
    return
  }
  const { listed, now, span } = taken.right
  // the time is covered already (by a tick of another runner)
  if (Option.isNone(span)) return
  const { from, to } = span.value
  for (const token of listed) {
    // a token without a uId, once a period (at the token's own slot), by the incremental schedule
    if (token.uId === undefined && !full && plan.slot(token.fingerprint, from, to) !== undefined) {
      yield* report({ _tag: "Unscheduled", fingerprint: token.fingerprint, name: token.name })
    }
  }
  const locations = TokenStore.byLocation(listed)
  const due = [...locations.keys()].flatMap((uId) => {
    const slot = plan.slot(uId, from, to)
    return slot === undefined ? [] : [{ uId, slot: new Date(slot) }]
  })
  if (due.length === 0) return
  const at = new Date(now)
  yield* report({
    _tag: "Tick",
    full,
    at,
    from: new Date(from),
    to: new Date(to),
    locations: due.map((d) => d.uId),
    startDelay: plan.startDelay
  })
  for (const { slot, uId } of due) {
    const { expiresAt, tokens: group } = locations.get(uId)!
    if (expiresAt.getTime() <= now) {
      yield* report({ _tag: "Expired", uId, full, expiredAt: expiresAt, tokens: group.map(tokenLabel) })
      continue
    }
    // a slot this runner sent and its entity has not answered: its sync has not finished, an overrun known here
    // without a message (a slot sent by another runner's tick is the entity's to tell)
    const key = `${modeName(full)} ${uId}`
    const awaiting = dispatcher.awaiting.get(key)
    if (awaiting !== undefined) {
      yield* overrun(uId, full, slot, awaiting)
      continue
    }
    const entry = { full, slot }
    dispatcher.awaiting.set(key, entry)
    // awaited in the layer's scope, not the tick's: a tick waits for none of its syncs. One slot per location and
    // schedule awaits its answer at a time, so they are bounded by the locations.
    yield* syncLocation(uId, full, slot, startOf(plan, slot.getTime())).pipe(
      Effect.ensuring(Effect.sync(() => {
        if (dispatcher.awaiting.get(key) === entry) dispatcher.awaiting.delete(key)
      })),
      // the tick runs uninterruptibly (a ClusterCron message): its syncs may be interrupted when the layer ends
      Effect.interruptible,
      Effect.forkIn(dispatcher.scope)
    )
  }
  yield* report({ _tag: "TickDone", full, at })
})

const wholeIn = WholeIn.wholeIn((reason) => new ScheduleError({ reason }))

/**
 * A schedule's options checked, with their defaults: the parsed crons, whole numbers in range. Fails with a
 * {@link ScheduleError} naming what cannot be (a command checks its flags with it before it opens anything).
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (options?: Options): Either.Either<
  {
    readonly every: number
    readonly incrementalCron: Cron.Cron | undefined
    readonly fullCron: Cron.Cron
    readonly fullWindow: number
  },
  ScheduleError
> =>
  Either.gen(function*() {
    const every = options?.every ?? defaultEvery
    yield* everyMinutes(every)
    return {
      every,
      incrementalCron: options?.incrementalCron === undefined ? undefined : yield* parseCron(options.incrementalCron),
      fullCron: yield* parseCron(options?.fullCron ?? defaultFullCron),
      fullWindow: yield* wholeIn("the full pass's window in minutes (--full-window)", options?.fullWindow ?? defaultFullWindow, 1, 1440)
    }
  })

/** The schedules' options checked ({@link resolve}). */
type Resolved = Either.Either.Right<ReturnType<typeof resolve>>

/** The two schedules of resolved options. */
const plansOf = ({ every, fullCron, fullWindow, incrementalCron }: Resolved): {
  readonly incremental: Plan
  readonly full: Plan
} => {
  const incremental: Plan = incrementalCron === undefined
    ? {
      full: false,
      startDelay: minuteMillis,
      ticker: everyMinute,
      coveredUntil: minuteOf,
      firstBack: minuteMillis,
      maxBack: every * minuteMillis,
      slot: (key, from, to) => slotOf(key, every * minuteMillis, from, to),
      next: (key, after) => slotOf(key, every * minuteMillis, after, after + every * minuteMillis)!
    }
    : {
      // every location at each time of the cron
      full: false,
      startDelay: 0,
      ticker: incrementalCron,
      coveredUntil: (now) => now,
      firstBack: 1,
      maxBack: minuteMillis,
      slot: (_key, _from, to) => to,
      next: (_key, after) => Cron.next(incrementalCron, new Date(after)).getTime()
    }
  // the windows that open in the tick's span, computed once a tick (not once a location); and those from the one
  // that can hold a slot after a time, computed once for every location asked at that time
  let windows = { from: NaN, to: NaN, starts: [] as ReadonlyArray<number> }
  let following = { after: NaN, starts: [] as Array<number> }
  const full: Plan = {
    full: true,
    startDelay: minuteMillis,
    ticker: everyMinute,
    coveredUntil: minuteOf,
    firstBack: minuteMillis,
    maxBack: 1440 * minuteMillis,
    slot: (key, from, to) => {
      if (windows.from !== from || windows.to !== to) {
        windows = { from, to, starts: windowStarts(fullCron, fullWindow * minuteMillis, from, to) }
      }
      return windowSlotOf(key, windows.starts, fullWindow * minuteMillis, from, to)
    },
    next: (key, after) => {
      // the windows in time order, from the one that can hold a slot just after `after`: the first slot past it
      if (following.after !== after) {
        following = { after, starts: [Cron.next(fullCron, new Date(after - fullWindow * minuteMillis)).getTime()] }
      }
      const { starts } = following
      const offset = offsetOf(key, fullWindow * minuteMillis)
      for (let i = 0;; i++) {
        if (i === starts.length) starts.push(Cron.next(fullCron, new Date(starts[i - 1]!)).getTime())
        if (starts[i]! + offset > after) return starts[i]! + offset
      }
    }
  }
  return { incremental, full }
}

/** A schedule's definition as its database row keeps it ({@link stored}): the options that make it. */
const definitionOf = (options: Options | undefined, resolved: Resolved, full: boolean): Options =>
  full
    ? { fullCron: options?.fullCron ?? defaultFullCron, fullWindow: resolved.fullWindow }
    : options?.incrementalCron === undefined
    ? { every: resolved.every }
    : { incrementalCron: options.incrementalCron }

/** A schedule's definition in its row: its part of the {@link Options}, as JSON. */
const StoredDefinition = Schema.parseJson(Options)

/**
 * The schedules as the fleet's runners last started them, from the fleet's database: each schedule's definition,
 * recorded by the runner that last built {@link layer} on it (none before a runner has; a schedule whose row holds
 * none, from a runner before definitions were recorded, takes the defaults). Fails with a `ParseError` for a
 * definition that does not decode.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const stored: Effect.Effect<
  Option.Option<Options>,
  SqlError.SqlError | ParseResult.ParseError,
  SqlClient.SqlClient
> = Effect.gen(function*() {
  const definitions = yield* coverage.definitions
  if (definitions.size === 0) return Option.none()
  const decoded = yield* Effect.forEach(definitions.values(), (text) => Schema.decodeUnknown(StoredDefinition)(text))
  return Option.some(Object.assign({}, ...decoded) as Options)
})

/**
 * When each location's next scheduled syncs start after `now` (milliseconds since the epoch), by the schedules of
 * `options`: its next incremental and its next full sync, each from its first slot whose start ({@link startOf}: a
 * minute after the slot when the slots are the locations' own; at the cron's time with an `incrementalCron`) is
 * after `now`. A start waits longer behind a full pool, a sync of the location still running, or a runner down.
 * The schedules are resolved once; the answer is a function of the location. Fails with a {@link ScheduleError}
 * for options that cannot be.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const nextStarts = (
  options: Options | undefined
): Either.Either<(uId: string, now: number) => { readonly incremental: Date; readonly full: Date }, ScheduleError> =>
  Either.map(resolve(options), (resolved) => {
    const { full, incremental } = plansOf(resolved)
    const nextStart = (plan: Plan, uId: string, now: number) => startOf(plan, plan.next(uId, now - plan.startDelay))
    return (uId, now) => ({ incremental: nextStart(incremental, uId, now), full: nextStart(full, uId, now) })
  })

/**
 * Each location's next scheduled starts as a status tells them (ISO 8601, `null` when none is due), by the schedules
 * {@link stored} (none before a runner has started): for a location whose stored tokens expire at `tokenExpiresAt`
 * (the latest; none without a stored token, or once it has passed: the schedules skip the location). The schedules
 * are resolved once, for every location asked.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const nextStartsOf = (schedules: Option.Option<Options>): (
  uId: string,
  tokenExpiresAt: Date | undefined,
  now: number
) => { readonly nextIncrementalAt: string | null; readonly nextFullAt: string | null } => {
  const startsOf = Option.isNone(schedules) ? undefined : Either.getOrUndefined(nextStarts(schedules.value))
  return (uId, tokenExpiresAt, now) => {
    const next = startsOf === undefined || tokenExpiresAt === undefined || tokenExpiresAt.getTime() <= now
      ? undefined
      : startsOf(uId, now)
    return { nextIncrementalAt: next?.incremental.toISOString() ?? null, nextFullAt: next?.full.toISOString() ?? null }
  }
}

/**
 * The two schedules as `ClusterCron` jobs on the runner's `Sharding` (`vppkit-fleet/incremental` and
 * `vppkit-fleet/full`, each ticking every minute), sending each due location's slot to its `Location` entity, which
 * the runner registers with its pools (`Location.layerWith`; `Fleet.layer` builds the whole runner). With SQL message
 * storage the next tick is a persisted message, so a schedule survives a runner's restart. The syncs a tick starts
 * are awaited in the layer's scope: they end (interrupted, rolled back) with it. Each schedule's coverage (where its
 * next tick starts) is in the fleet's database, begun as the layer is built on a new database. Fails with a
 * {@link ScheduleError} for a schedule that cannot be.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<never, ScheduleError | SqlError.SqlError, Sharding.Sharding | TokenStore.TokenStore | SqlClient.SqlClient> =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const resolved = yield* resolve(options)
    const dispatcher: Dispatcher = { scope: yield* Effect.scope, awaiting: new Map() }
    const { full, incremental } = plansOf(resolved)
    // where the first tick covers from on a new database: the minute the schedules start (a tick held up, the first
    // one too, covers every slot since)
    const now = yield* Clock.currentTimeMillis
    for (const plan of [incremental, full]) {
      yield* coverage.begin(modeName(plan.full), plan.coveredUntil(now), Schema.encodeSync(StoredDefinition)(definitionOf(options, resolved, plan.full)))
    }
    return Layer.mergeAll(
      ClusterCron.make({ name: "vppkit-fleet/incremental", cron: incremental.ticker, execute: tick(incremental, dispatcher) }),
      ClusterCron.make({ name: "vppkit-fleet/full", cron: full.ticker, execute: tick(full, dispatcher) })
    )
  }))
