import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it, layer } from "@effect/vitest"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SqlSyncStore from "../src/SqlSyncStore.js"
import * as SyncStore from "../src/SyncStore.js"
import { backends, TestDatabase } from "../../node/test/support/postgres.js"

const resource = (name: string): Resource.Any => Resources.byName(name)!

/** A new empty database of the backend (a SQLite file, or a PostgreSQL schema) for the body, without the store. */
const withSqlite = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.flatMap(TestDatabase, (database) => Effect.flatMap(database.fresh, (db) => Effect.provide(body, NodeDatabase.layer(db))))

/** A new empty database of the backend and the sync store over it. */
const withDatabase = <A, E, R>(body: Effect.Effect<A, E, R>) => withSqlite(Effect.provide(body, SqlSyncStore.layer))

/** `body` in one transaction, as a sync's pass runs: its temporary table belongs to the connection. */
const inTransaction = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(body))

/** The columns of a table, in order (SQLite's `pragma_table_info`, PostgreSQL's `information_schema`). */
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

// Before the backends' suites: @effect/vitest's `layer` patches the shared `it`, so a property test declared after
// them would run in the last backend's layer (and fail where PostgreSQL is skipped).
describe("SqlSyncStore", () => {
  it.effect.prop(
    "for any batches of records: the table holds each key's last record, counts what was new, and a consistent pass keeps only what it delivered",
    {
      batches: FastCheck.array(
        FastCheck.array(
          FastCheck.record({ serial: FastCheck.integer({ min: 0, max: 40 }), status: FastCheck.constantFrom("Registered", "Associated") }),
          { maxLength: 30 }
        ),
        { maxLength: 5 }
      ),
      pass: FastCheck.array(FastCheck.integer({ min: 0, max: 40 }), { maxLength: 30 })
    },
    ({ batches, pass }) =>
      Effect.gen(function*() {
        const store = yield* SyncStore.SyncStore
        const assignments = resource("assignments")
        yield* store.ensureResources([assignments])
        const device = (serial: number, userStatus?: string) => ({
          adamId: "1",
          pricingParam: "STDQ",
          serialNumber: `S${serial}`,
          ...(userStatus !== undefined ? { userStatus } : {})
        })
        const expected = new Map<string, SyncStore.JsonRecord>()
        for (const batch of batches) {
          const records = batch.map(({ serial, status }) => device(serial, status))
          const fresh = new Set(records.map(assignments.key).filter((key) => !expected.has(key))).size
          assert.strictEqual(yield* store.upsert(assignments, records, { countInserted: true }), fresh)
          for (const record of records) expected.set(assignments.key(record), record)
        }
        assert.deepStrictEqual(
          yield* store.rows(assignments),
          [...expected.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([key, record]) => ({ key, record }))
        )
        const delivered = pass.map((serial) => device(serial))
        const keys = new Set(delivered.map(assignments.key))
        const recorded = yield* store.startPass(assignments)
        assert.strictEqual(recorded, expected.size > 0)
        yield* store.upsert(assignments, delivered, { seen: recorded })
        const { deleted, rows } = yield* store.finishPass(assignments, { recorded, reconcile: true })
        assert.deepStrictEqual([...yield* store.keys(assignments)].sort(), [...keys].sort())
        assert.strictEqual(rows, keys.size)
        assert.strictEqual(deleted, [...expected.keys()].filter((key) => !keys.has(key)).length)
      }).pipe(
        Effect.provide(SqlSyncStore.layer.pipe(Layer.provideMerge(SqliteClient.layer({ filename: ":memory:" }))))
      ),
    { fastCheck: { numRuns: 30 } }
  )
})

describe("SqlSyncStore locations", () => {
  it.effect.prop(
    "for any writes and full passes spread over locations: each location's partition holds exactly what its own writes and passes left",
    {
      steps: FastCheck.array(
        FastCheck.record({
          location: FastCheck.constantFrom("", "111", "222"),
          pass: FastCheck.boolean(),
          count: FastCheck.boolean(),
          serials: FastCheck.array(FastCheck.integer({ min: 0, max: 15 }), { maxLength: 12 })
        }),
        { maxLength: 12 }
      )
    },
    ({ steps }) =>
      Effect.gen(function*() {
        const store = yield* SyncStore.SyncStore
        const assignments = resource("assignments")
        yield* store.ensureResources([assignments])
        const device = (serial: number, location: string) => ({ adamId: "1", pricingParam: "STDQ", serialNumber: `S${serial}`, userStatus: `in ${location}` })
        const model = new Map<string, Set<string>>([["", new Set()], ["111", new Set()], ["222", new Set()]])
        for (const step of steps) {
          const scoped = store.forLocation(step.location)
          const records = step.serials.map((serial) => device(serial, step.location))
          const keys = new Set(records.map(assignments.key))
          if (step.pass) {
            yield* scoped.transaction(Effect.gen(function*() {
              const recorded = yield* scoped.startPass(assignments)
              yield* scoped.upsert(assignments, records, { seen: recorded })
              yield* scoped.finishPass(assignments, { recorded, reconcile: true })
            }))
            model.set(step.location, keys)
          } else if (step.count) {
            // Counted against what the location held, whatever the other locations and the passes inserted or deleted.
            const fresh = [...keys].filter((key) => !model.get(step.location)!.has(key)).length
            assert.strictEqual(yield* scoped.upsert(assignments, records, { countInserted: true }), fresh)
            for (const key of keys) model.get(step.location)!.add(key)
          } else {
            yield* scoped.upsert(assignments, records)
            for (const key of keys) model.get(step.location)!.add(key)
          }
        }
        for (const [location, keys] of model) {
          const scoped = store.forLocation(location)
          assert.deepStrictEqual([...yield* scoped.keys(assignments)].sort(), [...keys].sort(), `location "${location}"`)
          for (const row of yield* scoped.rows(assignments)) assert.strictEqual(row.record["userStatus"], `in ${location}`)
          assert.strictEqual(yield* scoped.count(assignments), keys.size)
        }
      }).pipe(
        Effect.provide(SqlSyncStore.layer.pipe(Layer.provideMerge(SqliteClient.layer({ filename: ":memory:" }))))
      ),
    { fastCheck: { numRuns: 30 } }
  )
})

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`SqlSyncStore (${backend.name})`, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
  it("tables: quoted names, the location and the natural key first, a column per documented field with a portable type", () => {
    assert.strictEqual(
      SqlSyncStore.createTableSql(resource("assets")),
      "CREATE TABLE IF NOT EXISTS \"assets\" (\"location_uid\" TEXT NOT NULL, \"natural_key\" TEXT NOT NULL, \"adamId\" TEXT, \"pricingParam\" TEXT, " +
        "\"productType\" TEXT, \"assignedCount\" BIGINT, \"availableCount\" BIGINT, \"retiredCount\" BIGINT, \"totalCount\" BIGINT, " +
        "\"deviceAssignable\" INTEGER, \"revocable\" INTEGER, \"supportedPlatforms\" TEXT, \"unlimited\" INTEGER, " +
        "PRIMARY KEY (\"location_uid\", \"natural_key\"))"
    )
    assert.deepStrictEqual(SqlSyncStore.createIndexesSql(resource("assets")), [
      "CREATE INDEX IF NOT EXISTS \"assets_adamId\" ON \"assets\" (\"location_uid\", \"adamId\")"
    ])
    assert.include(SqlSyncStore.createTableSql(resource("subscription-assignments")), "CREATE TABLE IF NOT EXISTS \"subscription_assignments\"")
    assert.include(SqlSyncStore.createStateTableSql, "\"checkpoint\" TEXT NULL")
  })

  it.scoped("records round-trip: booleans as 0/1, arrays as JSON text, absent fields as NULL; a repeated key keeps the last", () =>
    withDatabase(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const assets = resource("assets")
      yield* SyncStore.ensureResources([assets])
      const first = { adamId: "1", pricingParam: "STDQ", productType: "App", deviceAssignable: true, revocable: false, supportedPlatforms: ["iOS", "macOS"], totalCount: 3 }
      const second = { ...first, totalCount: 4, assignedCount: 1 }
      const book = { adamId: "2", pricingParam: "PLUS", productType: "Book", deviceAssignable: false, revocable: false, supportedPlatforms: [] }
      yield* SyncStore.upsert(assets, [first, book, second])
      const raw = yield* sql`SELECT * FROM ${sql("assets")} ORDER BY ${sql("natural_key")}`
      assert.deepStrictEqual(raw[0], {
        location_uid: SyncStore.unassigned,
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
      assert.deepStrictEqual(yield* SyncStore.rows(assets), [
        { key: "1:STDQ", record: second },
        { key: "2:PLUS", record: book }
      ])
      yield* SyncStore.upsert(assets, [{ ...book, productType: "App" }])
      assert.strictEqual(yield* SyncStore.count(assets), 2)
    })))

  it.scoped.skipIf(backend.name !== "postgres")(
    "tables already current are not locked: a sync's set-up does not wait behind another's (PostgreSQL's tables lock)",
    () =>
      Effect.gen(function*() {
        const db = yield* (yield* TestDatabase).fresh
        const assets = resource("assets")
        const storeOf = Layer.build(SqlSyncStore.layer.pipe(Layer.provide(NodeDatabase.layer(db))))
        // a first store makes the table; a second one opens (another runner); then another session holds the lock
        yield* SyncStore.ensureResources([assets]).pipe(Effect.provide(yield* storeOf))
        const second = yield* storeOf
        const holder = yield* Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.reserve), yield* Layer.build(NodeDatabase.layer(db)))
        // vppkit's class of advisory locks ("vppk") and the tables' key, as SqlSyncStore takes it
        yield* holder.execute("SELECT pg_advisory_lock(1987080299, hashtext(current_schema() || ':tables'))", [], undefined)
        // the second store finds the table current and does not wait for the lock
        yield* SyncStore.ensureResources([assets]).pipe(
          Effect.provide(second),
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("waited for the tables' lock") })
        )
        // a table that needs making still takes it: it waits until the holder lets go, then makes the table
        const creating = yield* SyncStore.ensureResources([resource("users")]).pipe(Effect.provide(second), Effect.fork)
        yield* Effect.sleep("300 millis")
        assert.isNull(creating.unsafePoll())
        yield* holder.execute("SELECT pg_advisory_unlock_all()", [], undefined)
        yield* Fiber.join(creating)
        assert.include(yield* Effect.provide(columnsOf("users"), yield* Layer.build(NodeDatabase.layer(db))), "location_uid")
      })
  )

  it.scoped("a table written before a field existed gets its column, and keeps its rows", () =>
    withDatabase(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const assets = resource("assets")
      // the assets table as vppkit made it before the unlimited field
      yield* sql.unsafe(SqlSyncStore.createTableSql(assets).replace(", \"unlimited\" INTEGER", ""))
      yield* sql`INSERT INTO ${sql("assets")} ${sql.insert({ location_uid: "", natural_key: "1:STDQ", adamId: "1", pricingParam: "STDQ", totalCount: 3 })}`
      yield* SyncStore.ensureResources([assets])
      assert.include(yield* columnsOf("assets"), "unlimited")
      yield* SyncStore.upsert(assets, [{ adamId: "2", pricingParam: "STDQ", assignedCount: 4, unlimited: true }])
      assert.deepStrictEqual(yield* SyncStore.rows(assets), [
        { key: "1:STDQ", record: { adamId: "1", pricingParam: "STDQ", totalCount: 3 } },
        { key: "2:STDQ", record: { adamId: "2", pricingParam: "STDQ", assignedCount: 4, unlimited: true } }
      ])
      // and again: nothing left to add
      yield* SyncStore.ensureResources([assets])
    })))

  it.scoped("a full pass over a non-empty table records what it delivers and deletes the rest when it reconciles", () =>
    withDatabase(inTransaction(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const assets = resource("assets")
      yield* SyncStore.ensureResources([assets])
      const asset = (adamId: string) => ({ adamId, pricingParam: "STDQ", productType: "App" })
      const temp = sql.onDialectOrElse({ pg: () => "pg_temp", orElse: () => "temp" })
      const seenKeys = sql<{ readonly natural_key: string }>`SELECT ${sql("natural_key")} FROM ${sql(temp)}.${sql(SqlSyncStore.seenTable)} ORDER BY 1`
      const seenExists = Effect.map(
        sql.onDialectOrElse({
          pg: () => sql`SELECT 1 WHERE to_regclass(${`pg_temp.${SqlSyncStore.seenTable}`}) IS NOT NULL`,
          orElse: () => sql`SELECT ${sql("name")} FROM ${sql("sqlite_temp_master")} WHERE ${sql("name")} = ${SqlSyncStore.seenTable}`
        }),
        (rows) => rows.length > 0
      )
      // the schema of the database's own tables
      const main = sql.onDialectOrElse({
        pg: () => Effect.map(sql<{ readonly s: string }>`SELECT current_schema() AS s`, (rows) => rows[0]!.s),
        orElse: () => Effect.succeed("main")
      })

      // A table of the temporary table's name in the database itself is never touched.
      yield* sql`CREATE TABLE ${sql(SqlSyncStore.seenTable)} (${sql("natural_key")} TEXT)`
      yield* sql`INSERT INTO ${sql(SqlSyncStore.seenTable)} ${sql.insert({ natural_key: "mine" })}`

      // An empty table: nothing to record, nothing to delete afterwards.
      assert.isFalse(yield* SyncStore.startPass(assets))
      yield* SyncStore.upsert(assets, [asset("1"), asset("2"), asset("3")], { seen: false })
      assert.deepStrictEqual(yield* SyncStore.finishPass(assets, { recorded: false, reconcile: true }), { rows: 3, deleted: 0 })
      assert.deepStrictEqual([...yield* SyncStore.keys(assets)].sort(), ["1:STDQ", "2:STDQ", "3:STDQ"])

      // A drifted pass (no reconcile) records, deletes nothing, and drops what it recorded.
      assert.isTrue(yield* SyncStore.startPass(assets))
      yield* SyncStore.upsert(assets, [asset("2"), asset("2"), asset("4")], { seen: true })
      // PostgreSQL stages a pass's records until the store is read (or the pass ends): count, then look.
      assert.strictEqual(yield* SyncStore.count(assets), 4)
      assert.deepStrictEqual((yield* seenKeys).map((row) => row.natural_key), ["2:STDQ", "4:STDQ"])
      assert.deepStrictEqual(yield* SyncStore.finishPass(assets, { recorded: true, reconcile: false }), { rows: 4, deleted: 0 })
      assert.isFalse(yield* seenExists)
      assert.deepStrictEqual([...yield* SyncStore.keys(assets)].sort(), ["1:STDQ", "2:STDQ", "3:STDQ", "4:STDQ"])

      // A consistent pass deletes exactly the rows it did not deliver; a new pass starts from no keys.
      assert.isTrue(yield* SyncStore.startPass(assets))
      yield* SyncStore.upsert(assets, [asset("1")], { seen: true })
      assert.isTrue(yield* SyncStore.startPass(assets))
      assert.deepStrictEqual(yield* seenKeys, [])
      yield* SyncStore.upsert(assets, [asset("2")], { seen: true })
      yield* SyncStore.upsert(assets, [asset("4"), asset("5")], { seen: true })
      assert.deepStrictEqual(yield* SyncStore.finishPass(assets, { recorded: true, reconcile: true }), { rows: 3, deleted: 2 })
      assert.isFalse(yield* seenExists)
      assert.deepStrictEqual([...yield* SyncStore.keys(assets)].sort(), ["2:STDQ", "4:STDQ", "5:STDQ"])

      // A consistent pass that delivered every row deletes nothing.
      assert.isTrue(yield* SyncStore.startPass(assets))
      yield* SyncStore.upsert(assets, [asset("5"), asset("4"), asset("2"), asset("4")], { seen: true })
      assert.deepStrictEqual(yield* SyncStore.finishPass(assets, { recorded: true, reconcile: true }), { rows: 3, deleted: 0 })
      assert.deepStrictEqual([...yield* SyncStore.keys(assets)].sort(), ["2:STDQ", "4:STDQ", "5:STDQ"])
      assert.deepStrictEqual(yield* sql`SELECT * FROM ${sql(yield* main)}.${sql(SqlSyncStore.seenTable)}`, [{ natural_key: "mine" }])
    }))))

  it.scoped("a full pass into an empty table leaves its indexes, also when it is rolled back; an unchanged record is not rewritten", () =>
    withDatabase(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const assignments = resource("assignments")
      yield* SyncStore.ensureResources([assignments])
      const indexes = Effect.map(
        sql.onDialectOrElse({
          pg: () =>
            sql<{ readonly name: string }>`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'assignments' AND schemaname = current_schema() AND indexname <> 'assignments_pkey'`,
          orElse: () => sql<{ readonly name: string }>`SELECT name FROM pragma_index_list('assignments') WHERE origin = 'c'`
        }),
        (rows) => rows.map((row) => row.name).sort()
      )
      const made = ["assignments_adamId", "assignments_clientUserId", "assignments_serialNumber"]
      assert.deepStrictEqual(yield* indexes, made)
      const device = (serial: string, userStatus?: string) => ({
        adamId: "1",
        pricingParam: "STDQ",
        serialNumber: serial,
        ...(userStatus !== undefined ? { userStatus } : {})
      })

      const failed = yield* Effect.flip(inTransaction(Effect.gen(function*() {
        assert.isFalse(yield* SyncStore.startPass(assignments))
        yield* SyncStore.upsert(assignments, [device("S1")])
        return yield* Effect.fail("the pass failed")
      })))
      assert.strictEqual(failed, "the pass failed")
      assert.deepStrictEqual(yield* indexes, made)
      assert.strictEqual(yield* SyncStore.count(assignments), 0)

      yield* inTransaction(Effect.gen(function*() {
        assert.isFalse(yield* SyncStore.startPass(assignments))
        yield* SyncStore.upsert(assignments, [device("S1"), device("S2")])
        assert.deepStrictEqual(yield* SyncStore.finishPass(assignments, { recorded: false, reconcile: true }), { rows: 2, deleted: 0 })
      }))
      assert.deepStrictEqual(yield* indexes, made)

      // SQLite: a trigger sees which rows an upsert rewrites.
      if (sql.onDialectOrElse({ sqlite: () => false, orElse: () => true })) return
      yield* sql.unsafe("CREATE TABLE updated (natural_key TEXT)")
      yield* sql.unsafe("CREATE TRIGGER assignments_updated AFTER UPDATE ON assignments BEGIN INSERT INTO updated VALUES (new.natural_key); END")
      yield* SyncStore.upsert(assignments, [device("S1"), device("S2", "Associated")])
      assert.deepStrictEqual(yield* sql<{ readonly natural_key: string }>`SELECT natural_key FROM updated`, [
        { natural_key: assignments.key(device("S2")) }
      ])
      assert.deepStrictEqual((yield* SyncStore.rows(assignments)).map((row) => row.record), [device("S1"), device("S2", "Associated")])
    })))

  it.scoped("an upsert of more rows than one statement holds writes each key once, the last of its records", () =>
    withDatabase(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const assignments = resource("assignments")
      yield* SyncStore.ensureResources([assignments])
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
      yield* SyncStore.upsert(assignments, records)
      assert.strictEqual(yield* SyncStore.count(assignments), 1200)
      const changed = yield* sql<{ readonly n: number }>`SELECT COUNT(*) AS ${sql("n")} FROM ${sql("assignments")} WHERE ${
        sql("userStatus")
      } = ${"Registered"}`
      assert.strictEqual(changed[0]!.n, 100)
      const stored = new Map((yield* SyncStore.rows(assignments)).map(({ key, record }) => [key, record]))
      for (const [i, record] of [[0, device(0, "Registered")], [99, device(99, "Registered")], [100, device(100)], [1199, device(1199)]] as const) {
        assert.deepStrictEqual(stored.get(assignments.key(record)), record, `record ${i}`)
      }

      // Counting: keys new to the table, each once, across statements; the existing ones are not counted.
      const more = [...records.slice(1100, 1250), device(5000), device(5001), device(5000, "Registered")]
      assert.strictEqual(yield* SyncStore.upsert(assignments, more, { countInserted: true }), 2)
      assert.strictEqual(yield* SyncStore.upsert(assignments, records.slice(0, 10)), undefined)
      assert.strictEqual(yield* SyncStore.upsert(assignments, [], { countInserted: true }), 0)
      assert.strictEqual(yield* SyncStore.count(assignments), 1202)
      assert.strictEqual(stored.size, 1200)

      // SQLite counts the rows above the table's largest rowid; with rowids past 2^52 it looks the keys up instead.
      if (sql.onDialectOrElse({ sqlite: () => true, orElse: () => false })) {
        // The row of the largest rowid (device 5001) deleted: SQLite gives its rowid again, to a row counted as new.
        yield* sql.unsafe(`DELETE FROM assignments WHERE rowid = (SELECT MAX(rowid) FROM assignments)`)
        assert.strictEqual(yield* SyncStore.upsert(assignments, [device(5000), device(5001), device(5002)], { countInserted: true }), 2)
        yield* sql.unsafe(`UPDATE assignments SET rowid = 9007199254740000 WHERE natural_key = ?`, [assignments.key(device(5002))])
        assert.strictEqual(yield* SyncStore.upsert(assignments, [device(5002), device(5003), device(5003), device(7)], { countInserted: true }), 1)
        assert.strictEqual(yield* SyncStore.count(assignments), 1204)
        yield* sql.unsafe(`DELETE FROM assignments WHERE natural_key IN (?, ?)`, [assignments.key(device(5002)), assignments.key(device(5003))])
      }

      // The keys of a pass are recorded once each, however many statements they take.
      assert.isTrue(yield* SyncStore.startPass(assignments))
      yield* SyncStore.upsert(assignments, records.slice(0, 1100), { seen: true })
      assert.deepStrictEqual(yield* SyncStore.finishPass(assignments, { recorded: true, reconcile: true }), { rows: 1100, deleted: 102 })
      assert.strictEqual(yield* SyncStore.count(assignments), 1100)
    })))

  // On PostgreSQL a full pass copies its records (COPY, 10,000 rows a statement): straight into an empty partition
  // until a key comes again, then through a staging table. None of that may lose a record or keep a stale one.
  it.scoped("a full pass of many pages keeps each key's last record: keys repeated across and within copies, a read midway, a second pass's deletions", () =>
    withDatabase(Effect.gen(function*() {
      const store = yield* SyncStore.SyncStore
      const assignments = resource("assignments")
      yield* store.ensureResources([assignments])
      const device = (i: number, userStatus?: string) => ({
        adamId: String(1000 + (i % 7)),
        pricingParam: "STDQ",
        serialNumber: `S${i}`,
        ...(userStatus !== undefined ? { userStatus } : {})
      })
      const range = (from: number, to: number, userStatus?: string) => Array.from({ length: to - from }, (_, i) => device(from + i, userStatus))
      const statusOf = (rows: ReadonlyArray<{ readonly key: string; readonly record: SyncStore.JsonRecord }>) =>
        new Map(rows.map(({ key, record }) => [key, record["userStatus"]]))

      const first = yield* store.transaction(Effect.gen(function*() {
        assert.isFalse(yield* store.startPass(assignments))
        // Pages of 1,000: the first 10 fill one copy; the 11th repeats key 5 (copied already) and key 10,500 twice.
        for (let page = 0; page < 10; page++) yield* store.upsert(assignments, range(page * 1000, page * 1000 + 1000), { seen: false })
        yield* store.upsert(assignments, [...range(10_000, 11_000), device(5, "Registered"), device(10_500, "Associated"), device(10_500, "Registered")], { seen: false })
        // A read midway sees every row written so far, each key once.
        assert.strictEqual(yield* store.count(assignments), 11_000)
        for (let page = 11; page < 21; page++) yield* store.upsert(assignments, range(page * 1000, page * 1000 + 1000), { seen: false })
        yield* store.upsert(assignments, [device(5, "Retired"), device(20_999, "Registered"), device(3, "Associated")], { seen: false })
        yield* store.upsert(assignments, [device(3)], { seen: false })
        return yield* store.finishPass(assignments, { recorded: false, reconcile: true })
      }))
      assert.deepStrictEqual(first, { rows: 21_000, deleted: 0 })
      const afterFirst = statusOf(yield* store.rows(assignments))
      assert.strictEqual(afterFirst.size, 21_000)
      const key = (i: number) => assignments.key(device(i))
      assert.strictEqual(afterFirst.get(key(5)), "Retired")
      assert.strictEqual(afterFirst.get(key(10_500)), "Registered")
      assert.strictEqual(afterFirst.get(key(20_999)), "Registered")
      assert.strictEqual(afterFirst.get(key(3)), undefined)
      assert.strictEqual(afterFirst.get(key(4)), undefined)

      // A second full pass over the table (it records its keys): delivers 0..14,999, some twice; the rest is deleted.
      const second = yield* store.transaction(Effect.gen(function*() {
        assert.isTrue(yield* store.startPass(assignments))
        for (let page = 0; page < 15; page++) yield* store.upsert(assignments, range(page * 1000, page * 1000 + 1000, "Registered"), { seen: true })
        yield* store.upsert(assignments, [device(7, "Retired"), device(14_999)], { seen: true })
        return yield* store.finishPass(assignments, { recorded: true, reconcile: true })
      }))
      assert.deepStrictEqual(second, { rows: 15_000, deleted: 6_000 })
      const afterSecond = statusOf(yield* store.rows(assignments))
      assert.strictEqual(afterSecond.size, 15_000)
      assert.strictEqual(afterSecond.get(key(7)), "Retired")
      assert.strictEqual(afterSecond.get(key(14_999)), undefined)
      assert.strictEqual(afterSecond.get(key(5)), "Registered")
      assert.isFalse(afterSecond.has(key(15_000)))
    })))

  it.scoped("a full pass that fails midway leaves nothing of it; one committed without finishPass keeps every record", () =>
    withDatabase(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* SyncStore.SyncStore
      const assignments = resource("assignments")
      yield* store.ensureResources([assignments])
      const device = (i: number) => ({ adamId: "1", pricingParam: "STDQ", serialNumber: `S${i}` })
      const pages = (from: number, count: number) => Array.from({ length: count }, (_, page) => Array.from({ length: 1000 }, (_, i) => device(from + page * 1000 + i)))
      const failed = yield* Effect.either(store.transaction(Effect.gen(function*() {
        yield* store.startPass(assignments)
        // 12 pages: one copy written, the rest buffered, then the pass fails.
        for (const page of pages(0, 12)) yield* store.upsert(assignments, page, { seen: false })
        return yield* Effect.fail("the pass failed")
      })))
      assert.deepStrictEqual(failed._tag, "Left")
      assert.strictEqual(yield* store.count(assignments), 0)
      const stage = sql.onDialectOrElse({
        pg: () => sql`SELECT COUNT(*)::int AS ${sql("n")} FROM pg_tables WHERE ${sql("tablename")} = ${SqlSyncStore.stageTable}`,
        orElse: () => Effect.succeed([{ n: 0 }])
      })
      assert.strictEqual((yield* stage)[0]!.n, 0, "no staging table left")

      // Committed by the store's transaction without finishPass: what was buffered is written before the commit.
      yield* store.transaction(Effect.gen(function*() {
        yield* store.startPass(assignments)
        for (const page of pages(0, 12)) yield* store.upsert(assignments, page, { seen: false })
        yield* store.upsert(assignments, [device(11_999), device(12_000)], { seen: false })
      }))
      assert.strictEqual(yield* store.count(assignments), 12_001)
      assert.strictEqual((yield* stage)[0]!.n, 0, "no staging table left")
    })))

  if (backend.name === "sqlite") it.scoped("opening a database made before migrations: sync_state gains its key and columns, tables theirs, rows stay unassigned", () =>
    withSqlite(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const assets = resource("assets")
      // assets without its last columns, and sync_state as the version before the organisation made it.
      yield* sql.unsafe("CREATE TABLE \"assets\" (\"natural_key\" TEXT PRIMARY KEY, \"adamId\" TEXT, \"pricingParam\" TEXT)")
      yield* sql.unsafe("INSERT INTO \"assets\" VALUES ('1:STDQ', '1', 'STDQ')")
      yield* sql.unsafe(
        "CREATE TABLE \"sync_state\" (\"resource\" TEXT PRIMARY KEY, \"checkpoint_field\" TEXT, \"checkpoint\" TEXT NULL, " +
          "\"consistency\" TEXT, \"records\" INTEGER, \"last_full_sync_at\" TEXT, \"last_sync_at\" TEXT)"
      )
      yield* sql.unsafe("INSERT INTO \"sync_state\" VALUES ('assets', NULL, NULL, 'consistent', 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')")
      const columns = (table: string) =>
        Effect.map(sql<{ readonly name: string }>`SELECT ${sql("name")} FROM pragma_table_info(${table})`, (rows) => rows.map((row) => row.name))
      yield* Effect.gen(function*() {
        assert.includeMembers(yield* columns("sync_state"), ["location_uid", "org_name", "base_url", "recorded_uid"])
        assert.deepStrictEqual(
          Option.map(yield* SyncStore.readState("assets"), (state) => [state.records, state.lastSyncAt]),
          Option.some([1, "2026-01-01T00:00:00.000Z"])
        )
        yield* SyncStore.ensureResources([assets])
        assert.deepStrictEqual(yield* columns("assets"), [
          SqlSyncStore.locationColumn,
          SqlSyncStore.keyColumn,
          ...Resource.columns(assets).map((field) => field.name)
        ])
        assert.deepStrictEqual(yield* SyncStore.rows(assets), [{ key: "1:STDQ", record: { adamId: "1", pricingParam: "STDQ" } }])
        yield* SyncStore.ensureResources([assets]) // and again: nothing to add
      }).pipe(Effect.provide(SqlSyncStore.layer))
      // The migration ran once and is recorded; building the store again runs nothing.
      assert.deepStrictEqual(yield* sql`SELECT ${sql("migration_id")}, ${sql("name")} FROM ${sql(SqlSyncStore.migrationsTable)} ORDER BY 1`, [
        { migration_id: 1, name: "sync_state" },
        { migration_id: 2, name: "locations" }
      ])
      assert.deepStrictEqual(yield* SqlSyncStore.migrate, [])
    })))

  it.scoped("a new database: the migration makes sync_state with every column; a transaction commits or rolls back whole", () =>
    withDatabase(Effect.gen(function*() {
      const store = yield* SyncStore.SyncStore
      const assets = resource("assets")
      assert.deepStrictEqual(yield* columnsOf("sync_state"), [
        "location_uid", "resource", "checkpoint_field", "checkpoint", "consistency", "records", "last_full_sync_at", "last_sync_at", "org_name", "base_url", "recorded_uid"
      ])
      assert.deepStrictEqual(yield* columnsOf("locations"), [
        "uid", "location_name", "org_name", "base_url", "token_expires_at", "first_seen_at", "last_seen_at"
      ])
      assert.deepStrictEqual(yield* columnsOf("location_tokens"), ["fingerprint", "uid", "first_seen_at", "last_seen_at", "token_expires_at"])
      yield* store.ensureResources([assets])
      const asset = { adamId: "1", pricingParam: "STDQ" }
      const failed = yield* Effect.either(store.transaction(Effect.zipRight(store.upsert(assets, [asset]), Effect.fail("no"))))
      assert.isTrue(failed._tag === "Left")
      assert.strictEqual(yield* store.count(assets), 0, "rolled back")
      yield* store.transaction(store.upsert(assets, [asset]))
      assert.strictEqual(yield* store.count(assets), 1, "committed")
    })))

  // The upserts keep no statement journal (INSERT OR FAIL), so a statement SQLite cannot finish makes it roll the whole
  // transaction back itself; the transaction must still fail with that statement's error, not with its ROLLBACK's.
  if (backend.name === "sqlite") it.scoped("a full disk midway through an upsert fails the transaction with its own error and leaves nothing", () =>
    withDatabase(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* SyncStore.SyncStore
      const assignments = resource("assignments")
      yield* store.ensureResources([assignments])
      const device = (i: number) => ({ adamId: String(1000 + (i % 7)), pricingParam: "STDQ", serialNumber: `S${String(i).padStart(40, "0")}` })
      yield* store.transaction(store.upsert(assignments, Array.from({ length: 100 }, (_, i) => device(i))))
      const [pages] = yield* sql<{ readonly page_count: number }>`PRAGMA page_count`
      // The file may grow by 8 pages: the first of the statements below (500 rows) needs many more.
      yield* sql.unsafe(`PRAGMA max_page_count = ${pages!.page_count + 8}`)
      const records = Array.from({ length: 2000 }, (_, i) => device(i))
      const failed = yield* Effect.either(store.transaction(Effect.zipRight(
        store.upsert(assignments, records.slice(0, 50)),
        store.upsert(assignments, records, { countInserted: true })
      )))
      assert.isTrue(failed._tag === "Left", "the transaction fails")
      if (failed._tag === "Left") {
        assert.strictEqual(failed.left._tag, "SqlError")
        assert.include(String(failed.left.cause), "full")
      }
      assert.strictEqual(yield* store.count(assignments), 100, "nothing of the transaction stays")
      yield* sql.unsafe(`PRAGMA max_page_count = 1073741823`)
      assert.strictEqual(yield* store.transaction(store.upsert(assignments, records, { countInserted: true })), 1900)
      assert.strictEqual(yield* store.count(assignments), 2000)
    })))

  // PostgreSQL: syncs of different locations may open one new database at once (SQLite's sync takes the database's
  // lock file before it opens it). Without the advisory locks around the migrations table and the resource tables,
  // two openers both create a table and one fails (23505 on pg_type).
  if (backend.name === "postgres") it.scoped("stores opening one new database at once, each on connections of its own: every one opens, the migrations run once, the tables are made once", () =>
    Effect.gen(function*() {
      const db = yield* (yield* TestDatabase).fresh
      const openers = 6
      // Each opener's client connects first (a pool of its own); then they all migrate and make the tables at once.
      const connected = Effect.flatMap(
        Layer.build(NodeDatabase.layer(db)),
        (context) => Effect.as(Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`), context), context)
      )
      const clients = yield* Effect.all(Array.from({ length: openers }, () => connected), { concurrency: "unbounded" })
      const go = yield* Deferred.make<void>()
      const opened = yield* Effect.fork(Effect.forEach(
        clients,
        (context) =>
          Deferred.await(go).pipe(
            Effect.zipRight(SqlSyncStore.migrate),
            Effect.flatMap((ran) =>
              Effect.as(Effect.flatMap(SqlSyncStore.make, (store) => store.ensureResources(Resources.all)), ran)
            ),
            Effect.provide(context)
          ),
        { concurrency: "unbounded" }
      ))
      yield* Deferred.succeed(go, undefined)
      const ran = yield* Fiber.join(opened)
      // Exactly one opener ran the migrations; the others found them done.
      assert.deepStrictEqual(ran.flat(), [[1, "sync_state"], [2, "locations"]])
      yield* Effect.provide(Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        assert.deepStrictEqual(yield* sql`SELECT ${sql("migration_id")}, ${sql("name")} FROM ${sql(SqlSyncStore.migrationsTable)} ORDER BY 1`, [
          { migration_id: 1, name: "sync_state" },
          { migration_id: 2, name: "locations" }
        ])
        for (const descriptor of Resources.all) assert.isAbove((yield* columnsOf(SyncStore.tableName(descriptor))).length, 2, descriptor.name)
      }), clients[0]!)
    }))

  // PostgreSQL: a sync of one location opens the store (ensureResources) while a sync of another is in the middle
  // of a resource's transaction, its rows written but not committed. CREATE INDEX IF NOT EXISTS takes a SHARE lock
  // on its table even when the index exists, which waits for every open write transaction on it.
  if (backend.name === "postgres") it.scoped("a store opening the database while another location's transaction is open with rows written does not wait for it", () =>
    Effect.gen(function*() {
      const db = yield* (yield* TestDatabase).fresh
      const open = Effect.map(
        Layer.build(SqlSyncStore.layer.pipe(Layer.provideMerge(NodeDatabase.layer(db)))),
        (context) => Context.get(context, SyncStore.SyncStore)
      )
      const writer = (yield* open).forLocation("111")
      yield* writer.ensureResources(Resources.all)
      const assets = resource("assets")
      const written = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const writing = yield* Effect.fork(writer.transaction(Effect.gen(function*() {
        yield* writer.upsert(assets, [{ adamId: "1", pricingParam: "STDQ" }])
        yield* Deferred.succeed(written, undefined)
        yield* Deferred.await(release)
      })))
      yield* Deferred.await(written)
      const opener = (yield* open).forLocation("222")
      yield* Effect.gen(function*() {
        yield* opener.ensureResources(Resources.all).pipe(
          Effect.timeoutFail({
            duration: "20 seconds",
            onTimeout: () => new Error("ensureResources waited for the other location's open transaction")
          })
        )
        // And it writes its own rows of that table meanwhile.
        yield* opener.transaction(opener.upsert(assets, [{ adamId: "1", pricingParam: "STDQ", totalCount: 2 }]))
        assert.deepStrictEqual((yield* opener.rows(assets)).map((row) => row.record["totalCount"]), [2])
      }).pipe(Effect.ensuring(Deferred.succeed(release, undefined)))
      yield* Fiber.join(writing)
      assert.strictEqual(yield* writer.count(assets), 1)
    }))

  it.scoped("sync_state round-trips; writing it again replaces the row", () =>
    withDatabase(Effect.gen(function*() {
      yield* SyncStore.ensureResources([])
      assert.isTrue(Option.isNone(yield* SyncStore.readState("users")))
      const state: SyncStore.State = {
        resource: "users",
        checkpointField: "versionId",
        checkpoint: "v1",
        consistency: "consistent",
        records: 10,
        lastFullSyncAt: "2026-01-01T00:00:00.000Z",
        lastSyncAt: "2026-01-01T00:00:00.000Z"
      }
      yield* SyncStore.writeState(state)
      assert.deepStrictEqual(yield* SyncStore.readState("users"), Option.some(state))
      const next = { ...state, checkpoint: undefined, consistency: "drifted" as const, lastSyncAt: "2026-01-02T00:00:00.000Z" }
      yield* SyncStore.writeState(next)
      assert.deepStrictEqual(yield* SyncStore.readState("users"), Option.some(next))
    })))

  it.scoped("two locations in one table: each operation sees its own partition; a full pass reconciles only its own", () =>
    withDatabase(inTransaction(Effect.gen(function*() {
      const store = yield* SyncStore.SyncStore
      const north = store.forLocation("111")
      const south = store.forLocation("222")
      const assets = resource("assets")
      yield* store.ensureResources([assets])
      const asset = (adamId: string, totalCount = 1) => ({ adamId, pricingParam: "STDQ", totalCount })
      // The same natural keys in both locations, with different values.
      assert.strictEqual(yield* north.upsert(assets, [asset("1"), asset("2"), asset("3")], { countInserted: true }), 3)
      assert.strictEqual(yield* south.upsert(assets, [asset("2", 20), asset("3", 30), asset("4", 40)], { countInserted: true }), 3)
      assert.strictEqual(yield* south.upsert(assets, [asset("2", 21), asset("1", 10)], { countInserted: true }), 1)
      assert.deepStrictEqual(yield* north.rows(assets), [
        { key: "1:STDQ", record: asset("1") },
        { key: "2:STDQ", record: asset("2") },
        { key: "3:STDQ", record: asset("3") }
      ])
      assert.deepStrictEqual((yield* south.rows(assets)).map((row) => row.record.totalCount), [10, 21, 30, 40])
      assert.strictEqual(yield* store.count(assets), 0, "the unassigned partition is empty")

      // A consistent full pass of north that delivers only asset 3 deletes north's 1 and 2, nothing of south's.
      assert.isTrue(yield* north.startPass(assets))
      yield* north.upsert(assets, [asset("3", 3)], { seen: true })
      assert.deepStrictEqual(yield* north.finishPass(assets, { recorded: true, reconcile: true }), { rows: 1, deleted: 2 })
      assert.deepStrictEqual(yield* north.keys(assets), ["3:STDQ"])
      assert.deepStrictEqual([...yield* south.keys(assets)].sort(), ["1:STDQ", "2:STDQ", "3:STDQ", "4:STDQ"])
      // A pass of a location without rows needs no record of its keys, whatever the other holds.
      const east = store.forLocation("333")
      assert.isFalse(yield* east.startPass(assets))
      assert.deepStrictEqual(yield* east.finishPass(assets, { recorded: false, reconcile: true }), { rows: 0, deleted: 0 })

      // States per location.
      const state = (checkpoint: string): SyncStore.State => ({
        resource: "assets",
        checkpointField: "versionId",
        checkpoint,
        consistency: "consistent",
        records: 1,
        lastFullSyncAt: undefined,
        lastSyncAt: "2026-01-01T00:00:00.000Z"
      })
      yield* north.writeState(state("n1"))
      yield* south.writeState(state("s1"))
      yield* north.writeState(state("n2"))
      assert.deepStrictEqual(Option.map(yield* north.readState("assets"), (s) => s.checkpoint), Option.some("n2"))
      assert.deepStrictEqual(Option.map(yield* south.readState("assets"), (s) => s.checkpoint), Option.some("s1"))
      assert.isTrue(Option.isNone(yield* east.readState("assets")))
      assert.strictEqual(north.location, "111")
      assert.strictEqual(north.forLocation("222").location, "222")
    }))))

  it.scoped("locations: recorded with their tokens' fingerprints, listed with their resources' last runs", () =>
    withDatabase(Effect.gen(function*() {
      const store = yield* SyncStore.SyncStore
      assert.deepStrictEqual(yield* store.locations, [])
      const record = (uId: string, fingerprint: string, seenAt: string, locationName: string | undefined = `Location ${uId}`) =>
        store.recordLocation({
          uId,
          locationName,
          orgName: "School",
          baseUrl: "https://vpp.example",
          tokenExpiresAt: `2030-0${uId.length}-01T00:00:00.000Z`,
          fingerprint,
          seenAt
        })
      yield* record("222", "b".repeat(64), "2026-01-01T00:00:00.000Z")
      yield* record("1", "a".repeat(64), "2026-01-02T00:00:00.000Z", "Another")
      yield* record("222", "c".repeat(64), "2026-01-03T00:00:00.000Z")
      yield* record("222", "b".repeat(64), "2026-01-04T00:00:00.000Z")
      yield* store.forLocation("222").writeState({
        resource: "users",
        checkpointField: "versionId",
        checkpoint: "v",
        consistency: "drifted",
        records: 7,
        lastFullSyncAt: undefined,
        lastSyncAt: "2026-01-04T00:00:00.000Z"
      })
      // An unassigned state (a database of an earlier version) belongs to no location.
      yield* store.writeState({
        resource: "assets",
        checkpointField: undefined,
        checkpoint: undefined,
        consistency: "consistent",
        records: 1,
        lastFullSyncAt: undefined,
        lastSyncAt: "2026-01-01T00:00:00.000Z"
      })
      assert.deepStrictEqual(yield* store.locations, [
        {
          uId: "1",
          locationName: "Another",
          orgName: "School",
          baseUrl: "https://vpp.example",
          tokenExpiresAt: "2030-01-01T00:00:00.000Z",
          tokens: 1,
          firstSeenAt: "2026-01-02T00:00:00.000Z",
          lastSeenAt: "2026-01-02T00:00:00.000Z",
          resources: []
        },
        {
          uId: "222",
          locationName: "Location 222",
          orgName: "School",
          baseUrl: "https://vpp.example",
          tokenExpiresAt: "2030-03-01T00:00:00.000Z",
          tokens: 2,
          firstSeenAt: "2026-01-01T00:00:00.000Z",
          lastSeenAt: "2026-01-04T00:00:00.000Z",
          resources: [{ resource: "users", lastSyncAt: "2026-01-04T00:00:00.000Z", lastFullSyncAt: undefined, consistency: "drifted", records: 7 }]
        }
      ])
    })))

  it.scoped("rows come back in bytewise natural key order, whatever the database's collation", () =>
    withDatabase(Effect.gen(function*() {
      const assets = resource("assets")
      yield* SyncStore.ensureResources([assets])
      const adamIds = ["b", "B", "a", "é", "Z", "10", "9", "a b", "a-b", "ab"]
      yield* SyncStore.upsert(assets, adamIds.map((adamId) => ({ adamId, pricingParam: "STDQ" })))
      const bytewise = adamIds.map((adamId) => `${adamId}:STDQ`).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      assert.deepStrictEqual((yield* SyncStore.rows(assets)).map((row) => row.key), bytewise)
    })))

  it.scoped("a retired v2 user replaces the non-retired entry with its email or idHash, and no other", () =>
    withDatabase(Effect.gen(function*() {
      const users = resource("users")
      yield* SyncStore.ensureResources([users])
      yield* SyncStore.upsert(users, [
        { clientUserId: "a", email: "a@x", inviteCode: "i", status: "Registered" },
        { clientUserId: "b", email: "b@x", idHash: "h", status: "Associated" },
        { clientUserId: "c", email: "c2@x", idHash: "h2", status: "Associated" }
      ])
      assert.strictEqual(yield* SyncStore.removeRetiredUser(users, { clientUserId: "a", email: "a@x", status: "Retired" }), 1)
      assert.strictEqual(yield* SyncStore.removeRetiredUser(users, { clientUserId: "b", email: "other@x", idHash: "h", status: "Retired" }), 1)
      // A different person under the same clientUserId (re-created with another email and Apple Account).
      assert.strictEqual(yield* SyncStore.removeRetiredUser(users, { clientUserId: "c", email: "c@x", idHash: "h1", status: "Retired" }), 0)
      assert.deepStrictEqual(yield* SyncStore.keys(users), ["c"])
    })))
    })
  })
}
