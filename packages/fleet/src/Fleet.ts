/**
 * A runner of the fleet in one layer, its options in one place: what `vppkit fleet run` runs on each runner, and what
 * a library builds a runner with.
 *
 * - {@link layer}: the {@link Location.Location} entity, its scheduled syncs in the runner's pools
 *   (`incrementalConcurrency`, `fullConcurrency`: `Location.layerWith`), the {@link Schedules} (`every`, `fullCron`,
 *   `fullWindow`), the deletion of the cluster's done messages ({@link MessageRetention}, `retention`), and the stores
 *   they use (the {@link TokenStore.TokenStore}, the {@link FleetStatus.FleetStatus}, the sync's `SyncStore`), on the
 *   runner's `Sharding` (a `SingleRunner`, a socket runner…) over its database (`SqlClient`), with the fleet's
 *   {@link FleetKey.FleetKey} and an `HttpClient` to Apple.
 * - {@link layerLocations}: the entity and the stores only, for a member that syncs on demand and runs no schedules.
 * - {@link resolve}: every option checked, with its default, before anything is opened; both layers fail with the
 *   same {@link Schedules.ScheduleError} when an option cannot be.
 *
 * The entity's client options, sync options and the schedules' report are the references `Location.ClientOptions`,
 * `Location.SyncOptions` and `Schedules.Report`.
 *
 * @since 0.1.0
 */
import type * as Sharding from "@effect/cluster/Sharding"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Migrator from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import type * as SyncStore from "@vppkit/sync/SyncStore"
import type * as Cron from "effect/Cron"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as FleetKey from "./FleetKey.js"
import * as FleetStatus from "./FleetStatus.js"
import * as Location from "./Location.js"
import * as MessageRetention from "./MessageRetention.js"
import * as Schedules from "./Schedules.js"
import * as TokenStore from "./TokenStore.js"
import * as WholeIn from "./internal/wholeIn.js"

/**
 * A runner's options: the schedules' ({@link Schedules.Options}: `every`, `fullCron`, `fullWindow`,
 * `incrementalCron`), the runner's pools of scheduled syncs ({@link Location.Concurrency}: `incrementalConcurrency`,
 * default 16, and `fullConcurrency`, default 4; BENCHMARKS.md, "Fleet: scale model", sizes them), and `retention`,
 * how long the cluster's done messages are kept ({@link MessageRetention}, default 1 day).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Schedules.Options, Location.Concurrency {
  readonly retention?: Duration.DurationInput | undefined
}

/**
 * A runner's options checked, with their defaults ({@link resolve}).
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly every: number
  readonly incrementalCron: Cron.Cron | undefined
  readonly fullCron: Cron.Cron
  readonly fullWindow: number
  readonly incrementalConcurrency: number
  readonly fullConcurrency: number
}

const wholeIn = WholeIn.wholeIn((reason) => new Schedules.ScheduleError({ reason }))

/**
 * The pools checked, with their defaults: whole numbers from 1 to 10,000.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveConcurrency = (
  options?: Location.Concurrency
): Either.Either<{ readonly incrementalConcurrency: number; readonly fullConcurrency: number }, Schedules.ScheduleError> =>
  Either.gen(function*() {
    return {
      incrementalConcurrency: yield* wholeIn(
        "the incremental syncs at once (--incremental-concurrency)",
        options?.incrementalConcurrency ?? Location.defaultIncrementalConcurrency,
        1,
        10_000
      ),
      fullConcurrency: yield* wholeIn(
        "the full syncs at once (--full-concurrency)",
        options?.fullConcurrency ?? Location.defaultFullConcurrency,
        1,
        10_000
      )
    }
  })

/**
 * A runner's options checked, with their defaults: the schedules' ({@link Schedules.resolve}), then the pools'
 * ({@link resolveConcurrency}). Fails with a {@link Schedules.ScheduleError} naming the first that cannot be (a
 * command checks its flags with it before it opens anything).
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (options?: Options): Either.Either<Resolved, Schedules.ScheduleError> =>
  Either.gen(function*() {
    const schedules = yield* Schedules.resolve(options)
    const pools = yield* resolveConcurrency(options)
    return { ...schedules, ...pools }
  })

/**
 * The database connections a runner's pool wants with these options ({@link Location.connectionsFor}: one for each
 * scheduled sync it may run at once, and two more).
 *
 * @since 0.1.0
 * @category config
 */
export const connectionsFor = (options?: Location.Concurrency): number => Location.connectionsFor(options)

/**
 * The stores of a runner: the {@link TokenStore.TokenStore}, the {@link FleetStatus.FleetStatus} and the sync's
 * `SyncStore` over the runner's database (their migrations run as the layer is built). {@link layer} and
 * {@link layerLocations} build it; a program that wants it built before its `Sharding` (the migrations done before the
 * runner joins its cluster, as `vppkit fleet` does) provides it beneath the `Sharding` too: a layer is built once per
 * `Layer.build` however often it appears, and this is one value.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStores: Layer.Layer<
  TokenStore.TokenStore | FleetStatus.FleetStatus | SyncStore.SyncStore,
  Migrator.MigrationError | SqlError.SqlError,
  SqlClient.SqlClient | FleetKey.FleetKey
> = Layer.mergeAll(TokenStore.layer, FleetStatus.layer, SqlSyncStore.layer)

/**
 * What runs the syncs of the runner's locations: the {@link Location.Location} entity (its scheduled syncs in pools of
 * `options`, checked first) and the stores it writes ({@link layerStores}). For a member that syncs on demand only; a
 * runner wants {@link layer}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLocations = (options?: Location.Concurrency): Layer.Layer<
  TokenStore.TokenStore | FleetStatus.FleetStatus | SyncStore.SyncStore,
  Schedules.ScheduleError | Migrator.MigrationError | SqlError.SqlError,
  Sharding.Sharding | SqlClient.SqlClient | FleetKey.FleetKey | HttpClient.HttpClient
> =>
  Layer.unwrapEffect(Effect.map(resolveConcurrency(options), (pools) =>
    Location.layerWith(pools).pipe(Layer.provideMerge(layerStores))))

/**
 * A runner of the fleet: {@link layerLocations} with the runner's pools, the {@link Schedules} and the
 * {@link MessageRetention} of the cluster's done messages, on the runner's `Sharding` over its database. Its options
 * are checked first ({@link resolve}): a {@link Schedules.ScheduleError} opens nothing. One layer per runner (its
 * pools are the layer's).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<
  TokenStore.TokenStore | FleetStatus.FleetStatus | SyncStore.SyncStore,
  Schedules.ScheduleError | Migrator.MigrationError | SqlError.SqlError,
  Sharding.Sharding | SqlClient.SqlClient | FleetKey.FleetKey | HttpClient.HttpClient
> =>
  Layer.unwrapEffect(Effect.map(resolve(options), (resolved) =>
    Layer.merge(
      Schedules.layer({
        every: resolved.every,
        fullCron: options?.fullCron,
        fullWindow: resolved.fullWindow,
        incrementalCron: options?.incrementalCron
      }),
      MessageRetention.layer({ retention: options?.retention })
    ).pipe(
      Layer.provideMerge(layerLocations({
        incrementalConcurrency: resolved.incrementalConcurrency,
        fullConcurrency: resolved.fullConcurrency
      }))
    )))
