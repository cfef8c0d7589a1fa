/**
 * The fleet's schedules with `@effect/cluster`'s `ClusterCron`: an incremental sync of every location every N minutes
 * (default 15) and a full pass nightly (default `"0 2 * * *"`, UTC).
 *
 * Each schedule is ONE cron job that, at each tick, fans out over the locations of the {@link TokenStore.TokenStore}
 * as it is at that moment: one `Sync { full }` message per location (`uId`) to the {@link Location.Location} entity,
 * awaited. So a location added after the fleet started is synced at the next tick, a removed one is no longer
 * synced, and nothing has to be scheduled per location. The cron's next tick is computed when a tick ends (from the
 * time it ends, `ClusterCron`'s default): ticks that would have fired while a long pass ran are skipped, never
 * queued up behind it.
 *
 * - A location's sync that fails is reported ({@link Event} `Failed`) and is tried again at the next tick: the
 *   tick goes on with the other locations.
 * - A location whose tokens have all expired (the latest expiry is past) is reported (`Expired`) and skipped: no
 *   message to its entity, so no request to Apple with a dead token.
 * - A token stored without a `uId` is reported (`Unscheduled`): it names no location to sync.
 * - An on-demand `Sync` message to a location (`vppkit fleet sync`) while a scheduled one runs waits behind it:
 *   the entity handles one message at a time.
 *
 * @since 0.1.0
 */
import * as ClusterCron from "@effect/cluster/ClusterCron"
import type * as Sharding from "@effect/cluster/Sharding"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Cron from "effect/Cron"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Location from "./Location.js"
import * as TokenStore from "./TokenStore.js"

/**
 * What a schedule did, as it happened: a tick began, a location synced or failed, a location was skipped because
 * its tokens expired, a token names no location. `Failed` with `uId` `"*"`: the token store could not be read (the
 * tick ends; the next one tries again).
 *
 * @since 0.1.0
 * @category models
 */
export type Event =
  | { readonly _tag: "Tick"; readonly full: boolean; readonly at: Date; readonly locations: ReadonlyArray<string> }
  | { readonly _tag: "Synced"; readonly outcome: Location.Outcome }
  | {
    readonly _tag: "Failed"
    readonly uId: string
    readonly full: boolean
    readonly failure: Location.Failure
    readonly outcome: Location.Outcome | undefined
  }
  | { readonly _tag: "Expired"; readonly uId: string; readonly full: boolean; readonly expiredAt: Date; readonly tokens: ReadonlyArray<string> }
  | { readonly _tag: "Unscheduled"; readonly fingerprint: string; readonly name: string | undefined }
  | { readonly _tag: "TickDone"; readonly full: boolean; readonly at: Date }

/**
 * Where a schedule's {@link Event}s go. Default: the log (a failure or an expired token as a warning).
 *
 * @since 0.1.0
 * @category config
 */
export class Report extends Context.Reference<Report>()("@vppkit/fleet/Schedules/Report", {
  defaultValue: (): (event: Event) => Effect.Effect<void> => logEvent
}) {}

const tokenLabel = (token: TokenStore.TokenInfo) => token.name ?? token.fingerprint.slice(0, 12)

/**
 * Logs an {@link Event} (never a token: tokens are named by their name or fingerprint's prefix).
 *
 * @since 0.1.0
 * @category reporting
 */
export const logEvent = (event: Event): Effect.Effect<void> => {
  switch (event._tag) {
    case "Tick":
      return Effect.logInfo(`${event.full ? "full" : "incremental"} sync of ${event.locations.length} location(s)`)
    case "Synced":
      return Effect.logInfo(`location ${event.outcome.uId} synced`)
    case "Failed":
      return Effect.logWarning(
        `location ${event.uId}: ${event.failure.tag}: ${event.failure.message} (tried again at the next tick)`
      )
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
 * A schedule's options: `every` (minutes between incremental syncs, default 15), `fullCron` (a cron expression,
 * UTC, default `"0 2 * * *"`), `concurrency` (locations synced at once during a tick, default 8).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly every?: number | undefined
  readonly fullCron?: string | undefined
  readonly concurrency?: number | undefined
  /** A cron expression (UTC, seconds allowed) for the incremental syncs instead of `every` (tests use seconds). */
  readonly incrementalCron?: string | undefined
}

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
 * A schedule that cannot be: `every` out of range, or a cron expression that does not parse.
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
    (error) => new ScheduleError({ reason: `the cron expression "${expression}" is invalid: ${error.message}` })
  )

/**
 * One tick of a schedule: every location of the token store gets a `Sync { full }` message, awaited (at most
 * `concurrency` locations at once); each outcome, failure, expired or unscheduled token is reported. Never fails:
 * a failure of one location is that location's event, tried again at the next tick.
 *
 * @since 0.1.0
 * @category running
 */
export const tick = Effect.fn("Schedules.tick")(function*(full: boolean, options?: { readonly concurrency?: number | undefined }) {
  const report = yield* Report
  const tokens = yield* TokenStore.TokenStore
  const makeClient = yield* Location.Location.client
  const now = new Date(yield* Clock.currentTimeMillis)
  const listed = yield* Effect.either(tokens.list)
  if (Either.isLeft(listed)) {
    // the token store cannot be read: the tick ends, the next one tries again
    yield* report({
      _tag: "Failed",
      uId: "*",
      full,
      failure: new Location.Failure({ tag: listed.left._tag, message: listed.left.message }),
      outcome: undefined
    })
    return
  }
  const byLocation = new Map<string, Array<TokenStore.TokenInfo>>()
  for (const token of listed.right) {
    if (token.uId === undefined) {
      yield* report({ _tag: "Unscheduled", fingerprint: token.fingerprint, name: token.name })
      continue
    }
    const group = byLocation.get(token.uId)
    if (group === undefined) byLocation.set(token.uId, [token])
    else group.push(token)
  }
  const locations = [...byLocation.keys()].sort()
  yield* report({ _tag: "Tick", full, at: now, locations })
  yield* Effect.forEach(locations, (uId) => {
    const group = byLocation.get(uId)!
    const latest = Math.max(...group.map((t) => t.expiresAt.getTime()))
    if (latest <= now.getTime()) {
      return report({ _tag: "Expired", uId, full, expiredAt: new Date(latest), tokens: group.map(tokenLabel) })
    }
    return makeClient(uId).Sync({ full }).pipe(
      Effect.exit,
      Effect.flatMap((exit): Effect.Effect<void> => {
        if (Exit.isSuccess(exit)) return report({ _tag: "Synced", outcome: exit.value })
        // an interruption (the runner shuts down) is not a failure to report: the tick is interrupted with it
        if (Cause.isInterruptedOnly(exit.cause)) return Effect.interrupt
        const error = Cause.squash(exit.cause)
        const outcome = error instanceof Location.LocationSyncError ? error.outcome : undefined
        const failure = outcome?.failure ?? new Location.Failure({
          tag: typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Defect",
          message: error instanceof Error ? error.message : String(error)
        })
        return report({ _tag: "Failed", uId, full, failure, outcome })
      })
    )
  }, { concurrency: options?.concurrency ?? 8, discard: true })
  yield* report({ _tag: "TickDone", full, at: now })
})

/**
 * The two schedules as `ClusterCron` jobs on the runner's `Sharding` (`vppkit-fleet/incremental` and
 * `vppkit-fleet/full`): with SQL message storage the next tick is a persisted message, so a schedule survives a
 * runner's restart and runs on one runner of a cluster. Fails with a {@link ScheduleError} for a schedule that
 * cannot be.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<never, ScheduleError, Sharding.Sharding | TokenStore.TokenStore> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const every = options?.incrementalCron === undefined
      ? yield* everyMinutes(options?.every ?? defaultEvery)
      : yield* parseCron(options.incrementalCron)
    const fullCron = yield* parseCron(options?.fullCron ?? defaultFullCron)
    const concurrency = options?.concurrency
    return Layer.mergeAll(
      ClusterCron.make({ name: "vppkit-fleet/incremental", cron: every, execute: tick(false, { concurrency }) }),
      ClusterCron.make({ name: "vppkit-fleet/full", cron: fullCron, execute: tick(true, { concurrency }) })
    )
  }))
