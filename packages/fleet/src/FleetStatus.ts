/**
 * Each location's status, kept in the database so that any runner (and `vppkit fleet status`) reads it, whatever
 * entity instance ran the sync: what the sync store knows of it (`sync_state` per resource: last sync, last full
 * sync, consistency, rows; the location's name and its token's expiry) and its last run, which the `Location` entity
 * writes after each sync in `vppkit_fleet_outcomes` (when, synced or failed, the failure's tag and message, records,
 * request retries, duration, failures in a row, the last success, the runner that ran it, and the run's outcome as
 * JSON). The table is made by the fleet's migrations `0002_outcomes` and `0004_runners` (in
 * `vppkit_fleet_migrations`, with the token store's).
 *
 * @since 0.1.0
 */
import type * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import type * as SyncStore from "@vppkit/sync/SyncStore"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { outcomesTable as table } from "./internal/outcomesTable.js"
import * as TokenStore from "./TokenStore.js"

/**
 * The table of the last runs.
 *
 * @since 0.1.0
 * @category schema
 */
export const outcomesTable = table

/**
 * A location's last run, as the entity recorded it.
 *
 * @since 0.1.0
 * @category models
 */
export class LastRun extends Schema.Class<LastRun>("@vppkit/fleet/FleetStatus/LastRun")({
  uId: Schema.String,
  full: Schema.Boolean,
  result: Schema.Literal("synced", "failed"),
  /** ISO 8601. */
  startedAt: Schema.String,
  /** ISO 8601. */
  finishedAt: Schema.String,
  millis: Schema.Number,
  /** Records delivered by the resources committed. */
  records: Schema.Number,
  /** Requests retried by the resources committed. */
  retries: Schema.Number,
  failure: Schema.optional(Schema.Struct({ tag: Schema.String, message: Schema.String })),
  /** Failed runs in a row up to this one (0 after a synced run). */
  consecutiveFailures: Schema.Number,
  /** When the last synced run finished (ISO 8601), this one or an earlier one. */
  lastSuccessAt: Schema.optional(Schema.String),
  /** The runner that ran it (`Location.RunnerName`: its address on a cluster), if it named itself. */
  runner: Schema.optional(Schema.String),
  /** The run's outcome as JSON (`Location.Outcome`, encoded). */
  outcome: Schema.Unknown
}) {}

/**
 * What {@link Service.record} takes: a run, without what the table derives from the runs before it.
 *
 * @since 0.1.0
 * @category models
 */
export type Run = Omit<LastRun, "consecutiveFailures" | "lastSuccessAt">

/**
 * A location's status: what the sync store knows of it and its last run. A location with a last run but never
 * synced (its token failed, say) has no resources; a location synced outside the fleet (`vppkit sync`) no last run.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocationStatus {
  readonly uId: string
  readonly locationName: string | undefined
  readonly orgName: string | undefined
  /** The expiry of the token the location was last synced with (ISO 8601). */
  readonly tokenExpiresAt: string | undefined
  /** Its resources' last runs (`sync_state`). */
  readonly resources: ReadonlyArray<SyncStore.LocationResource>
  readonly lastRun: LastRun | undefined
}

/**
 * The status could not be read or written (the database failed, or a stored outcome does not decode).
 *
 * @since 0.1.0
 * @category errors
 */
export class FleetStatusError extends Schema.TaggedError<FleetStatusError>("@vppkit/fleet/FleetStatusError")(
  "FleetStatusError",
  { message: Schema.String }
) {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Records a location's run (replacing the one before); answers it as stored. */
  readonly record: (run: Run) => Effect.Effect<LastRun, SqlError.SqlError>
  /** A location's last run. */
  readonly lastRun: (uId: string) => Effect.Effect<Option.Option<LastRun>, SqlError.SqlError>
  /** Every location the sync store or the last runs know, by `uId`. */
  readonly locations: Effect.Effect<ReadonlyArray<LocationStatus>, SqlError.SqlError>
  /** One location's status, if the sync store or the last runs know it. */
  readonly location: (uId: string) => Effect.Effect<Option.Option<LocationStatus>, SqlError.SqlError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class FleetStatus extends Context.Tag("@vppkit/fleet/FleetStatus")<FleetStatus, Service>() {}

type Row = {
  readonly uid: string
  readonly full_sync: number | string | boolean
  readonly result: string
  readonly started_at: string
  readonly finished_at: string
  readonly millis: number | string
  readonly records: number | string
  readonly retries: number | string
  readonly failure_tag: string | null
  readonly failure_message: string | null
  readonly consecutive_failures: number | string
  readonly last_success_at: string | null
  readonly runner: string | null
  readonly outcome: string
}

const lastRunOf = (row: Row): LastRun =>
  new LastRun({
    uId: row.uid,
    full: Number(row.full_sync) === 1,
    result: row.result === "synced" ? "synced" : "failed",
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    millis: Number(row.millis),
    records: Number(row.records),
    retries: Number(row.retries),
    ...(row.failure_tag !== null ? { failure: { tag: row.failure_tag, message: row.failure_message ?? "" } } : {}),
    consecutiveFailures: Number(row.consecutive_failures),
    ...(row.last_success_at !== null ? { lastSuccessAt: row.last_success_at } : {}),
    ...(row.runner !== null ? { runner: row.runner } : {}),
    outcome: JSON.parse(row.outcome) as unknown
  })

/**
 * The status over the `SqlClient` (the database of the sync store and the token store); building it runs the
 * fleet's migrations.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    yield* TokenStore.migrate
    const outcomes = sql(outcomesTable)

    const lastRun = (uId: string) =>
      Effect.map(
        sql<Row>`SELECT * FROM ${outcomes} WHERE ${sql("uid")} = ${uId}`,
        (rows) => Option.map(Option.fromNullable(rows[0]), lastRunOf)
      )

    const record = Effect.fn("FleetStatus.record")(function*(run: Run) {
      return yield* sql.withTransaction(Effect.gen(function*() {
        const previous = Option.getOrUndefined(yield* lastRun(run.uId))
        const stored = new LastRun({
          ...run,
          consecutiveFailures: run.result === "synced" ? 0 : (previous?.consecutiveFailures ?? 0) + 1,
          ...(run.result === "synced"
            ? { lastSuccessAt: run.finishedAt }
            : previous?.lastSuccessAt !== undefined
            ? { lastSuccessAt: previous.lastSuccessAt }
            : {})
        })
        const row: Row = {
          uid: stored.uId,
          full_sync: stored.full ? 1 : 0,
          result: stored.result,
          started_at: stored.startedAt,
          finished_at: stored.finishedAt,
          millis: Math.round(stored.millis),
          records: stored.records,
          retries: stored.retries,
          failure_tag: stored.failure?.tag ?? null,
          failure_message: stored.failure?.message ?? null,
          consecutive_failures: stored.consecutiveFailures,
          last_success_at: stored.lastSuccessAt ?? null,
          runner: stored.runner ?? null,
          outcome: JSON.stringify(stored.outcome)
        }
        const columns = Object.keys(row).filter((column) => column !== "uid")
        yield* sql`INSERT INTO ${outcomes} ${sql.insert(row)} ON CONFLICT (${sql("uid")}) DO UPDATE SET ${
          sql.literal(columns.map((column) => `"${column}" = excluded."${column}"`).join(", "))
        }`
        return stored
      }))
    })

    const locations = Effect.gen(function*() {
      const known = yield* Effect.provideService(SqlSyncStore.readLocations, SqlClient.SqlClient, sql)
      const runs = new Map((yield* sql<Row>`SELECT * FROM ${outcomes}`).map((row) => [row.uid, lastRunOf(row)]))
      const statuses = new Map<string, LocationStatus>()
      for (const info of known) {
        statuses.set(info.uId, {
          uId: info.uId,
          locationName: info.locationName === "" ? undefined : info.locationName,
          orgName: info.orgName,
          tokenExpiresAt: info.tokenExpiresAt,
          resources: info.resources,
          lastRun: runs.get(info.uId)
        })
      }
      for (const [uId, run] of runs) {
        if (!statuses.has(uId)) {
          statuses.set(uId, {
            uId,
            locationName: undefined,
            orgName: undefined,
            tokenExpiresAt: undefined,
            resources: [],
            lastRun: run
          })
        }
      }
      return Array.from(statuses.values()).sort((a, b) => (a.uId < b.uId ? -1 : a.uId > b.uId ? 1 : 0))
    }).pipe(Effect.withSpan("FleetStatus.locations"))

    return FleetStatus.of({
      record,
      lastRun,
      locations,
      location: (uId) => Effect.map(locations, (all) => Option.fromNullable(all.find((status) => status.uId === uId)))
    })
  }
)

/**
 * The {@link FleetStatus} over the `SqlClient`; its migrations run as it is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<FleetStatus, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient> = Layer
  .effect(FleetStatus, make)
