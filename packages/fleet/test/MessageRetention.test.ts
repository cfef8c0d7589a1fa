import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as DeliverAt from "@effect/cluster/DeliverAt"
import * as Entity from "@effect/cluster/Entity"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SingleRunner from "@effect/cluster/SingleRunner"
import * as Snowflake from "@effect/cluster/Snowflake"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import * as Rpc from "@effect/rpc/Rpc"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as PrimaryKey from "effect/PrimaryKey"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as FleetMetrics from "../src/FleetMetrics.js"
import * as MessageRetention from "../src/MessageRetention.js"
import { backends, TestDatabase } from "../../node/test/support/postgres.js"

/**
 * The retention of the cluster's processed messages over SQLite and (with CI or VPPKIT_TEST_PG_URL) PostgreSQL: with
 * a real runner's rows (SqlMessageStorage, a SingleRunner), and with rows of each kind written as SqlMessageStorage
 * writes them under a TestClock (the layer: once at start, then hourly).
 */

class Keyed extends Schema.Class<Keyed>("test/MessageRetention/Keyed")({ key: Schema.String }) {
  [PrimaryKey.symbol]() {
    return this.key
  }
}

class Later extends Schema.Class<Later>("test/MessageRetention/Later")({ at: Schema.DateTimeUtc }) {
  [DeliverAt.symbol]() {
    return this.at
  }
}

/** An entity with persisted messages: plain ones (no primary key, as `Location`'s `Sync`), keyed ones, delayed ones. */
const Probe = Entity.make("RetentionProbe", [
  Rpc.make("Work", { payload: { n: Schema.Number }, success: Schema.Number }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Keyed", { payload: Keyed, success: Schema.String }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("Later", { payload: Later }).annotate(ClusterSchema.Persisted, true)
])

const probeLayer = Probe.toLayer(Effect.succeed(Probe.of({
  Work: (envelope) => Effect.succeed(envelope.payload.n * 2),
  Keyed: (envelope) => Effect.succeed(envelope.payload.key),
  Later: () => Effect.void
})))

/** The rows of the cluster's tables. */
const counts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [messages] = yield* sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM ${sql("cluster_messages")}`
  const [replies] = yield* sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM ${sql("cluster_replies")}`
  return { messages: Number(messages!.n), replies: Number(replies!.n) }
})

/** The ids left in the cluster's messages, as strings, sorted. */
const messageIds = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const rows = yield* sql<{ readonly id: string | bigint }>`SELECT id FROM ${sql("cluster_messages")}`.pipe(
    Effect.provideService(SqlClient.SafeIntegers, true)
  )
  return rows.map((row) => String(row.id)).sort()
})

const deletedCount = (table: string) =>
  Effect.map(Metric.value(Metric.tagged(FleetMetrics.clusterRowsDeleted, "table", table)), (state) => state.count)

/** Waits (real time, a few seconds at most) until `check` holds. */
const eventually = (what: string, check: Effect.Effect<boolean, unknown, SqlClient.SqlClient>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400; i++) {
      if (yield* check) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 25)))
    }
    assert.fail(`never: ${what}`)
  })

const day = 86_400_000
const hour = 3_600_000

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`MessageRetention (${backend.name})`, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.scoped("a runner's done messages go with their replies; recent and unprocessed ones stay; the runner goes on", () =>
        Effect.gen(function*() {
          const db = yield* (yield* TestDatabase).fresh
          const runner = probeLayer.pipe(
            Layer.provideMerge(SingleRunner.layer({ runnerStorage: "memory", shardingConfig: { entityMessagePollInterval: 50 } })),
            Layer.provideMerge(NodeDatabase.layer(db))
          )
          yield* Effect.gen(function*() {
            const client = yield* Probe.client
            for (let n = 1; n <= 5; n++) assert.strictEqual(yield* client(`work-${n % 2}`).Work({ n }), n * 2)
            assert.strictEqual(yield* client("keyed").Keyed(new Keyed({ key: "k1" })), "k1")
            // due tomorrow: stored, not processed
            const tomorrow = DateTime.unsafeMake(Date.now() + day)
            yield* client("later").Later(new Later({ at: tomorrow }), { discard: true })
            assert.deepStrictEqual(yield* counts, { messages: 7, replies: 6 })

            // all of them younger than a day (the default) or an hour: nothing deleted
            assert.deepStrictEqual(yield* MessageRetention.deleteProcessed(), { messages: 0, replies: 0 })
            assert.deepStrictEqual(yield* MessageRetention.deleteProcessed({ retention: "1 hour" }), { messages: 0, replies: 0 })
            assert.deepStrictEqual(yield* counts, { messages: 7, replies: 6 })

            // no retention, batches of 2: every done message and its reply, in 3 batches (and a last empty one)
            const before = { messages: yield* deletedCount("messages"), replies: yield* deletedCount("replies") }
            assert.deepStrictEqual(yield* MessageRetention.deleteProcessed({ retention: 0, batchSize: 2 }), { messages: 6, replies: 6 })
            assert.deepStrictEqual(yield* counts, { messages: 1, replies: 0 })
            assert.strictEqual((yield* deletedCount("messages")) - before.messages, 6)
            assert.strictEqual((yield* deletedCount("replies")) - before.replies, 6)
            // the one left is the delayed message, not processed
            const sql = yield* SqlClient.SqlClient
            const left = yield* sql<{ readonly tag: string }>`SELECT ${sql("tag")} FROM ${sql("cluster_messages")}`
            assert.deepStrictEqual(left.map((row) => row.tag), ["Later"])

            // the runner goes on: new messages are handled and answered
            assert.strictEqual(yield* client("work-1").Work({ n: 21 }), 42)
            assert.strictEqual(yield* client("keyed").Keyed(new Keyed({ key: "k2" })), "k2")
            assert.deepStrictEqual(yield* counts, { messages: 3, replies: 2 })
          }).pipe(Effect.provide(runner))
        }))
    })

    layer(backend.layer)((it) => {
      it.scoped("the layer deletes at start, then hourly: only requests done, replied in full, older than the retention", () =>
        Effect.gen(function*() {
          const db = yield* (yield* TestDatabase).fresh
          const t0 = Date.UTC(2026, 0, 10)
          yield* TestClock.setTime(t0 + 2 * day)
          yield* Effect.gen(function*() {
            const sql = (yield* SqlClient.SqlClient).withoutTransforms()
            const pg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
            const bool = (value: boolean) => pg ? value : value ? 1 : 0
            let sequence = 0
            /** A request made at `madeAt`, stored as SqlMessageStorage stores it, with its replies and acks. */
            const request = (madeAt: number, options: {
              readonly processed: boolean
              readonly exit: boolean
              readonly chunk?: "acked" | "unacked"
              readonly deliverAt?: number
              readonly messageId?: string
            }) =>
              Effect.gen(function*() {
                const id = String(Snowflake.make({ timestamp: madeAt, machineId: 1 as never, sequence: ++sequence }))
                const next = () => String(Snowflake.make({ timestamp: madeAt + 1000, machineId: 1 as never, sequence: ++sequence }))
                const message = (row: { readonly id: string; readonly kind: number; readonly replyId?: string }) => ({
                  id: row.id,
                  message_id: row.kind === 0 ? options.messageId ?? null : null,
                  shard_id: "default:1",
                  entity_type: "RetentionProbe",
                  entity_id: "e",
                  kind: row.kind,
                  tag: row.kind === 0 ? "Work" : null,
                  payload: row.kind === 0 ? "{}" : null,
                  headers: row.kind === 0 ? "{}" : null,
                  processed: bool(options.processed),
                  request_id: id,
                  reply_id: row.replyId ?? null,
                  deliver_at: row.kind === 0 ? options.deliverAt ?? null : null
                })
                yield* sql`INSERT INTO ${sql("cluster_messages")} ${sql.insert(message({ id, kind: 0 }))}`
                if (options.chunk !== undefined) {
                  const chunk = next()
                  yield* sql`INSERT INTO ${sql("cluster_replies")} ${
                    sql.insert({ id: chunk, kind: null, request_id: id, payload: "[]", sequence: 0, acked: bool(options.chunk === "acked") })
                  }`
                  if (options.chunk === "acked") {
                    yield* sql`INSERT INTO ${sql("cluster_messages")} ${sql.insert(message({ id: next(), kind: 1, replyId: chunk }))}`
                  }
                }
                if (options.exit) {
                  yield* sql`INSERT INTO ${sql("cluster_replies")} ${
                    sql.insert({ id: next(), kind: 0, request_id: id, payload: "{}", sequence: null, acked: bool(false) })
                  }`
                }
                return id
              })

            const oldDone = yield* request(t0, { processed: true, exit: true })
            const oldStream = yield* request(t0, { processed: true, exit: true, chunk: "acked" })
            const oldKeyed = yield* request(t0, { processed: true, exit: true, messageId: "RetentionProbe/e/Work/k" })
            const oldUnprocessed = yield* request(t0, { processed: false, exit: false })
            const oldNoExit = yield* request(t0, { processed: true, exit: false })
            // not marked processed, yet replied (SqlMessageStorage never leaves it so): kept all the same
            const oldUnprocessedReplied = yield* request(t0, { processed: false, exit: true })
            const oldUnacked = yield* request(t0, { processed: true, exit: true, chunk: "unacked" })
            // made 2 days ago, due (a cron's tick) 23.5 hours ago: kept until 1 day after it was due
            const oldDueLate = yield* request(t0, { processed: true, exit: true, deliverAt: t0 + day + hour / 2 })
            // made 23.5 hours ago
            const recent = yield* request(t0 + day + hour / 2, { processed: true, exit: true })
            assert.deepStrictEqual(yield* counts, { messages: 10, replies: 9 })

            yield* Layer.build(MessageRetention.layer())
            // at start: the old requests done, with their replies and the stream's ack
            yield* eventually("the old done requests deleted", Effect.map(counts, (n) => n.messages === 6))
            const kept = [oldUnprocessed, oldNoExit, oldUnprocessedReplied, oldUnacked, oldDueLate, recent]
            assert.deepStrictEqual(yield* messageIds, [...kept].sort())
            assert.notInclude(yield* messageIds, oldDone)
            assert.notInclude(yield* messageIds, oldStream)
            assert.notInclude(yield* messageIds, oldKeyed)
            // replies left: the unacked stream's chunk and exit, the unprocessed, due-late and recent ones' exits
            assert.deepStrictEqual(yield* counts, { messages: 6, replies: 5 })

            // an hour later: the due-late and the recent requests are older than a day
            yield* eventually("the layer waits for its next hour", Effect.map(TestClock.sleeps(), (sleeps) => sleeps.length > 0))
            yield* TestClock.adjust("1 hour")
            yield* eventually("the due-late and recent requests deleted", Effect.map(counts, (n) => n.messages === 4))
            assert.deepStrictEqual(yield* messageIds, [oldUnprocessed, oldNoExit, oldUnprocessedReplied, oldUnacked].sort())
            assert.deepStrictEqual(yield* counts, { messages: 4, replies: 3 })
          }).pipe(
            Effect.provide(SqlMessageStorage.layer.pipe(Layer.provide(ShardingConfig.layer()), Layer.provideMerge(NodeDatabase.layer(db))))
          )
        }))
    })
  })
}
