/**
 * The retention of `@effect/cluster`'s processed messages. `SqlMessageStorage` keeps every persisted message and its
 * replies for ever (it deletes only on `clearReplies`/`clearAddress`): each `Location` `Sync` message and its reply
 * (an `Outcome`), and each minute's tick of the schedules' two `ClusterCron`s. A fleet's `cluster_messages` and
 * `cluster_replies` grow by about 100,000 rows a day for 1,000 locations.
 *
 * {@link deleteProcessed} deletes, in batches, each request that is done and older than the retention (default
 * 1 day), with its replies and its acknowledgements and interrupts:
 *
 * - its row is processed, and its final reply (`WithExit`) is stored, with no streamed reply left unacknowledged;
 * - it was made (its id, a snowflake, holds the time it was made) and, for a delayed message (`deliver_at`: a cron's
 *   tick), due before the retention's cutoff.
 *
 * A message not yet processed, or whose reply may still be awaited, is never deleted. Deleting a done message never
 * makes it run again: the cluster reads only unprocessed messages, and a request and its replies go in one
 * transaction. The one duplicate detection it forgoes is that of a message with a primary key sent again after its
 * deletion: the fleet's `Sync` messages have none (each is a new request), and a `ClusterCron` tick (primary key
 * `""` per tick time) is sent again only for a future tick; an old one would be skipped anyway (the cron skips ticks
 * older than 1 day, the default retention).
 *
 * {@link layer} runs it at once and then every hour on each runner (several runners at once skip each other's rows
 * on PostgreSQL), counting the rows deleted in `vppkit_fleet_cluster_rows_deleted_total{table}`.
 *
 * @since 0.1.0
 */
import * as Snowflake from "@effect/cluster/Snowflake"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as FleetMetrics from "./FleetMetrics.js"

/**
 * How {@link deleteProcessed} and {@link layer} keep the cluster's messages.
 *
 * - `retention`: how long a done message is kept (default 1 day);
 * - `every`: how often {@link layer} deletes (default 1 hour; once at start too);
 * - `batchSize`: how many requests (with their replies) one transaction deletes (default 1,000);
 * - `prefix`: the prefix of the cluster's tables, as given to `SqlMessageStorage.layerWith` (default `cluster`:
 *   `cluster_messages`, `cluster_replies`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly retention?: Duration.DurationInput | undefined
  readonly every?: Duration.DurationInput | undefined
  readonly batchSize?: number | undefined
  readonly prefix?: string | undefined
}

/**
 * The rows one {@link deleteProcessed} deleted.
 *
 * @since 0.1.0
 * @category models
 */
export interface Deleted {
  /** Requests, with their acknowledgements and interrupts. */
  readonly messages: number
  readonly replies: number
}

/**
 * The default retention of a done message: 1 day.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultRetention: Duration.Duration = Duration.days(1)

/**
 * The variable {@link layerConfig} reads the retention from (a duration: `"1 day"`, `"36 hours"`).
 *
 * @since 0.1.0
 * @category config
 */
export const retentionVariable = "VPPKIT_FLEET_MESSAGE_RETENTION"

/** The smallest snowflake made at `millis` (its machine and sequence 0); 0 before the snowflakes' epoch. */
const snowflakeAt = (millis: number): bigint =>
  millis <= Snowflake.constEpochMillis ? BigInt(0) : BigInt(millis - Snowflake.constEpochMillis) << BigInt(22)

/**
 * Deletes the cluster's done messages older than the retention, with their replies, a batch a transaction, until none
 * is left; answers how many rows went (and counts them in {@link FleetMetrics.clusterRowsDeleted}).
 *
 * @since 0.1.0
 * @category retention
 */
export const deleteProcessed = Effect.fn("MessageRetention.deleteProcessed")(function*(options: Options = {}) {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const prefix = options.prefix ?? "cluster"
  const messages = sql(`${prefix}_messages`)
  const replies = sql(`${prefix}_replies`)
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 1000))
  const cutoff = (yield* Clock.currentTimeMillis) - Duration.toMillis(options.retention ?? defaultRetention)
  const cutoffId = snowflakeAt(cutoff)
  if (cutoffId <= BigInt(0)) return { messages: 0, replies: 0 } satisfies Deleted
  // as SqlMessageStorage writes them: booleans are 1/0 on SQLite; Request = 0 (kind of a message), WithExit = 0 (of a
  // reply), a Chunk's kind is NULL
  const sqlTrue = sql.literal(sql.onDialectOrElse({ sqlite: () => "1", mssql: () => "1", orElse: () => "TRUE" }))
  const sqlFalse = sql.literal(sql.onDialectOrElse({ sqlite: () => "0", mssql: () => "0", orElse: () => "FALSE" }))
  // on PostgreSQL, the requests are locked until the batch commits (a concurrent clearReplies waits, then finds none),
  // and runners deleting at once skip each other's
  const lock = sql.literal(sql.onDialectOrElse({ pg: () => "FOR UPDATE OF m SKIP LOCKED", orElse: () => "" }))
  const batch = Effect.gen(function*() {
    const done = yield* sql<{ readonly id: string | bigint | number }>`
      SELECT m.id FROM ${messages} m
      WHERE m.kind = 0
      AND m.processed = ${sqlTrue}
      AND m.id < ${sql.literal(String(cutoffId))}
      AND (m.deliver_at IS NULL OR m.deliver_at < ${sql.literal(String(cutoff))})
      AND EXISTS (SELECT 1 FROM ${replies} r WHERE r.request_id = m.id AND r.kind = 0)
      AND NOT EXISTS (SELECT 1 FROM ${replies} r WHERE r.request_id = m.id AND r.kind IS NULL AND r.acked = ${sqlFalse})
      ORDER BY m.id
      LIMIT ${sql.literal(String(batchSize))}
      ${lock}
    `.unprepared
    if (done.length === 0) return { requests: 0, messages: 0, replies: 0 }
    // the ids are the database's integers, written back as they came (never a JavaScript number: they pass 2^53)
    const ids = sql.literal(done.map((row) => String(row.id)).join(","))
    const deletedReplies = yield* sql`DELETE FROM ${replies} WHERE request_id IN (${ids}) RETURNING id`.unprepared
    const deletedMessages = yield* sql`DELETE FROM ${messages} WHERE request_id IN (${ids}) RETURNING id`.unprepared
    return { requests: done.length, messages: deletedMessages.length, replies: deletedReplies.length }
  }).pipe(sql.withTransaction, Effect.provideService(SqlClient.SafeIntegers, true))
  let total: Deleted = { messages: 0, replies: 0 }
  while (true) {
    const deleted = yield* batch
    total = { messages: total.messages + deleted.messages, replies: total.replies + deleted.replies }
    yield* Metric.incrementBy(Metric.tagged(FleetMetrics.clusterRowsDeleted, "table", "messages"), deleted.messages)
    yield* Metric.incrementBy(Metric.tagged(FleetMetrics.clusterRowsDeleted, "table", "replies"), deleted.replies)
    if (deleted.requests < batchSize) return total
    yield* Effect.yieldNow()
  }
})

/**
 * Deletes the cluster's done messages older than the retention ({@link deleteProcessed}) at once and then every hour
 * (`every`), for as long as the layer lives. A failure is logged (a warning) and the next period tries again.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.scopedDiscard(
    deleteProcessed(options).pipe(
      Effect.tap((deleted) =>
        deleted.messages + deleted.replies === 0
          ? Effect.void
          : Effect.logDebug(`deleted ${deleted.messages} processed cluster message(s) and ${deleted.replies} repl(ies)`)
      ),
      Effect.catchAllCause((cause) => Effect.logWarning("the cluster's processed messages were not deleted", cause)),
      Effect.repeat(Schedule.spaced(options.every ?? Duration.hours(1))),
      Effect.forkScoped
    )
  )

/**
 * {@link layer} with its retention from `VPPKIT_FLEET_MESSAGE_RETENTION` (default 1 day).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "retention"> = {}
): Layer.Layer<never, ConfigError.ConfigError, SqlClient.SqlClient> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.duration(retentionVariable).pipe(Config.withDefault(defaultRetention)),
      (retention) => layer({ ...options, retention })
    )
  )
