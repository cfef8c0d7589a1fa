/**
 * A location (an Apple library, `uId`) as an `@effect/cluster` entity: the cluster gives each location one owner
 * among the runners, so its syncs, its sToken's gate of 5 requests in flight and its rate limit hold cluster-wide.
 * Tokens sharing a `uId` are one entity (Apple's de-duplication rule): the entity syncs with the token of its
 * location that expires last ({@link TokenStore.Service.forLocation}).
 *
 * Messages:
 * - `Sync { full }` runs `Sync.run` of `@vppkit/sync` for the location with a `VppClient` made from its token,
 *   into the `SyncStore`, and answers its {@link Outcome}; a failed sync fails the message with a
 *   {@link LocationSyncError} (the resources committed before the failure are in its outcome). Syncs of one
 *   location run one after another: the entity handles one `Sync` at a time (`concurrency: 1`), and every sync of
 *   the entity, scheduled or not, takes the location's turn. Across runners the store's lock of the location keeps
 *   them apart (`Sync.run`): a sync that finds it held — by the sync of the location's previous owner, a runner that
 *   lost its shard while the sync ran — waits for it up to `lockWait` ({@link SyncOptions}, default
 *   {@link defaultLockWait}), then fails with `LocationBusyError`.
 * - `Scheduled { full, slot, startAt }` is the schedules' sync of the location's slot (`Schedules`): the same sync
 *   and answer, from `startAt` (the schedules spread a minute's slots over the next minute; at once without one: a
 *   message stored by an earlier version),
 *   run in the pool of its mode of the runner that owns the location (at most `incrementalConcurrency`, default 16,
 *   and `fullConcurrency`, default 4, scheduled syncs at once per runner: {@link layerWith}). While the location's
 *   previous scheduled sync of the same mode has not finished — running, or waiting for its start, its turn, its
 *   pool or its lock — it is not run: it fails at once with an {@link OverrunError} naming the unfinished one. The entity has one owner, so
 *   this holds across the cluster, whichever runner's tick sent the slot. (Its handler is forked past the entity's
 *   concurrency to answer an overrun at once; the location's turn keeps its syncs one after another.)
 * - `Status` answers the location's last outcome, even while a sync runs (its handler is forked past the
 *   entity's concurrency), `None` before any sync of the location. The entity records each outcome in the
 *   database ({@link FleetStatus.FleetStatus}), so it outlives the entity instance and any runner reads it.
 *
 * @since 0.1.0
 */
import * as Entity from "@effect/cluster/Entity"
import type * as Sharding from "@effect/cluster/Sharding"
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Rpc from "@effect/rpc/Rpc"
import * as VppClient from "@vppkit/core/VppClient"
import * as Sync from "@vppkit/sync/Sync"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as FleetMetrics from "./FleetMetrics.js"
import * as FleetStatus from "./FleetStatus.js"
import * as TokenStore from "./TokenStore.js"

/**
 * What one resource's committed run did (from `Sync.Summary`).
 *
 * @since 0.1.0
 * @category models
 */
export class ResourceOutcome extends Schema.Class<ResourceOutcome>("@vppkit/fleet/Location/ResourceOutcome")({
  resource: Schema.String,
  mode: Schema.Literal("full", "incremental"),
  records: Schema.Number,
  deleted: Schema.Number,
  rows: Schema.Number,
  pages: Schema.Number,
  retries: Schema.Number,
  consistency: Schema.Literal("consistent", "drifted"),
  checkpoint: Schema.Literal("advanced", "kept", "none"),
  millis: Schema.Number
}) {}

/**
 * Why a sync failed: the failure's tag and its message (never the token).
 *
 * @since 0.1.0
 * @category models
 */
export class Failure extends Schema.Class<Failure>("@vppkit/fleet/Location/Failure")({
  tag: Schema.String,
  message: Schema.String
}) {}

/**
 * How a location's sync ended: `synced` with every resource's outcome, or `failed` with the resources committed
 * before the failure and the failure.
 *
 * @since 0.1.0
 * @category models
 */
export class Outcome extends Schema.Class<Outcome>("@vppkit/fleet/Location/Outcome")({
  uId: Schema.String,
  full: Schema.Boolean,
  result: Schema.Literal("synced", "failed"),
  startedAt: Schema.Date,
  finishedAt: Schema.Date,
  resources: Schema.Array(ResourceOutcome),
  failure: Schema.optional(Failure)
}) {}

/**
 * A location's sync failed; `outcome` says what was committed before it and why.
 *
 * @since 0.1.0
 * @category errors
 */
export class LocationSyncError extends Schema.TaggedError<LocationSyncError>("@vppkit/fleet/LocationSyncError")(
  "LocationSyncError",
  { outcome: Outcome }
) {
  override get message(): string {
    return `the sync of location ${this.outcome.uId} failed: ${this.outcome.failure?.message ?? "unknown failure"}`
  }
}

/**
 * The token stored for a location belongs to another library: Apple's Client Config names another `uId`.
 * Nothing was synced.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenLocationError extends Schema.TaggedError<TokenLocationError>("@vppkit/fleet/TokenLocationError")(
  "TokenLocationError",
  { uId: Schema.String, presented: Schema.String }
) {
  override get message(): string {
    return `the token stored for location ${this.uId} is of library ${this.presented}: nothing synced`
  }
}

/**
 * A scheduled sync of a location was not started: the location's previous scheduled sync of the same mode
 * (`running`: its mode and slot) has not finished, running or waiting for its turn or its runner's pool.
 *
 * @since 0.1.0
 * @category errors
 */
export class OverrunError extends Schema.TaggedError<OverrunError>("@vppkit/fleet/OverrunError")("OverrunError", {
  uId: Schema.String,
  full: Schema.Boolean,
  slot: Schema.Date,
  running: Schema.Struct({ full: Schema.Boolean, slot: Schema.Date })
}) {
  override get message(): string {
    return `location ${this.uId}: the ${this.full ? "full" : "incremental"} sync due ${this.slot.toISOString()} not started: its ${
      this.running.full ? "full" : "incremental"
    } sync due ${this.running.slot.toISOString()} has not finished`
  }
}

/**
 * The `Location` entity, keyed by the location's `uId`. `Sync` and `Scheduled` messages are persisted (with SQL
 * message storage a requested sync survives a runner's crash and runs on the next owner); `Status` is not.
 *
 * @since 0.1.0
 * @category entities
 */
export const Location = Entity.make("Location", [
  Rpc.make("Sync", { payload: { full: Schema.Boolean }, success: Outcome, error: LocationSyncError })
    .annotate(ClusterSchema.Persisted, true),
  Rpc.make("Scheduled", {
    payload: { full: Schema.Boolean, slot: Schema.Date, startAt: Schema.optional(Schema.Date) },
    success: Outcome,
    error: Schema.Union(LocationSyncError, OverrunError)
  }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Status", { success: Schema.Option(Outcome), error: FleetStatus.FleetStatusError })
])

/**
 * The options of the `VppClient` a location syncs with, but its token (base URL, retry policy, hooks, …).
 * Default: none (Apple's base URL and the client's defaults).
 *
 * @since 0.1.0
 * @category config
 */
export class ClientOptions extends Context.Reference<ClientOptions>()("@vppkit/fleet/Location/ClientOptions", {
  defaultValue: (): Omit<VppClient.Options, "token"> => ({})
}) {}

/**
 * How long a location's sync waits for the location's lock while another sync holds it (default 1 minute): the
 * sync of its previous owner, say, on a runner that lost the location's shard while it ran (a runner starved of CPU
 * whose shard locks lapsed) and has not stopped it yet. Past it the sync fails with `LocationBusyError`.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultLockWait: Duration.Duration = Duration.minutes(1)

/**
 * The options of a location's `Sync.run` besides `full` and `location`: resources, concurrency, retraverse, the
 * hooks that follow a run (`progress`, `onNotice`, `onSummary`: metrics, say), the name the sync gives itself
 * in the location's lock (`lockHolder`, default `vppkit fleet`; a runner names itself there, with its address, so
 * a second sync says who holds it), how long it waits for that lock while another sync holds it (`lockWait`,
 * default {@link defaultLockWait}; `0` fails at once) and what it does when it starts waiting (`onLockWait`,
 * default: a line in the log at info level). Default: none.
 *
 * @since 0.1.0
 * @category config
 */
export class SyncOptions extends Context.Reference<SyncOptions>()("@vppkit/fleet/Location/SyncOptions", {
  defaultValue: (): Pick<
    Sync.Options,
    | "resources"
    | "concurrency"
    | "retraverse"
    | "progress"
    | "onNotice"
    | "onSummary"
    | "lockHolder"
    | "lockWait"
    | "onLockWait"
  > => ({})
}) {}

/**
 * The name of the runner the entity runs on, recorded with each of its runs (`FleetStatus.LastRun.runner`, the runner
 * column of `vppkit fleet status`): `fleet run` gives its advertised address (`host:port`) on a cluster, the
 * machine's name on a single runner. Default: none.
 *
 * @since 0.1.0
 * @category config
 */
export class RunnerName extends Context.Reference<RunnerName>()("@vppkit/fleet/Location/RunnerName", {
  defaultValue: (): string | undefined => undefined
}) {}

const resourceOutcome = (summary: Sync.Summary) =>
  new ResourceOutcome({
    resource: summary.resource,
    mode: summary.mode,
    records: summary.records,
    deleted: summary.deleted,
    rows: summary.rows,
    pages: summary.pages,
    retries: summary.retries,
    consistency: summary.consistency,
    checkpoint: summary.checkpoint,
    millis: summary.millis
  })

const failureOf = (error: { readonly _tag: string; readonly message: string }): Failure =>
  new Failure({ tag: error._tag, message: error.message })

/**
 * Syncs the location `uId` once: its token from the store, a client over the runtime's `HttpClient`, the location
 * learned from Client Config (it must be `uId`), then `Sync.run`. Answers the outcome; fails with a
 * {@link LocationSyncError} holding the failed outcome.
 *
 * @since 0.1.0
 * @category running
 */
export const syncOnce = Effect.fn("Location.syncOnce")(function*(uId: string, full: boolean) {
  const startedAt = new Date(yield* Clock.currentTimeMillis)
  const committed: Array<ResourceOutcome> = []
  const clientOptions = yield* ClientOptions
  const syncOptions = yield* SyncOptions
  const run = Effect.gen(function*() {
    const token = yield* Effect.flatMap(TokenStore.TokenStore, (tokens) => tokens.forLocation(uId))
    yield* FleetMetrics.observeToken(uId, token.expiresAt)
    const client = yield* VppClient.make({ ...FleetMetrics.instrument(clientOptions), token })
    return yield* Effect.gen(function*() {
      const location = yield* Sync.learnLocation
      if (location.uId !== uId) return yield* new TokenLocationError({ uId, presented: location.uId })
      yield* Sync.run({
        ...syncOptions,
        lockHolder: syncOptions.lockHolder ?? "vppkit fleet",
        lockWait: syncOptions.lockWait ?? defaultLockWait,
        onLockWait: syncOptions.onLockWait ?? ((busy) =>
          Effect.logInfo(
            `location ${uId}: ${busy.message}: waiting up to ${Duration.format(syncOptions.lockWait ?? defaultLockWait)} for it`
          )),
        full,
        location,
        onSummary: (summary) =>
          Effect.zipRight(
            Effect.sync(() => void committed.push(resourceOutcome(summary))),
            syncOptions.onSummary === undefined ? Effect.void : syncOptions.onSummary(summary)
          )
      })
    }).pipe(Effect.provideService(VppClient.VppClient, client))
  })
  // A defect (a failed COMMIT, say, which @effect/sql reports as one) is a failed run like a typed failure: it is
  // recorded, so the status never keeps showing the previous success. An interruption is not an outcome: it ends
  // the message as such (the running resource rolled back).
  const result = yield* Effect.either(run.pipe(
    Effect.catchAllDefect((defect) =>
      Effect.fail({
        _tag: "Defect",
        message: defect instanceof Error ? defect.message.split("\n")[0]! : String(defect)
      })
    )
  ))
  const finishedAt = new Date(yield* Clock.currentTimeMillis)
  if (Either.isRight(result)) {
    return new Outcome({ uId, full, result: "synced", startedAt, finishedAt, resources: committed })
  }
  return yield* new LocationSyncError({
    outcome: new Outcome({
      uId,
      full,
      result: "failed",
      startedAt,
      finishedAt,
      resources: committed,
      failure: failureOf(result.left)
    })
  })
})

/** The run {@link FleetStatus.Service.record} keeps of an outcome. */
const runOf = (outcome: Outcome, runner: string | undefined): FleetStatus.Run => ({
  uId: outcome.uId,
  full: outcome.full,
  result: outcome.result,
  startedAt: outcome.startedAt.toISOString(),
  finishedAt: outcome.finishedAt.toISOString(),
  millis: outcome.finishedAt.getTime() - outcome.startedAt.getTime(),
  records: outcome.resources.reduce((sum, resource) => sum + resource.records, 0),
  retries: outcome.resources.reduce((sum, resource) => sum + resource.retries, 0),
  ...(outcome.failure !== undefined ? { failure: { tag: outcome.failure.tag, message: outcome.failure.message } } : {}),
  ...(runner !== undefined ? { runner } : {}),
  outcome: Schema.encodeSync(Outcome)(outcome)
})

/**
 * Records a location's outcome ({@link FleetStatus.FleetStatus}) and counts it ({@link FleetMetrics}). The sync's
 * own result stands whatever happens here: a status that cannot be written is logged, and the next sync writes it
 * again.
 */
const recordOutcome = (outcome: Outcome) =>
  Effect.zipRight(
    FleetMetrics.observeSync(outcome),
    Effect.flatMap(
      Effect.all([FleetStatus.FleetStatus, RunnerName]),
      ([status, runner]) => status.record(runOf(outcome, runner))
    ).pipe(
      Effect.catchAll((error) =>
        Effect.logWarning(`the status of location ${outcome.uId} was not recorded: ${error.message}`)
      ),
      Effect.asVoid
    )
  )

/** The location's last outcome, as recorded. */
const lastOutcome = (uId: string) =>
  Effect.flatMap(FleetStatus.FleetStatus, (status) => status.lastRun(uId)).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.succeed(Option.none<Outcome>()),
      onSome: (run) => Effect.map(Schema.decodeUnknown(Outcome)(run.outcome), Option.some)
    })),
    Effect.mapError((error) => new FleetStatus.FleetStatusError({ message: `location ${uId}: ${error.message}` }))
  )

/**
 * The default number of scheduled incremental syncs at once, per runner.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultIncrementalConcurrency = 16

/**
 * The default number of scheduled full syncs at once, per runner.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultFullConcurrency = 4

/**
 * The scheduled syncs a runner runs at once, each mode in a pool of its own: `incrementalConcurrency` (default
 * {@link defaultIncrementalConcurrency}) and `fullConcurrency` (default {@link defaultFullConcurrency}), whole numbers
 * from 1 (`Fleet.resolveConcurrency` checks them; `Fleet.layer` builds a runner with them and the schedules). Each
 * sync holds a connection of the runner's pool for its length: that pool wants both, and two more
 * ({@link connectionsFor}).
 *
 * @since 0.1.0
 * @category models
 */
export interface Concurrency {
  readonly incrementalConcurrency?: number | undefined
  readonly fullConcurrency?: number | undefined
}

/**
 * The database connections a runner's pool wants with these pools: one for each scheduled sync it may run at once
 * (a sync holds one for its length: its location's lock, which it writes on) and two more (the token store, the
 * outcomes; BENCHMARKS.md, "Fleet: scale model").
 *
 * @since 0.1.0
 * @category config
 */
export const connectionsFor = (options?: Concurrency): number =>
  (options?.incrementalConcurrency ?? defaultIncrementalConcurrency) + (options?.fullConcurrency ?? defaultFullConcurrency) + 2

/**
 * The behaviour of the {@link Location} entity on this runner: each entity syncs its location (`uId`, the entity
 * id) with its token from the {@link TokenStore.TokenStore} over the runtime's `HttpClient` into the `SyncStore`,
 * its syncs one after another, and records each outcome in the {@link FleetStatus.FleetStatus} for `Status`. The
 * `Scheduled` syncs of the runner's entities share the runner's pools ({@link Concurrency}, made once per layer:
 * one layer per runner; not checked here: `Fleet.layer` and `Fleet.layerLocations` check them first).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options?: Concurrency): Layer.Layer<
  never,
  never,
  Sharding.Sharding | TokenStore.TokenStore | SyncStore.SyncStore | FleetStatus.FleetStatus | HttpClient.HttpClient
> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const pools = {
      incremental: yield* Effect.makeSemaphore(options?.incrementalConcurrency ?? defaultIncrementalConcurrency),
      full: yield* Effect.makeSemaphore(options?.fullConcurrency ?? defaultFullConcurrency)
    }
    return Location.toLayer(
      Effect.gen(function*() {
        const address = yield* Entity.CurrentAddress
        const uId = address.entityId
        const context = yield* Effect.context<
          TokenStore.TokenStore | SyncStore.SyncStore | FleetStatus.FleetStatus | HttpClient.HttpClient
        >()
        // the location's syncs, scheduled or not, one after another
        const turn = yield* Effect.makeSemaphore(1)
        // its scheduled syncs not finished (running, or waiting for their start, the turn, the pool or the location's lock), by mode
        const unfinished = new Map<boolean, { readonly full: boolean; readonly slot: Date }>()
        const sync = (full: boolean) =>
          syncOnce(uId, full).pipe(
            Effect.tap(recordOutcome),
            Effect.tapError((error) => recordOutcome(error.outcome)),
            Effect.provide(context)
          )
        return Location.of({
          Sync: (envelope) => turn.withPermits(1)(sync(envelope.payload.full)),
          Scheduled: (envelope) =>
            Rpc.fork(Effect.suspend((): Effect.Effect<Outcome, LocationSyncError | OverrunError> => {
              const { full, slot, startAt } = envelope.payload
              const running = unfinished.get(full)
              if (running !== undefined) return Effect.fail(new OverrunError({ uId, full, slot, running }))
              const entry = { full, slot }
              unfinished.set(full, entry)
              // the turn first: a sync waiting behind another of its location holds no permit of the pool
              const pool = full ? pools.full : pools.incremental
              return untilStart(startAt).pipe(
                Effect.zipRight(turn.withPermits(1)(pool.withPermits(1)(sync(full)))),
                Effect.ensuring(Effect.sync(() => {
                  if (unfinished.get(full) === entry) unfinished.delete(full)
                }))
              )
            })),
          Status: () => Rpc.fork(Effect.provide(lastOutcome(uId), context))
        })
      }),
      { concurrency: 1 }
    )
  }))

/** Waits until `startAt` (a scheduled sync's start, as the schedules spread them); at once without one or past it. */
const untilStart = (startAt: Date | undefined) =>
  startAt === undefined
    ? Effect.void
    : Effect.flatMap(Clock.currentTimeMillis, (now) =>
      startAt.getTime() > now ? Effect.sleep(Duration.millis(startAt.getTime() - now)) : Effect.void)

/**
 * {@link layerWith} with the default pools.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  never,
  never,
  Sharding.Sharding | TokenStore.TokenStore | SyncStore.SyncStore | FleetStatus.FleetStatus | HttpClient.HttpClient
> = layerWith()
