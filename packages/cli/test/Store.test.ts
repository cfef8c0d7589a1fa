import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it, layer } from "@effect/vitest"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { backends, TestDatabase } from "../../node/test/support/postgres.js"
import * as Resources from "../src/Resources.js"
import * as Store from "../src/Store.js"

/** The same cases on SQLite and on PostgreSQL (when VPPKIT_TEST_PG_URL or CI names a server): each in an empty database. */

const resource = (name: Resources.Name) => Resources.all.find((r) => r.name === name)!

const withDatabase = <A, E>(body: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.gen(function*() {
    const url = yield* (yield* TestDatabase).fresh
    return yield* Effect.provide(body, NodeDatabase.layer(url))
  })

/** `body` in one transaction, as a sync's pass runs: its temporary table belongs to the connection. */
const inTransaction = <A, E>(body: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(body))

/** The names of a table's columns, in order. */
const columnsOf = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql.onDialectOrElse({
        pg: () =>
          sql<{ readonly name: string }>`SELECT column_name AS name FROM information_schema.columns WHERE table_name = ${table} AND table_schema = current_schema() ORDER BY ordinal_position`,
        orElse: () => sql<{ readonly name: string }>`SELECT ${sql("name")} FROM pragma_table_info(${table})`
      }),
      (rows) => rows.map((row) => row.name)
    ))

describe("Store", () => {
  it("tables: quoted names, the natural key first, a column per documented field with a portable type", () => {
    assert.strictEqual(
      Store.createTableSql(resource("assets")),
      "CREATE TABLE IF NOT EXISTS \"assets\" (\"natural_key\" TEXT PRIMARY KEY, \"adamId\" TEXT, \"pricingParam\" TEXT, " +
        "\"productType\" TEXT, \"assignedCount\" BIGINT, \"availableCount\" BIGINT, \"retiredCount\" BIGINT, \"totalCount\" BIGINT, " +
        "\"deviceAssignable\" INTEGER, \"revocable\" INTEGER, \"supportedPlatforms\" TEXT, \"unlimited\" INTEGER)"
    )
    assert.include(Store.createTableSql(resource("subscription-assignments")), "CREATE TABLE IF NOT EXISTS \"subscription_assignments\"")
    assert.include(Store.createStateTableSql, "\"checkpoint\" TEXT NULL")
  })
})

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`Store (${backend.name})`, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.scoped("records round-trip: booleans as 0/1, arrays as JSON text, absent fields as NULL; a repeated key keeps the last", () =>
        withDatabase(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const assets = resource("assets")
          yield* Store.ensureSchema([assets])
          const first = { adamId: "1", pricingParam: "STDQ", productType: "App", deviceAssignable: true, revocable: false, supportedPlatforms: ["iOS", "macOS"], totalCount: 3 }
          const second = { ...first, totalCount: 4, assignedCount: 1 }
          const book = { adamId: "2", pricingParam: "PLUS", productType: "Book", deviceAssignable: false, revocable: false, supportedPlatforms: [] }
          yield* Store.upsert(assets, [first, book, second])
          const raw = yield* sql`SELECT * FROM ${sql("assets")} ORDER BY ${sql("natural_key")}`
          assert.deepStrictEqual(raw[0], {
            natural_key: "1:STDQ",
            adamId: "1",
            pricingParam: "STDQ",
            productType: "App",
            assignedCount: 1,
            availableCount: null,
            retiredCount: null,
            totalCount: 4,
            deviceAssignable: 1,
            revocable: 0,
            supportedPlatforms: "[\"iOS\",\"macOS\"]",
            unlimited: null
          })
          assert.deepStrictEqual(yield* Store.rows(assets), [
            { key: "1:STDQ", record: second },
            { key: "2:PLUS", record: book }
          ])
          yield* Store.upsert(assets, [{ ...book, productType: "App" }])
          assert.strictEqual(yield* Store.count(assets), 2)
        })))

      it.scoped("a table written before a field existed gets its column, and keeps its rows", () =>
        withDatabase(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const assets = resource("assets")
          // the assets table as vppkit made it before the unlimited field
          const older = { ...assets, fields: assets.fields.filter((field) => field.name !== "unlimited") }
          yield* sql.unsafe(Store.createTableSql(older))
          yield* sql`INSERT INTO ${sql("assets")} ${sql.insert({ natural_key: "1:STDQ", adamId: "1", pricingParam: "STDQ", totalCount: 3 })}`
          yield* Store.ensureSchema([assets])
          assert.include(yield* columnsOf("assets"), "unlimited")
          yield* Store.upsert(assets, [{ adamId: "2", pricingParam: "STDQ", assignedCount: 4, unlimited: true }])
          assert.deepStrictEqual(yield* Store.rows(assets), [
            { key: "1:STDQ", record: { adamId: "1", pricingParam: "STDQ", totalCount: 3 } },
            { key: "2:STDQ", record: { adamId: "2", pricingParam: "STDQ", assignedCount: 4, unlimited: true } }
          ])
          // and again: nothing left to add
          yield* Store.ensureSchema([assets])
        })))

      it.scoped("a full pass over a non-empty table records what it delivers and deletes the rest when it reconciles", () =>
        withDatabase(inTransaction(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const assets = resource("assets")
          yield* Store.ensureSchema([assets])
          const asset = (adamId: string) => ({ adamId, pricingParam: "STDQ", productType: "App" })
          const temp = sql.onDialectOrElse({ pg: () => "pg_temp", orElse: () => "temp" })
          const seenKeys = sql<{ readonly natural_key: string }>`SELECT ${sql("natural_key")} FROM ${sql(temp)}.${sql(Store.seenTable)} ORDER BY 1`
          const seenExists = Effect.map(
            sql.onDialectOrElse({
              pg: () => sql`SELECT 1 WHERE to_regclass(${`pg_temp.${Store.seenTable}`}) IS NOT NULL`,
              orElse: () => sql`SELECT ${sql("name")} FROM ${sql("sqlite_temp_master")} WHERE ${sql("name")} = ${Store.seenTable}`
            }),
            (rows) => rows.length > 0
          )
          // the schema of the database's own tables
          const main = sql.onDialectOrElse({
            pg: () => Effect.map(sql<{ readonly s: string }>`SELECT current_schema() AS s`, (rows) => rows[0]!.s),
            orElse: () => Effect.succeed("main")
          })

          // A table of the temporary table's name in the database itself is never touched.
          yield* sql`CREATE TABLE ${sql(Store.seenTable)} (${sql("natural_key")} TEXT)`
          yield* sql`INSERT INTO ${sql(Store.seenTable)} ${sql.insert({ natural_key: "mine" })}`

          // An empty table: nothing to record, nothing to delete afterwards.
          assert.isFalse(yield* Store.startPass(assets))
          yield* Store.upsert(assets, [asset("1"), asset("2"), asset("3")], { seen: false })
          assert.deepStrictEqual(yield* Store.finishPass(assets, { recorded: false, reconcile: true }), { rows: 3, deleted: 0 })
          assert.deepStrictEqual([...yield* Store.keys(assets)].sort(), ["1:STDQ", "2:STDQ", "3:STDQ"])

          // A drifted pass (no reconcile) records, deletes nothing, and drops what it recorded.
          assert.isTrue(yield* Store.startPass(assets))
          yield* Store.upsert(assets, [asset("2"), asset("2"), asset("4")], { seen: true })
          assert.deepStrictEqual((yield* seenKeys).map((row) => row.natural_key), ["2:STDQ", "4:STDQ"])
          assert.deepStrictEqual(yield* Store.finishPass(assets, { recorded: true, reconcile: false }), { rows: 4, deleted: 0 })
          assert.isFalse(yield* seenExists)
          assert.deepStrictEqual([...yield* Store.keys(assets)].sort(), ["1:STDQ", "2:STDQ", "3:STDQ", "4:STDQ"])

          // A consistent pass deletes exactly the rows it did not deliver; a new pass starts from no keys.
          assert.isTrue(yield* Store.startPass(assets))
          yield* Store.upsert(assets, [asset("1")], { seen: true })
          assert.isTrue(yield* Store.startPass(assets))
          assert.deepStrictEqual(yield* seenKeys, [])
          yield* Store.upsert(assets, [asset("2")], { seen: true })
          yield* Store.upsert(assets, [asset("4"), asset("5")], { seen: true })
          assert.deepStrictEqual(yield* Store.finishPass(assets, { recorded: true, reconcile: true }), { rows: 3, deleted: 2 })
          assert.isFalse(yield* seenExists)
          assert.deepStrictEqual([...yield* Store.keys(assets)].sort(), ["2:STDQ", "4:STDQ", "5:STDQ"])

          // A consistent pass that delivered every row deletes nothing.
          assert.isTrue(yield* Store.startPass(assets))
          yield* Store.upsert(assets, [asset("5"), asset("4"), asset("2"), asset("4")], { seen: true })
          assert.deepStrictEqual(yield* Store.finishPass(assets, { recorded: true, reconcile: true }), { rows: 3, deleted: 0 })
          assert.deepStrictEqual([...yield* Store.keys(assets)].sort(), ["2:STDQ", "4:STDQ", "5:STDQ"])
          assert.deepStrictEqual(yield* sql`SELECT * FROM ${sql(yield* main)}.${sql(Store.seenTable)}`, [{ natural_key: "mine" }])
        }))))

      it.scoped("an upsert of more rows than one statement holds writes each key once, the last of its records", () =>
        withDatabase(inTransaction(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const assignments = resource("assignments")
          yield* Store.ensureSchema([assignments])
          const device = (i: number, userStatus?: string) => ({
            adamId: String(1000 + (i % 7)),
            pricingParam: "STDQ",
            serialNumber: `S${i}`,
            ...(userStatus !== undefined ? { userStatus } : {})
          })
          // 1,300 records, 1,200 keys: the first 100 come again at the end (in another statement) with a change.
          const records = [
            ...Array.from({ length: 1200 }, (_, i) => device(i)),
            ...Array.from({ length: 100 }, (_, i) => device(i, "Registered"))
          ]
          yield* Store.upsert(assignments, records)
          assert.strictEqual(yield* Store.count(assignments), 1200)
          const changed = yield* sql<{ readonly n: number }>`SELECT COUNT(*) AS ${sql("n")} FROM ${sql("assignments")} WHERE ${
            sql("userStatus")
          } = ${"Registered"}`
          assert.strictEqual(changed[0]!.n, 100)
          const stored = new Map((yield* Store.rows(assignments)).map(({ key, record }) => [key, record]))
          for (const [i, record] of [[0, device(0, "Registered")], [99, device(99, "Registered")], [100, device(100)], [1199, device(1199)]] as const) {
            assert.deepStrictEqual(stored.get(assignments.key(record)), record, `record ${i}`)
          }

          // Counting: keys new to the table, each once, across statements; the existing ones are not counted.
          const more = [...records.slice(1100, 1250), device(5000), device(5001), device(5000, "Registered")]
          assert.strictEqual(yield* Store.upsert(assignments, more, { countInserted: true }), 2)
          assert.strictEqual(yield* Store.upsert(assignments, records.slice(0, 10)), undefined)
          assert.strictEqual(yield* Store.upsert(assignments, [], { countInserted: true }), 0)
          assert.strictEqual(yield* Store.count(assignments), 1202)
          assert.strictEqual(stored.size, 1200)

          // The keys of a pass are recorded once each, however many statements they take.
          assert.isTrue(yield* Store.startPass(assignments))
          yield* Store.upsert(assignments, records.slice(0, 1100), { seen: true })
          assert.deepStrictEqual(yield* Store.finishPass(assignments, { recorded: true, reconcile: true }), { rows: 1100, deleted: 102 })
          assert.strictEqual(yield* Store.count(assignments), 1100)
        }))))

      it.scoped("ensureSchema adds the columns a table made by an earlier version lacks, keeping its rows", () =>
        withDatabase(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const assets = resource("assets")
          // assets without its last column, and sync_state as the version before made it.
          yield* sql.unsafe("CREATE TABLE \"assets\" (\"natural_key\" TEXT PRIMARY KEY, \"adamId\" TEXT, \"pricingParam\" TEXT)")
          yield* sql.unsafe("INSERT INTO \"assets\" VALUES ('1:STDQ', '1', 'STDQ')")
          yield* sql.unsafe(
            "CREATE TABLE \"sync_state\" (\"resource\" TEXT PRIMARY KEY, \"checkpoint_field\" TEXT, \"checkpoint\" TEXT NULL, " +
              "\"consistency\" TEXT, \"records\" INTEGER, \"last_full_sync_at\" TEXT, \"last_sync_at\" TEXT)"
          )
          yield* Store.ensureSchema([assets])
          const columns = columnsOf
          assert.deepStrictEqual(yield* columns("assets"), [Store.keyColumn, ...assets.fields.map((field) => field.name)])
          assert.includeMembers(yield* columns("sync_state"), ["org_name", "location_uid", "base_url"])
          assert.deepStrictEqual(yield* Store.rows(assets), [{ key: "1:STDQ", record: { adamId: "1", pricingParam: "STDQ" } }])
          yield* Store.ensureSchema([assets]) // and again: nothing to add
        })))

      it.scoped("sync_state round-trips; writing it again replaces the row", () =>
        withDatabase(Effect.gen(function*() {
          yield* Store.ensureSchema([])
          assert.isTrue(Option.isNone(yield* Store.readState("users")))
          const state: Store.State = {
            resource: "users",
            checkpointField: "versionId",
            checkpoint: "v1",
            consistency: "consistent",
            records: 10,
            lastFullSyncAt: "2026-01-01T00:00:00.000Z",
            lastSyncAt: "2026-01-01T00:00:00.000Z"
          }
          yield* Store.writeState(state)
          assert.deepStrictEqual(yield* Store.readState("users"), Option.some(state))
          const next = { ...state, checkpoint: undefined, consistency: "drifted" as const, lastSyncAt: "2026-01-02T00:00:00.000Z" }
          yield* Store.writeState(next)
          assert.deepStrictEqual(yield* Store.readState("users"), Option.some(next))
        })))

      it.scoped("rows come back in bytewise natural key order, whatever the database's collation", () =>
        withDatabase(Effect.gen(function*() {
          const assets = resource("assets")
          yield* Store.ensureSchema([assets])
          const adamIds = ["b", "B", "a", "é", "Z", "10", "9", "a b", "a-b", "ab"]
          yield* Store.upsert(assets, adamIds.map((adamId) => ({ adamId, pricingParam: "STDQ" })))
          const bytewise = adamIds.map((adamId) => `${adamId}:STDQ`).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
          assert.deepStrictEqual((yield* Store.rows(assets)).map((row) => row.key), bytewise)
        })))

      it.scoped("a retired v2 user replaces the non-retired entry with its email or idHash, and no other", () =>
        withDatabase(Effect.gen(function*() {
          const users = resource("users")
          yield* Store.ensureSchema([users])
          yield* Store.upsert(users, [
            { clientUserId: "a", email: "a@x", inviteCode: "i", status: "Registered" },
            { clientUserId: "b", email: "b@x", idHash: "h", status: "Associated" },
            { clientUserId: "c", email: "c2@x", idHash: "h2", status: "Associated" }
          ])
          assert.strictEqual(yield* Store.removeRetiredUser(users, { clientUserId: "a", email: "a@x", status: "Retired" }), 1)
          assert.strictEqual(yield* Store.removeRetiredUser(users, { clientUserId: "b", email: "other@x", idHash: "h", status: "Retired" }), 1)
          // A different person under the same clientUserId (re-created with another email and Apple Account).
          assert.strictEqual(yield* Store.removeRetiredUser(users, { clientUserId: "c", email: "c@x", idHash: "h1", status: "Retired" }), 0)
          assert.deepStrictEqual(yield* Store.keys(users), ["c"])
        })))
    })
  })
}
