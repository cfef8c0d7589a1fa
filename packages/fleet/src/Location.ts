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
 *   location run one after another: the entity handles one message at a time (`concurrency: 1`).
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
 * The `Location` entity, keyed by the location's `uId`. `Sync` messages are persisted (with SQL message storage
 * a requested sync survives a runner's crash and runs on the next owner); `Status` is not.
 *
 * @since 0.1.0
 * @category entities
 */
export const Location = Entity.make("Location", [
  Rpc.make("Sync", { payload: { full: Schema.Boolean }, success: Outcome, error: LocationSyncError })
    .annotate(ClusterSchema.Persisted, true),
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
 * The options of a location's `Sync.run` besides `full` and `location`: resources, concurrency, retraverse, the
 * hooks that follow a run (`progress`, `onNotice`, `onSummary`: metrics, say), and the name the sync gives itself
 * in the location's lock (`lockHolder`, default `vppkit fleet`; a runner names itself there, with its address, so
 * a second sync says who holds it). Default: none.
 *
 * @since 0.1.0
 * @category config
 */
export class SyncOptions extends Context.Reference<SyncOptions>()("@vppkit/fleet/Location/SyncOptions", {
  defaultValue: (): Pick<
    Sync.Options,
    "resources" | "concurrency" | "retraverse" | "progress" | "onNotice" | "onSummary" | "lockHolder"
  > => ({})
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
const runOf = (outcome: Outcome): FleetStatus.Run => ({
  uId: outcome.uId,
  full: outcome.full,
  result: outcome.result,
  startedAt: outcome.startedAt.toISOString(),
  finishedAt: outcome.finishedAt.toISOString(),
  millis: outcome.finishedAt.getTime() - outcome.startedAt.getTime(),
  records: outcome.resources.reduce((sum, resource) => sum + resource.records, 0),
  retries: outcome.resources.reduce((sum, resource) => sum + resource.retries, 0),
  ...(outcome.failure !== undefined ? { failure: { tag: outcome.failure.tag, message: outcome.failure.message } } : {}),
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
    Effect.flatMap(FleetStatus.FleetStatus, (status) => status.record(runOf(outcome))).pipe(
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
 * The behaviour of the {@link Location} entity on this runner: each entity syncs its location (`uId`, the entity
 * id) with its token from the {@link TokenStore.TokenStore} over the runtime's `HttpClient` into the `SyncStore`,
 * one message at a time, and records each outcome in the {@link FleetStatus.FleetStatus} for `Status`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  never,
  never,
  Sharding.Sharding | TokenStore.TokenStore | SyncStore.SyncStore | FleetStatus.FleetStatus | HttpClient.HttpClient
> = Location.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const uId = address.entityId
    const context = yield* Effect.context<
      TokenStore.TokenStore | SyncStore.SyncStore | FleetStatus.FleetStatus | HttpClient.HttpClient
    >()
    return Location.of({
      Sync: (envelope) =>
        syncOnce(uId, envelope.payload.full).pipe(
          Effect.tap(recordOutcome),
          Effect.tapError((error) => recordOutcome(error.outcome)),
          Effect.provide(context)
        ),
      Status: () => Rpc.fork(Effect.provide(lastOutcome(uId), context))
    })
  }),
  { concurrency: 1 }
)
