/**
 * The {@link SyncStore.SyncStore} over SQL: one table per resource, keyed by (`location_uid`, `natural_key`) —
 * Apple's library `uId` and the record's natural key — with a column per field named as in Apple's JSON;
 * `sync_state` with one row per location and resource (its checkpoint and when it was last synced); `locations`
 * (one row per `uId`: name, organisation, base URL, token expiry, first and last seen) and `location_tokens` (the
 * SHA-256 of each sToken seen, and its location). These are created and evolved by numbered migrations
 * (`@effect/sql/Migrator`, recorded in {@link migrationsTable}), run when the layer is built; a resource's table
 * derives from its descriptor, so {@link SyncStore.Service.ensureResources} creates it, rebuilds one made before
 * locations (its rows unassigned), adds the columns a newer record schema has and its indexes (each led by
 * `location_uid`). Everything goes through `@effect/sql`'s `SqlClient` with portable SQL — quoted identifiers,
 * `CREATE TABLE IF NOT EXISTS`, `INSERT … ON CONFLICT (…) DO UPDATE` — so the same statements run on SQLite
 * (`@effect/sql-sqlite-node`) and PostgreSQL (`@effect/sql-pg`; rows go in with `unnest`, one array per column,
 * and a full pass's with `COPY … FROM STDIN` on the pass's connection, through `pg-copy-streams`).
 *
 * Column types: `text` → `TEXT`, `integer` → `BIGINT` (Apple's licence and user ids do not fit PostgreSQL's
 * 32-bit `INTEGER`; SQLite gives `BIGINT` integer affinity), `real` → `DOUBLE PRECISION`, `boolean` →
 * `INTEGER` 0/1, `json` → `TEXT` holding the JSON. A field a record does not have is `NULL`.
 *
 * The sToken is never stored: records, checkpoints and locations do not hold it, `location_tokens` its SHA-256.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Resource from "@vppkit/core/Resource"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as PgCopy from "./internal/pgCopy.js"
import * as SqlMigrations from "./SqlMigrations.js"
import * as SyncStore from "./SyncStore.js"

type JsonRecord = SyncStore.JsonRecord
type State = SyncStore.State

/** What the statements need of a resource, derived once from its descriptor. */
interface Table {
  readonly table: string
  readonly fields: ReadonlyArray<Resource.Field>
  readonly key: (record: JsonRecord) => string
}

const tableCache = new WeakMap<Resource.Any, Table>()

const tableOf = (resource: Resource.Any): Table => {
  let table = tableCache.get(resource)
  if (table === undefined) {
    table = { table: SyncStore.tableName(resource), fields: Resource.columns(resource), key: (record) => resource.key(record) }
    tableCache.set(resource, table)
  }
  return table
}

/**
 * The column that holds a record's natural key (the table's primary key with {@link locationColumn}).
 *
 * @since 0.1.0
 * @category schema
 */
export const keyColumn = "natural_key"

/**
 * The column of every resource table and of `sync_state` that holds the row's location (Apple's `uId`; `''`
 * for the unassigned rows of a database made by an earlier version).
 *
 * @since 0.1.0
 * @category schema
 */
export const locationColumn = "location_uid"

/**
 * The table of locations, one row per `uId`.
 *
 * @since 0.1.0
 * @category schema
 */
export const locationsTable = "locations"

/**
 * The table of the tokens seen per location: the SHA-256 of each sToken (never the token) and its location.
 *
 * @since 0.1.0
 * @category schema
 */
export const locationTokensTable = "location_tokens"

/**
 * The table of checkpoints, one row per location and resource.
 *
 * @since 0.1.0
 * @category schema
 */
export const stateTable = "sync_state"

const sqlType = (type: Resource.Field["type"]): string => {
  switch (type) {
    case "text":
    case "json":
      return "TEXT"
    case "integer":
      return "BIGINT"
    case "real":
      return "DOUBLE PRECISION"
    case "boolean":
      return "INTEGER"
  }
}

/** The first key of vppkit's advisory locks: `vppk` in ASCII. */
const advisoryClass = 0x7670706b

/** Double-quotes an identifier (SQL standard; SQLite and PostgreSQL alike). */
const quote = (identifier: string): string => `"${identifier.replace(/"/g, "\"\"")}"`

/** A table's columns after its primary key: name and SQL type. */
type Columns = ReadonlyArray<readonly [name: string, type: string]>

const resourceColumns = (resource: Table): Columns =>
  resource.fields.map((field) => [field.name, sqlType(field.type)] as const)

/**
 * The `CREATE TABLE` statement of a resource's table.
 *
 * @since 0.1.0
 * @category schema
 */
export const createTableSql = (descriptor: Resource.Any): string => createTable(tableOf(descriptor))

const createTable = (resource: Table, table = resource.table): string =>
  `CREATE TABLE IF NOT EXISTS ${quote(table)} (${
    [
      `${quote(locationColumn)} TEXT NOT NULL`,
      `${quote(keyColumn)} TEXT NOT NULL`,
      ...resourceColumns(resource).map(([name, type]) => `${quote(name)} ${type}`),
      `PRIMARY KEY (${quote(locationColumn)}, ${quote(keyColumn)})`
    ].join(", ")
  })`

/** `sync_state` as the versions before locations made it (migration 0001), keyed by resource alone. */
const stateColumns0001: Columns = [
  ["checkpoint_field", "TEXT"],
  ["checkpoint", "TEXT NULL"],
  ["consistency", "TEXT"],
  ["records", "INTEGER"],
  ["last_full_sync_at", "TEXT"],
  ["last_sync_at", "TEXT"],
  ["org_name", "TEXT"],
  ["location_uid", "TEXT"],
  ["base_url", "TEXT"]
]

const createStateTable0001 = `CREATE TABLE IF NOT EXISTS ${quote(stateTable)} (${
  [`${quote("resource")} TEXT PRIMARY KEY`, ...stateColumns0001.map(([name, type]) => `${quote(name)} ${type}`)].join(", ")
})`

/**
 * `sync_state`'s columns after its key (`location_uid`, `resource`). `org_name`, `base_url` and `recorded_uid`
 * are what a row of an earlier version recorded of its organisation (the location adopting it must match them);
 * rows written since leave them `NULL`.
 */
const stateColumns: Columns = [
  ["checkpoint_field", "TEXT"],
  ["checkpoint", "TEXT NULL"],
  ["consistency", "TEXT"],
  ["records", "INTEGER"],
  ["last_full_sync_at", "TEXT"],
  ["last_sync_at", "TEXT"],
  ["org_name", "TEXT"],
  ["base_url", "TEXT"],
  ["recorded_uid", "TEXT"]
]

const createStateTable = (table: string) =>
  `CREATE TABLE IF NOT EXISTS ${quote(table)} (${
    [
      `${quote(locationColumn)} TEXT NOT NULL`,
      `${quote("resource")} TEXT NOT NULL`,
      ...stateColumns.map(([name, type]) => `${quote(name)} ${type}`),
      `PRIMARY KEY (${quote(locationColumn)}, ${quote("resource")})`
    ].join(", ")
  })`

/**
 * The `CREATE TABLE` statement of `sync_state` (as migration 0002 leaves it).
 *
 * @since 0.1.0
 * @category schema
 */
export const createStateTableSql = createStateTable(stateTable)

/** The names of a table's columns. */
const columnsOf = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql.onDialectOrElse({
        pg: () =>
          sql<{ readonly name: string }>`SELECT ${sql("column_name")} AS ${sql("name")} FROM ${sql("information_schema")}.${
            sql("columns")
          } WHERE ${sql("table_name")} = ${table} AND ${sql("table_schema")} = current_schema()`,
        orElse: () => sql<{ readonly name: string }>`SELECT ${sql("name")} FROM pragma_table_info(${table})`
      }),
      (rows) => new Set(rows.map((row) => row.name))
    ))

/**
 * Adds the columns a table made by an earlier version lacks (`ALTER TABLE … ADD COLUMN`; they start `NULL`).
 */
const addMissingColumns = (table: string, columns: Columns) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const existing = yield* columnsOf(table)
    for (const [name, type] of columns) {
      if (!existing.has(name)) yield* sql.unsafe(`ALTER TABLE ${quote(table)} ADD COLUMN ${quote(name)} ${type}`)
    }
  })

/**
 * The columns people query by (an app, a user, a device), indexed on every table that has them. The legacy
 * tables name the user `clientUserIdStr`.
 *
 * @since 0.1.0
 * @category schema
 */
export const indexedColumns: ReadonlyArray<string> = ["adamId", "clientUserId", "clientUserIdStr", "serialNumber"]

/**
 * The `CREATE INDEX` statements of a resource's table: one per {@link indexedColumns} column it has, named
 * `<table>_<column>`, on (`location_uid`, column).
 *
 * @since 0.1.0
 * @category schema
 */
export const createIndexesSql = (descriptor: Resource.Any): ReadonlyArray<string> =>
  createIndexes(tableOf(descriptor)).map(({ statement }) => statement)

const createIndexes = (resource: Table): ReadonlyArray<{ readonly name: string; readonly statement: string }> =>
  resource.fields.filter((field) => indexedColumns.includes(field.name)).map((field) => {
    const name = `${resource.table}_${field.name}`
    return {
      name,
      statement: `CREATE INDEX IF NOT EXISTS ${quote(name)} ON ${quote(resource.table)} (${quote(locationColumn)}, ${quote(field.name)})`
    }
  })

/** The names of a table's indexes (a catalog read: it locks nothing of the table). */
const indexesOf = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql.onDialectOrElse({
        pg: () =>
          sql<{ readonly name: string }>`SELECT ${sql("indexname")} AS ${sql("name")} FROM ${sql("pg_indexes")} WHERE ${
            sql("tablename")
          } = ${table} AND ${sql("schemaname")} = current_schema()`,
        orElse: () => sql<{ readonly name: string }>`SELECT ${sql("name")} FROM pragma_index_list(${table})`
      }),
      (rows) => new Set(rows.map((row) => row.name))
    ))

/**
 * The table that records which migrations ran (kept apart from an application's own migrations).
 *
 * @since 0.1.0
 * @category schema
 */
export const migrationsTable = "vppkit_sync_migrations"

/**
 * The migrations of the store's own tables, in order. A database made before there were migrations has no
 * {@link migrationsTable}, so each of them runs on it too: each brings what it finds to its shape.
 */
const migrations: Record<string, Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient>> = {
  // sync_state, and the columns a sync_state made before vppkit recorded the organisation lacks.
  "0001_sync_state": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(createStateTable0001)
    yield* addMissingColumns(stateTable, stateColumns0001)
  }),
  // Many locations: sync_state keyed by (location_uid, resource), its rows so far unassigned ('') with the uId
  // they recorded kept in recorded_uid; the locations and the fingerprints of their tokens.
  "0002_locations": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rebuilt = `${stateTable}_0002`
    yield* sql.unsafe(createStateTable(rebuilt))
    const kept = stateColumns0001.map(([name]) => name).filter((name) => name !== "location_uid")
    yield* sql.unsafe(
      `INSERT INTO ${quote(rebuilt)} (${[locationColumn, "resource", ...kept, "recorded_uid"].map(quote).join(", ")}) SELECT '', ${
        ["resource", ...kept, "location_uid"].map(quote).join(", ")
      } FROM ${quote(stateTable)}`
    )
    yield* sql.unsafe(`DROP TABLE ${quote(stateTable)}`)
    yield* sql.unsafe(`ALTER TABLE ${quote(rebuilt)} RENAME TO ${quote(stateTable)}`)
    yield* sql.unsafe(
      `CREATE TABLE IF NOT EXISTS ${quote(locationsTable)} (${quote("uid")} TEXT PRIMARY KEY, ${quote("location_name")} TEXT, ${
        quote("org_name")
      } TEXT, ${quote("base_url")} TEXT, ${quote("token_expires_at")} TEXT, ${quote("first_seen_at")} TEXT, ${
        quote("last_seen_at")
      } TEXT)`
    )
    yield* sql.unsafe(
      `CREATE TABLE IF NOT EXISTS ${quote(locationTokensTable)} (${quote("fingerprint")} TEXT PRIMARY KEY, ${
        quote("uid")
      } TEXT NOT NULL, ${quote("first_seen_at")} TEXT, ${quote("last_seen_at")} TEXT, ${quote("token_expires_at")} TEXT)`
    )
    yield* sql.unsafe(
      `CREATE INDEX IF NOT EXISTS ${quote(`${locationTokensTable}_uid`)} ON ${quote(locationTokensTable)} (${quote("uid")})`
    )
  })
}

/**
 * Runs the migrations the database has not run yet; answers the ones it ran (`[id, name]`).
 *
 * @since 0.1.0
 * @category schema
 */
export const migrate: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError.SqlError,
  SqlClient.SqlClient
> = SqlMigrations.run({ table: migrationsTable, migrations, advisoryClass: advisoryClass, lock: "tables" }).pipe(
  Effect.withSpan("SqlSyncStore.migrate")
)

/**
 * Rebuilds a resource table made before locations (keyed by `natural_key` alone) to today's shape, keeping its
 * rows as {@link SyncStore.unassigned} ones: a new table, the rows copied (the columns both have), the old
 * table (and its indexes) dropped, the new one renamed. Run in a transaction.
 */
const rebuildWithLocation = (resource: Table, existing: ReadonlySet<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rebuilt = `${resource.table}_0002`
    yield* sql.unsafe(`DROP TABLE IF EXISTS ${quote(rebuilt)}`)
    yield* sql.unsafe(createTable(resource, rebuilt))
    const kept = [keyColumn, ...resource.fields.map((field) => field.name).filter((name) => existing.has(name))]
    yield* sql.unsafe(
      `INSERT INTO ${quote(rebuilt)} (${[locationColumn, ...kept].map(quote).join(", ")}) SELECT '', ${
        kept.map(quote).join(", ")
      } FROM ${quote(resource.table)}`
    )
    yield* sql.unsafe(`DROP TABLE ${quote(resource.table)}`)
    yield* sql.unsafe(`ALTER TABLE ${quote(rebuilt)} RENAME TO ${quote(resource.table)}`)
  })

/**
 * PostgreSQL: a transaction-level advisory lock on vppkit's tables in the current schema, so that syncs of
 * different locations starting at once into one database change its tables one after another (two
 * `CREATE TABLE IF NOT EXISTS` at once may both try to create). SQLite serialises writers itself.
 */
const ddlLock = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.onDialectOrElse({
    pg: () => Effect.asVoid(sql.unsafe(`SELECT pg_advisory_xact_lock(${advisoryClass}, hashtext(current_schema() || ':tables'))`)),
    orElse: () => Effect.void
  }))

/** Whether a resource's table is as this version makes it: there, keyed by location, every column, every index. */
const isCurrent = (resource: Table) =>
  Effect.gen(function*() {
    const existing = yield* columnsOf(resource.table)
    if (!existing.has(locationColumn) || resourceColumns(resource).some(([name]) => !existing.has(name))) return false
    const indexes = yield* indexesOf(resource.table)
    return createIndexes(resource).every(({ name }) => indexes.has(name))
  })

/**
 * Creates the tables of the resources when missing, rebuilds one made before locations (its rows unassigned),
 * adds the columns a table made from an earlier record schema lacks, so a database keeps working across
 * versions, and the indexes it lacks. In one transaction, under the tables' lock ({@link ddlLock}).
 *
 * What exists is read from the catalog and left alone: on PostgreSQL even `CREATE INDEX IF NOT EXISTS` of an
 * index that exists takes a SHARE lock on its table, which waits for every open write transaction on it — a sync
 * of another location in the middle of that resource — and then blocks that location's next writes.
 *
 * The catalog is read first without the lock, and the lock taken only when a table needs changing (then read
 * again under it): syncs of many locations into one database (a fleet: 48 at once over three runners) otherwise
 * queued behind each other's catalog reads for seconds. A store remembers the tables it found current (`ensured`)
 * and does not read them again: tables only ever gain what a version adds.
 */
const ensureResources = Effect.fn("SqlSyncStore.ensureResources")(function*(
  resources: ReadonlyArray<Resource.Any>,
  ensured: Set<string>
) {
  const sql = yield* SqlClient.SqlClient
  const wanted = resources.map(tableOf).filter((resource) => !ensured.has(resource.table))
  const stale = yield* Effect.filter(wanted, (resource) => Effect.map(isCurrent(resource), (current) => !current))
  if (stale.length > 0) {
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* ddlLock
      for (const resource of stale) {
        const existing = yield* columnsOf(resource.table)
        if (existing.size === 0) yield* sql.unsafe(createTable(resource))
        else if (!existing.has(locationColumn)) yield* rebuildWithLocation(resource, existing)
        yield* addMissingColumns(resource.table, resourceColumns(resource))
        const indexes = yield* indexesOf(resource.table)
        for (const { name, statement } of createIndexes(resource)) if (!indexes.has(name)) yield* sql.unsafe(statement)
      }
    }))
  }
  for (const resource of wanted) ensured.add(resource.table)
})

/**
 * The value a column holds for a field of a record.
 *
 * @since 0.1.0
 * @category encoding
 */
export const toColumn = (field: Resource.Field, value: unknown): string | number | bigint | null => {
  if (value === undefined || value === null) return null
  switch (field.type) {
    case "json":
      return JSON.stringify(value)
    case "boolean":
      return typeof value === "boolean" ? (value ? 1 : 0) : typeof value === "number" ? (value === 0 ? 0 : 1) : String(value)
    case "integer":
    case "real":
      return typeof value === "number" || typeof value === "bigint" ? value : String(value)
    case "text":
      return typeof value === "string"
        ? value
        : typeof value === "number" || typeof value === "bigint" || typeof value === "boolean"
        ? String(value)
        : JSON.stringify(value)
  }
}

/**
 * The value of a field from its column (`undefined` for `NULL`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const fromColumn = (field: Resource.Field, value: unknown): unknown => {
  if (value === undefined || value === null) return undefined
  switch (field.type) {
    case "json":
      return typeof value === "string" ? JSON.parse(value) : value
    case "boolean":
      return value === 1 || value === 1n || value === true || value === "1" || value === "true"
    case "integer":
    case "real":
      return typeof value === "bigint" ? Number(value) : typeof value === "string" ? Number(value) : value
    case "text":
      return typeof value === "string" ? value : String(value)
  }
}

/** Bound parameters per statement stay well below SQLite's (32 766) and PostgreSQL's (65 535) limits. */
const maxParameters = 30_000
const maxRowsPerStatement = 500

/** A statement's placeholders: `?` (SQLite) or `$1`, `$2`, … (PostgreSQL). */
type Placeholders = "?" | "$n"

const placeholdersOf = (sql: SqlClient.SqlClient): Placeholders => sql.onDialectOrElse({ pg: () => "$n" as const, orElse: () => "?" as const })

/** `(…), (…)`: `rows` tuples of `columns` placeholders (numbered after the first `offset` ones). */
const valuesText = (rows: number, columns: number, placeholders: Placeholders, offset = 0): string => {
  const tuples: Array<string> = []
  for (let row = 0, n = offset; row < rows; row++) {
    const tuple: Array<string> = []
    for (let column = 0; column < columns; column++) tuple.push(placeholders === "?" ? "?" : `$${++n}`)
    tuples.push(`(${tuple.join(", ")})`)
  }
  return tuples.join(", ")
}

/** Statement texts by resource table, placeholders and row count: a page's statements are built once. */
const texts = new Map<string, string>()

const cachedText = (key: string, make: () => string): string => {
  let text = texts.get(key)
  if (text === undefined) {
    text = make()
    texts.set(key, text)
  }
  return text
}

/**
 * `INSERT INTO t (location_uid, natural_key, …fields) VALUES (…), … ON CONFLICT (location_uid, natural_key) DO
 * UPDATE SET … WHERE t.f IS NOT excluded.f OR …` for `rows` rows.
 *
 * A row whose record did not change is left alone (the `WHERE`): SQLite would otherwise rewrite it and its
 * entry in every index, dirtying a table page and a page per index for nothing. Deltas are mostly such records
 * (Apple re-stamps an assignment on a re-association without changing it) and so is a full pass over a synced
 * table: 8,000 unchanged and 2,000 new assignments upserted into 1M wrote 21,500 pages to the WAL, now 2,400.
 *
 * `OR FAIL`: a statement whose constraint fails (only `NOT NULL` of the location or the key could, and the store
 * binds strings there) stops with its error without undoing its earlier rows, which the failing transaction then
 * rolls back with the rest. So SQLite keeps no statement journal for it: with the default `ABORT`, a multi-row
 * statement in a transaction first copies every page it is about to change into a temporary file, to undo the
 * statement alone — an incremental sync of 10,000 records into 1M wrote 13,000 pages there (26,000 `pwrite`s) for
 * nothing. Without one, a statement SQLite cannot finish (a full disk) makes it end the whole transaction; the
 * store's {@link SyncStore.Service.transaction} reports that statement's error (see `reopenEnded`).
 */
const upsertText = (resource: Table, rows: number, placeholders: Placeholders): string =>
  cachedText(`upsert\u0000${resource.table}\u0000${placeholders}\u0000${rows}`, () => {
    const columns = [locationColumn, keyColumn, ...resource.fields.map((field) => field.name)]
    const fields = resource.fields.map((field) => quote(field.name))
    const update = fields.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${fields.map((field) => `${field} = excluded.${field}`).join(", ")} WHERE ${
        fields.map((field) => `${quote(resource.table)}.${field} IS NOT excluded.${field}`).join(" OR ")
      }`
    return `INSERT OR FAIL INTO ${quote(resource.table)} (${columns.map(quote).join(", ")}) VALUES ${
      valuesText(rows, columns.length, placeholders)
    } ON CONFLICT (${quote(locationColumn)}, ${quote(keyColumn)}) ${update}`
  })

/** `INSERT INTO temp.vppkit_seen (natural_key) VALUES … ON CONFLICT DO NOTHING` for `rows` keys. */
const seenText = (seen: string, rows: number, placeholders: Placeholders): string =>
  cachedText(`seen\u0000${seen}\u0000${placeholders}\u0000${rows}`, () =>
    `INSERT INTO ${seen} (${quote(keyColumn)}) VALUES ${valuesText(rows, 1, placeholders)} ON CONFLICT DO NOTHING`)

/**
 * SQLite: the largest `rowid` of a table (`NULL` when it is empty), found at the end of the table's B-tree. A row
 * inserted after it was read gets a larger one (SQLite gives a new row `max(rowid) + 1` until `rowid` reaches
 * 2^63 − 1) and an upsert that updates a row keeps its `rowid`.
 */
const maxRowidText = (resource: Table): string =>
  cachedText(`maxRowid\u0000${resource.table}`, () => `SELECT MAX(rowid) AS ${quote("m")} FROM ${quote(resource.table)}`)

/**
 * SQLite: `SELECT COUNT(*) AS n FROM t WHERE rowid > ? AND +location_uid = ?`, the location's rows inserted since
 * {@link maxRowidText} answered the first parameter: a range at the end of the table's B-tree. (The `+` keeps the
 * planner from the indexes led by `location_uid`, which would scan the whole location.)
 */
const insertedSinceText = (resource: Table): string =>
  cachedText(`insertedSince\u0000${resource.table}`, () =>
    `SELECT COUNT(*) AS ${quote("n")} FROM ${quote(resource.table)} WHERE rowid > ? AND +${quote(locationColumn)} = ?`)

/** Below this, `max(rowid) + 1` is what SQLite gives the next row, and the `rowid`s are exact as JavaScript numbers. */
const maxCountableRowid = 2 ** 52

/** `SELECT COUNT(*) AS n FROM t WHERE location_uid = ? AND natural_key IN (…)` for `rows` keys. */
const existingText = (resource: Table, rows: number, placeholders: Placeholders): string =>
  cachedText(`existing\u0000${resource.table}\u0000${placeholders}\u0000${rows}`, () =>
    `SELECT COUNT(*) AS ${quote("n")} FROM ${quote(resource.table)} WHERE ${quote(locationColumn)} = ${
      placeholders === "?" ? "?" : "$1"
    } AND ${quote(keyColumn)} IN ${valuesText(1, rows, placeholders, 1)}`)

/** PostgreSQL's array type of a field's column, for `unnest`. */
const arrayType = (type: Resource.Field["type"]): string => {
  switch (type) {
    case "text":
    case "json":
      return "text[]"
    case "integer":
      return "bigint[]"
    case "real":
      return "float8[]"
    case "boolean":
      return "int[]"
  }
}

/** PostgreSQL: rows per `unnest` statement (its parameters are one array per column, not one per value). */
const maxRowsPerArrays = 10_000

/**
 * PostgreSQL: `INSERT INTO t (location_uid, natural_key, …fields) SELECT $1, * FROM unnest($2::text[], …) ON
 * CONFLICT (location_uid, natural_key) DO UPDATE SET …`, one array per column whatever the rows: one short statement text, planned quickly, where
 * the multi-row `VALUES` statement has a placeholder per value. For 100,000 assignments it wrote about twice the
 * rows per second (inserts) and 1.5 times (updates).
 */
const unnestUpsertText = (resource: Table): string =>
  cachedText(`unnest\u0000${resource.table}`, () => {
    const columns = [locationColumn, keyColumn, ...resource.fields.map((field) => field.name)]
    const types = ["text[]", ...resource.fields.map((field) => arrayType(field.type))]
    const update = resource.fields.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${resource.fields.map((field) => `${quote(field.name)} = excluded.${quote(field.name)}`).join(", ")}`
    return `INSERT INTO ${quote(resource.table)} (${columns.map(quote).join(", ")}) SELECT $1::text, u.* FROM unnest(${
      types.map((type, i) => `$${i + 2}::${type}`).join(", ")
    }) AS u ON CONFLICT (${quote(locationColumn)}, ${quote(keyColumn)}) ${update}`
  })

/**
 * Inserts or updates records by natural key, several rows per statement. When a key repeats among the
 * records, the last one wins: SQLite applies a statement's rows in order, and elsewhere (PostgreSQL refuses
 * one statement that updates a row twice) only the last record of each key is sent. With `seen`, the natural
 * keys are also recorded for the full pass in progress (see {@link startPass}). With `countInserted`, answers
 * how many of the keys were not in the table yet, so the cost follows the records, not the table; otherwise
 * answers `undefined`. SQLite counts the location's rows whose `rowid` is above the table's largest before the
 * statements ({@link insertedSinceText}: two lookups at the end of the table's B-tree); PostgreSQL, and SQLite
 * past 2^52 `rowid`s, look the keys up before writing them.
 *
 * The statements' texts are built once per row count (so each is prepared once) and the records go straight
 * into their parameters, without an object per row. On PostgreSQL the rows go in as one array per column
 * (`unnest`), the keys are looked up with `= ANY($1)`. During a full pass on PostgreSQL (from {@link startPass} to
 * {@link finishPass}, in the pass's transaction) the records are copied instead, in bulk ({@link Staging}): they
 * are in the table before the store reads or writes anything else and before the store's transaction commits.
 *
 * @since 0.1.0
 * @category writes
 */
const upsert: (
  location: string,
  resource: Table,
  records: ReadonlyArray<JsonRecord>,
  options?: { readonly seen?: boolean | undefined; readonly countInserted?: boolean | undefined }
) => Effect.Effect<number | undefined, SqlError.SqlError, SqlClient.SqlClient> = Effect.fn("SqlSyncStore.upsert")(
  function*(
    location: string,
    resource: Table,
    records: ReadonlyArray<JsonRecord>,
    options?: { readonly seen?: boolean | undefined; readonly countInserted?: boolean | undefined }
  ) {
    const countInserted = options?.countInserted === true
    if (records.length === 0) return countInserted ? 0 : undefined
    const staging = yield* stagingInProgress
    if (staging !== undefined) {
      if (!countInserted && staging.location === location && staging.resource.table === resource.table) {
        return yield* stage(staging, records)
      }
      yield* flushStaging(staging)
    }
    const sql = yield* SqlClient.SqlClient
    const placeholders = placeholdersOf(sql)
    const fields = resource.fields
    const keys = records.map(resource.key)
    const sqlite = sql.onDialectOrElse({ sqlite: () => true, orElse: () => false })
    // SQLite: the table's largest rowid before the statements, when rows inserted are counted by rowid.
    let rowidBefore: number | undefined
    if (countInserted && sqlite) {
      const [row] = yield* sql.unsafe<{ readonly m: number | bigint | null }>(maxRowidText(resource))
      const m = row?.m ?? 0
      if (typeof m === "number" && m < maxCountableRowid) rowidBefore = m
    }
    const byKeys = countInserted && rowidBefore === undefined
    let written: ReadonlyArray<number> | undefined
    if (byKeys || !sqlite) {
      // The index of each key's last occurrence: that record is the one written, once.
      const last = new Map<string, number>()
      for (let i = 0; i < keys.length; i++) last.set(keys[i]!, i)
      const indices: Array<number> = []
      for (let i = 0; i < keys.length; i++) if (last.get(keys[i]!) === i) indices.push(i)
      written = indices
    }
    const total = written?.length ?? keys.length
    const index = written === undefined ? (i: number) => i : (i: number) => written[i]!
    /** The natural keys written by rows `start` to `end` (exclusive). */
    const keysWritten = (start: number, end: number): Array<string> => {
      const chunk: Array<string> = []
      for (let j = start; j < end; j++) chunk.push(keys[index(j)]!)
      return chunk
    }
    let inserted = 0
    if (sql.onDialectOrElse({ pg: () => true, orElse: () => false })) {
      for (let start = 0; start < total; start += maxRowsPerArrays) {
        const end = Math.min(total, start + maxRowsPerArrays)
        const chunk = keysWritten(start, end)
        if (countInserted) {
          const found = yield* sql.unsafe<{ readonly n: number | bigint | string }>(
            `SELECT COUNT(*) AS ${quote("n")} FROM ${quote(resource.table)} WHERE ${quote(locationColumn)} = $1 AND ${
              quote(keyColumn)
            } = ANY($2::text[])`,
            [location, chunk]
          )
          inserted += end - start - Number(found[0]?.n ?? 0)
        }
        const columns: Array<Array<unknown>> = [chunk]
        for (const field of fields) {
          const values: Array<unknown> = []
          for (let j = start; j < end; j++) values.push(toColumn(field, records[index(j)]![field.name]))
          columns.push(values)
        }
        yield* sql.unsafe(unnestUpsertText(resource), [location, ...columns])
        if (options?.seen === true) {
          yield* sql.unsafe(
            `INSERT INTO ${seenName(sql)} (${quote(keyColumn)}) SELECT * FROM unnest($1::text[]) ON CONFLICT DO NOTHING`,
            [chunk]
          )
        }
      }
      return countInserted ? inserted : undefined
    }
    const perStatement = Math.max(1, Math.min(maxRowsPerStatement, Math.floor(maxParameters / (fields.length + 2))))
    for (let start = 0; start < total; start += perStatement) {
      const end = Math.min(total, start + perStatement)
      const params: Array<unknown> = []
      for (let j = start; j < end; j++) {
        const i = index(j)
        const record = records[i]!
        params.push(location, keys[i])
        for (const field of fields) params.push(toColumn(field, record[field.name]))
      }
      if (byKeys) {
        const found = yield* sql.unsafe<{ readonly n: number | bigint | string }>(
          existingText(resource, end - start, placeholders),
          [location, ...keysWritten(start, end)]
        )
        inserted += end - start - Number(found[0]?.n ?? 0)
      }
      yield* sql.unsafe(upsertText(resource, end - start, placeholders), params)
    }
    if (options?.seen === true) {
      for (let start = 0; start < total; start += maxRowsPerStatement) {
        const end = Math.min(total, start + maxRowsPerStatement)
        yield* sql.unsafe(seenText(seenName(sql), end - start, placeholders), keysWritten(start, end))
      }
    }
    if (rowidBefore !== undefined) {
      const [row] = yield* sql.unsafe<{ readonly n: number | bigint }>(insertedSinceText(resource), [rowidBefore, location])
      inserted = Number(row?.n ?? 0)
    }
    return countInserted ? inserted : undefined
  }
)

/**
 * PostgreSQL: a full pass's records written with `COPY` (see {@link startPass}). The pages' rows are buffered as
 * COPY text and copied every {@link copyRows} rows, at the end of the pass, and before anything reads or writes
 * the store otherwise (so nothing sees the table without them):
 *
 * - `direct`, while the pass has found its partition empty: straight into the resource's table, each `COPY` in a
 *   savepoint. A key the pass delivers again fails its `COPY` (unique violation): that `COPY` is rolled back to
 *   its savepoint and the pass goes on `staged`.
 * - `staged`: into the temporary table {@link stageTable}, and from it into the resource's table every
 *   {@link flushRows} rows and at the end, in one statement, each key once with its last record
 *   (`DISTINCT ON (natural_key) … ORDER BY natural_key, seq DESC`), `ON CONFLICT … DO UPDATE`, and the keys into
 *   {@link seenTable} when the pass records them.
 *
 * It belongs to one transaction (the `TransactionConnection` `@effect/sql` makes for it): whatever it wrote goes
 * with it if that rolls back.
 */
interface Staging {
  readonly client: PgCopy.RawClient
  readonly location: string
  readonly resource: Table
  /** Whether the pass records the keys it delivers in {@link seenTable}. */
  readonly seen: boolean
  mode: "direct" | "staged"
  /** Rows buffered as COPY text, not yet copied. */
  lines: Array<string>
  /** Rows in the staging table, not yet written to the resource's table. */
  staged: number
}

/**
 * The temporary table in which a full pass stages its records on PostgreSQL: the resource table's columns and
 * `seq`, the row's position (an identity: rows are numbered as they are copied in). Dropped at the end of the
 * transaction (`ON COMMIT DROP`) or of the pass.
 *
 * @since 0.1.0
 * @category schema
 */
export const stageTable = "vppkit_stage"

const stageName = `pg_temp.${quote(stageTable)}`

/** Rows buffered before they are copied (one `COPY` statement). */
const copyRows = 10_000

/**
 * Rows staged before they are written into the resource's table. Written in one statement sorted by key, rows go
 * into the table's primary key in its order, which costs PostgreSQL about what a `COPY` into the table does
 * (BENCHMARKS.md, item 7's notes); the staging table is on disk, so a large pass holds little memory.
 */
const flushRows = 200_000

/** The staging of the transaction in progress, by its `TransactionConnection`. */
const stagings = new WeakMap<PgCopy.Transaction, Staging>()

const stagingInProgress: Effect.Effect<Staging | undefined> = Effect.map(
  PgCopy.transaction,
  (transaction) => transaction === undefined ? undefined : stagings.get(transaction)
)

/** `COPY t (location_uid, natural_key, …fields) FROM STDIN` into the resource's table or the staging table. */
const copyText = (resource: Table, into: string): string =>
  `COPY ${into} (${[locationColumn, keyColumn, ...resource.fields.map((field) => field.name)].map(quote).join(", ")}) FROM STDIN`

/** Copies the buffered rows: into the table (`direct`, in a savepoint) or into the staging table. */
const copyBuffered = (staging: Staging) =>
  Effect.gen(function*() {
    if (staging.lines.length === 0) return
    const data = staging.lines.join("")
    const rows = staging.lines.length
    staging.lines = []
    const sql = yield* SqlClient.SqlClient
    if (staging.mode === "direct") {
      yield* sql.unsafe("SAVEPOINT vppkit_copy")
      const direct = yield* PgCopy.copyIn(staging.client, copyText(staging.resource, quote(staging.resource.table)), data).pipe(
        Effect.as(true),
        Effect.catchIf(PgCopy.isUniqueViolation, () => Effect.as(sql.unsafe("ROLLBACK TO SAVEPOINT vppkit_copy"), false))
      )
      yield* sql.unsafe("RELEASE SAVEPOINT vppkit_copy")
      if (direct) return
      // A key came again: these rows and the rest of the pass go through the staging table.
      staging.mode = "staged"
    }
    yield* PgCopy.copyIn(staging.client, copyText(staging.resource, stageName), data)
    staging.staged += rows
  })

/**
 * `INSERT INTO t (…) SELECT … FROM (SELECT DISTINCT ON (natural_key) * FROM stage ORDER BY natural_key, seq DESC)
 * ON CONFLICT (location_uid, natural_key) DO UPDATE SET …`: each staged key once, its last record.
 */
const stagedUpsertText = (resource: Table): string =>
  cachedText(`staged\u0000${resource.table}`, () => {
    const fields = resource.fields.map((field) => quote(field.name))
    const columns = [locationColumn, keyColumn].map(quote).concat(fields)
    const update = fields.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${fields.map((field) => `${field} = excluded.${field}`).join(", ")}`
    return `INSERT INTO ${quote(resource.table)} (${columns.join(", ")}) SELECT ${
      columns.map((column) => `s.${column}`).join(", ")
    } FROM (SELECT DISTINCT ON (${quote(keyColumn)}) * FROM ${stageName} ORDER BY ${quote(keyColumn)}, ${quote("seq")} DESC) AS s ON CONFLICT (${
      quote(locationColumn)
    }, ${quote(keyColumn)}) ${update}`
  })

/** Copies what is buffered and writes what is staged into the resource's table, then empties the staging table. */
const flushStaging = (staging: Staging) =>
  Effect.gen(function*() {
    yield* copyBuffered(staging)
    if (staging.staged === 0) return
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(stagedUpsertText(staging.resource))
    yield* sql.unsafe(`TRUNCATE ${stageName}`)
    staging.staged = 0
  }).pipe(Effect.withSpan("SqlSyncStore.flushStaging"))

/** Writes what the transaction in progress has buffered or staged, if anything, so that what follows sees it. */
const flushStaged: Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = Effect.flatMap(
  stagingInProgress,
  (staging) => staging === undefined ? Effect.void : flushStaging(staging)
)

/** Buffers a page's records as COPY text; copies and writes them when enough are. */
const stage = (staging: Staging, records: ReadonlyArray<JsonRecord>) =>
  Effect.gen(function*() {
    const fields = staging.resource.fields
    const location = PgCopy.copyValue(staging.location)
    for (const record of records) {
      let line = `${location}\t${PgCopy.copyValue(staging.resource.key(record))}`
      for (const field of fields) line += `\t${PgCopy.copyValue(toColumn(field, record[field.name]))}`
      staging.lines.push(`${line}\n`)
    }
    if (staging.seen) {
      // The keys the pass delivers, recorded as they come (the rows follow in bulk).
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(
        `INSERT INTO ${seenName(sql)} (${quote(keyColumn)}) SELECT * FROM unnest($1::text[]) ON CONFLICT DO NOTHING`,
        [records.map(staging.resource.key)]
      )
    }
    if (staging.lines.length >= copyRows) yield* copyBuffered(staging)
    if (staging.staged >= flushRows) yield* flushStaging(staging)
    return undefined
  })

/**
 * PostgreSQL, in a transaction on a `pg` connection: (re)creates {@link stageTable} for the resource and copies the
 * pass's records from now on, `direct` into a partition that was `empty`. Elsewhere nothing is staged.
 */
const startStaging = (location: string, resource: Table, empty: boolean) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (!sql.onDialectOrElse({ pg: () => true, orElse: () => false })) return
    const transaction = yield* PgCopy.transaction
    const client = transaction === undefined ? undefined : PgCopy.rawClient(transaction)
    if (transaction === undefined || client === undefined) return
    yield* sql.unsafe(`DROP TABLE IF EXISTS ${stageName}`)
    yield* sql.unsafe(
      `CREATE TEMPORARY TABLE ${quote(stageTable)} (${
        [
          `${quote(locationColumn)} TEXT`,
          `${quote(keyColumn)} TEXT`,
          ...resourceColumns(resource).map(([name, type]) => `${quote(name)} ${type}`),
          `${quote("seq")} BIGINT GENERATED ALWAYS AS IDENTITY`
        ].join(", ")
      }) ON COMMIT DROP`
    )
    stagings.set(transaction, {
      client,
      location,
      resource,
      seen: !empty,
      mode: empty ? "direct" : "staged",
      lines: [],
      staged: 0
    })
  })

/** Ends the staging of the transaction in progress: what it holds is written, the staging table dropped. */
const endStaging = Effect.gen(function*() {
  const transaction = yield* PgCopy.transaction
  const staging = transaction === undefined ? undefined : stagings.get(transaction)
  if (transaction === undefined || staging === undefined) return
  yield* flushStaging(staging)
  stagings.delete(transaction)
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`DROP TABLE IF EXISTS ${stageName}`)
})

/**
 * Every natural key in a resource's table.
 *
 * @since 0.1.0
 * @category reads
 */
const keys: (
  location: string,
  resource: Table
) => Effect.Effect<ReadonlyArray<string>, SqlError.SqlError, SqlClient.SqlClient> = Effect.fn("SqlSyncStore.keys")(
  function*(location: string, resource: Table) {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly natural_key: string }>`SELECT ${sql(keyColumn)} FROM ${sql(resource.table)} WHERE ${
      sql(locationColumn)
    } = ${location}`
    return rows.map((row) => row.natural_key)
  }
)

/**
 * The temporary table in which a full pass over a non-empty table records the natural keys it delivered
 * (see {@link startPass}). Temporary tables belong to the connection and go with it, and its rows are written
 * in the pass's transaction like everything else.
 *
 * @since 0.1.0
 * @category schema
 */
export const seenTable = "vppkit_seen"

/** {@link seenTable} qualified with the schema of the connection's temporary tables, so that no table of the same name elsewhere is meant. */
const seenName = (sql: SqlClient.SqlClient): string =>
  `${sql.onDialectOrElse({ pg: () => "pg_temp", orElse: () => "temp" })}.${quote(seenTable)}`

/**
 * Starts a full pass over a resource's table, in the transaction the pass writes in. Answers whether the pass
 * has to record the natural keys it delivers (`upsert(…, { seen: true })`) for {@link finishPass} to delete
 * the rows it did not deliver: a table that is empty when the pass starts needs no record, since every row
 * in it afterwards was delivered by the pass. Otherwise the temporary table {@link seenTable} is made empty.
 * Whatever an earlier pass in the transaction has staged is written first. On PostgreSQL (a transaction on a `pg`
 * connection) the pass's records are copied from now on ({@link Staging}): straight into the table while its
 * partition was empty, else through {@link stageTable}.
 *
 * SQLite: into a table that holds no rows at all (of any location), the pass writes its rows first and
 * {@link finishPass} builds the table's indexes after them, in the same transaction (a failure rolls the
 * dropped indexes back with the rest): building an index from a full table is cheaper than inserting every
 * row into it at random. better-sqlite3 upserting 1M assignments in one transaction: 8.0 s, 5.9 s with the
 * indexes built after.
 *
 * @since 0.1.0
 * @category writes
 */
const startPass: (
  location: string,
  resource: Table
) => Effect.Effect<boolean, SqlError.SqlError, SqlClient.SqlClient> = Effect.fn("SqlSyncStore.startPass")(
  function*(location: string, resource: Table) {
    const sql = yield* SqlClient.SqlClient
    yield* endStaging
    const any = yield* sql`SELECT 1 AS ${sql("one")} FROM ${sql(resource.table)} WHERE ${sql(locationColumn)} = ${location} LIMIT 1`
    if (any.length === 0) {
      yield* dropSeen
      if (isSqlite(sql) && (yield* sql`SELECT 1 AS ${sql("one")} FROM ${sql(resource.table)} LIMIT 1`).length === 0) {
        for (const { name } of createIndexes(resource)) yield* sql.unsafe(`DROP INDEX IF EXISTS ${quote(name)}`)
      }
      yield* startStaging(location, resource, true)
      return false
    }
    yield* sql.unsafe(`CREATE TEMPORARY TABLE IF NOT EXISTS ${seenName(sql)} (${quote(keyColumn)} TEXT PRIMARY KEY)`)
    yield* sql.unsafe(`DELETE FROM ${seenName(sql)}`)
    yield* startStaging(location, resource, false)
    return true
  }
)

const isSqlite = (sql: SqlClient.SqlClient): boolean => sql.onDialectOrElse({ sqlite: () => true, orElse: () => false })

const dropSeen = Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP TABLE IF EXISTS ${seenName(sql)}`))

/**
 * Ends a full pass begun with {@link startPass}: answers the rows in the table afterwards and how many were
 * deleted. With `reconcile` (the pass was consistent) and when the pass recorded what it delivered, deletes
 * every row whose natural key it did not deliver. Every recorded key was also written to the table, so the
 * table holds at least the recorded keys: when both hold as many, there is nothing to delete and the table is
 * not searched; otherwise the difference is what gets deleted. The temporary table is dropped either way.
 *
 * @since 0.1.0
 * @category writes
 */
const finishPass: (
  location: string,
  resource: Table,
  pass: { readonly recorded: boolean; readonly reconcile: boolean }
) => Effect.Effect<{ readonly rows: number; readonly deleted: number }, SqlError.SqlError, SqlClient.SqlClient> = Effect
  .fn("SqlSyncStore.finishPass")(
    function*(location: string, resource: Table, pass: { readonly recorded: boolean; readonly reconcile: boolean }) {
      yield* endStaging
      const sql = yield* SqlClient.SqlClient
      // SQLite: the indexes startPass dropped from an empty table (`IF NOT EXISTS`: nothing to do otherwise).
      if (isSqlite(sql)) for (const { statement } of createIndexes(resource)) yield* sql.unsafe(statement)
      const rows = yield* count(location, resource)
      if (!pass.recorded) return { rows, deleted: 0 }
      let deleted = 0
      if (pass.reconcile) {
        const seen = Number((yield* sql.unsafe<{ readonly n: number | bigint | string }>(
          `SELECT COUNT(*) AS ${quote("n")} FROM ${seenName(sql)}`
        ))[0]?.n ?? 0)
        if (rows > seen) {
          // PostgreSQL plans NOT IN (subquery) as a hashed subplan only while the keys fit in work_mem, else it
          // searches the subquery per row; NOT EXISTS is an anti-join at any size.
          yield* sql.unsafe(
            sql.onDialectOrElse({
              pg: () =>
                `DELETE FROM ${quote(resource.table)} AS t WHERE t.${quote(locationColumn)} = $1 AND NOT EXISTS (SELECT 1 FROM ${
                  seenName(sql)
                } AS s WHERE s.${quote(keyColumn)} = t.${quote(keyColumn)})`,
              orElse: () =>
                `DELETE FROM ${quote(resource.table)} WHERE ${quote(locationColumn)} = ? AND ${quote(keyColumn)} NOT IN (SELECT ${
                  quote(keyColumn)
                } FROM ${seenName(sql)})`
            }),
            [location]
          )
          deleted = rows - seen
        }
      }
      yield* dropSeen
      return { rows: rows - deleted, deleted }
    }
  )

/**
 * v2 users: deletes the entry of `clientUserId` that is not retired, if its `email` or `idHash` equals the
 * given ones — the entry a Retired record replaces (its natural key changed when it retired). Answers how
 * many rows were deleted (0 or 1).
 *
 * @since 0.1.0
 * @category writes
 */
const removeRetiredUser: (
  location: string,
  resource: Table,
  retired: JsonRecord
) => Effect.Effect<number, SqlError.SqlError, SqlClient.SqlClient> = Effect.fn("SqlSyncStore.removeRetiredUser")(
  function*(location: string, resource: Table, retired: JsonRecord) {
    const sql = yield* SqlClient.SqlClient
    const clientUserId = retired["clientUserId"]
    if (typeof clientUserId !== "string") return 0
    const matches = [
      ...(typeof retired["email"] === "string" ? [sql`${sql("email")} = ${retired["email"]}`] : []),
      ...(typeof retired["idHash"] === "string" ? [sql`${sql("idHash")} = ${retired["idHash"]}`] : [])
    ]
    if (matches.length === 0) return 0
    // The non-retired entry of a clientUserId is keyed by the clientUserId alone (User.key).
    const where = sql`${sql(locationColumn)} = ${location} AND ${sql(keyColumn)} = ${clientUserId} AND (${sql("status")} IS NULL OR ${sql("status")} <> ${"Retired"}) AND ${
      sql.or(matches)
    }`
    const found = yield* sql`SELECT ${sql(keyColumn)} FROM ${sql(resource.table)} WHERE ${where}`
    if (found.length === 0) return 0
    yield* sql`DELETE FROM ${sql(resource.table)} WHERE ${where}`
    return found.length
  }
)

/** Rows of a location in a table. */
const countRows = (location: string, table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly n: number | bigint | string }>`SELECT COUNT(*) AS ${sql("n")} FROM ${sql(table)} WHERE ${
        sql(locationColumn)
      } = ${location}`,
      (rows) => Number(rows[0]?.n ?? 0)
    ))

/**
 * Rows in a resource's table.
 *
 * @since 0.1.0
 * @category reads
 */
const count: (
  location: string,
  resource: Table
) => Effect.Effect<number, SqlError.SqlError, SqlClient.SqlClient> = Effect.fn("SqlSyncStore.count")(
  function*(location: string, resource: Table) {
    return yield* countRows(location, resource.table)
  }
)

/**
 * Every row of a resource's table back in Apple's JSON shape (a `NULL` column is an absent field), in
 * natural key order (bytewise), with its natural key.
 *
 * @since 0.1.0
 * @category reads
 */
const rows: (
  location: string,
  resource: Table
) => Effect.Effect<
  ReadonlyArray<{ readonly key: string; readonly record: JsonRecord }>,
  SqlError.SqlError,
  SqlClient.SqlClient
> = Effect.fn("SqlSyncStore.rows")(function*(location: string, resource: Table) {
  const sql = yield* SqlClient.SqlClient
  // Byte order on both (PostgreSQL's default collation may be a language's).
  const order = sql.onDialectOrElse({ pg: () => sql.literal(" COLLATE \"C\""), orElse: () => sql.literal("") })
  const found = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql(resource.table)} WHERE ${
    sql(locationColumn)
  } = ${location} ORDER BY ${sql(keyColumn)}${order}`
  return found.map((row) => {
    const record: Record<string, unknown> = {}
    for (const field of resource.fields) {
      const value = fromColumn(field, row[field.name])
      if (value !== undefined) record[field.name] = value
    }
    return { key: String(row[keyColumn]), record }
  })
})

const text = (value: unknown) => value === null || value === undefined ? undefined : String(value)

/**
 * The `sync_state` row of a location's resource, if it was ever synced.
 *
 * @since 0.1.0
 * @category state
 */
const readState: (
  location: string,
  resource: string
) => Effect.Effect<Option.Option<State>, SqlError.SqlError, SqlClient.SqlClient> = Effect.fn("SqlSyncStore.readState")(
  function*(location: string, resource: string) {
    const sql = yield* SqlClient.SqlClient
    const found = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql(stateTable)} WHERE ${sql(locationColumn)} = ${location} AND ${
      sql("resource")
    } = ${resource}`
    const row = found[0]
    if (row === undefined) return Option.none()
    return Option.some<State>({
      resource,
      checkpointField: text(row["checkpoint_field"]),
      checkpoint: text(row["checkpoint"]),
      consistency: row["consistency"] === "drifted" ? "drifted" : "consistent",
      records: Number(row["records"] ?? 0),
      lastFullSyncAt: text(row["last_full_sync_at"]),
      lastSyncAt: text(row["last_sync_at"]) ?? ""
    })
  }
)

/**
 * Writes the `sync_state` row of a location's resource. Run it in the transaction that wrote the records it covers.
 *
 * @since 0.1.0
 * @category state
 */
const writeState: (location: string, state: State) => Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = Effect.fn(
  "SqlSyncStore.writeState"
)(function*(location: string, state: State) {
  const sql = yield* SqlClient.SqlClient
  const row = {
    [locationColumn]: location,
    resource: state.resource,
    checkpoint_field: state.checkpointField ?? null,
    checkpoint: state.checkpoint ?? null,
    consistency: state.consistency,
    records: state.records,
    last_full_sync_at: state.lastFullSyncAt ?? null,
    last_sync_at: state.lastSyncAt
  }
  const columns = Object.keys(row).filter((column) => column !== "resource" && column !== locationColumn)
  yield* sql`INSERT INTO ${sql(stateTable)} ${sql.insert(row)} ON CONFLICT (${sql(locationColumn)}, ${sql("resource")}) DO UPDATE SET ${
    sql.csv(columns.map((column) => sql`${sql(column)} = excluded.${sql(column)}`))
  }`
})

/**
 * Records a location (inserted, or its name, organisation, base URL, token expiry and last seen time updated)
 * and its token's fingerprint.
 *
 * @since 0.1.0
 * @category locations
 */
const recordLocation: (location: SyncStore.LocationRecord) => Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = Effect
  .fn("SqlSyncStore.recordLocation")(function*(location: SyncStore.LocationRecord) {
    const sql = yield* SqlClient.SqlClient
    const updated = (columns: ReadonlyArray<string>) => sql.csv(columns.map((column) => sql`${sql(column)} = excluded.${sql(column)}`))
    yield* sql`INSERT INTO ${sql(locationsTable)} ${
      sql.insert({
        uid: location.uId,
        location_name: location.locationName ?? null,
        org_name: location.orgName,
        base_url: location.baseUrl,
        token_expires_at: location.tokenExpiresAt ?? null,
        first_seen_at: location.seenAt,
        last_seen_at: location.seenAt
      })
    } ON CONFLICT (${sql("uid")}) DO UPDATE SET ${
      updated(["location_name", "org_name", "base_url", "token_expires_at", "last_seen_at"])
    }`
    yield* sql`INSERT INTO ${sql(locationTokensTable)} ${
      sql.insert({
        fingerprint: location.fingerprint,
        uid: location.uId,
        first_seen_at: location.seenAt,
        last_seen_at: location.seenAt,
        token_expires_at: location.tokenExpiresAt ?? null
      })
    } ON CONFLICT (${sql("fingerprint")}) DO UPDATE SET ${updated(["uid", "last_seen_at", "token_expires_at"])}`
  })

/**
 * Every location recorded, by name then `uId`, with the number of its tokens and its resources' last runs.
 *
 * @since 0.1.0
 * @category locations
 */
const locations: Effect.Effect<ReadonlyArray<SyncStore.LocationInfo>, SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(
  function*() {
    const sql = yield* SqlClient.SqlClient
    const found = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql(locationsTable)}`
    const tokens = yield* sql<{ readonly uid: string; readonly n: number | bigint | string }>`SELECT ${sql("uid")}, COUNT(*) AS ${
      sql("n")
    } FROM ${sql(locationTokensTable)} GROUP BY ${sql("uid")}`
    const states = yield* sql<Record<string, unknown>>`SELECT ${sql(locationColumn)}, ${sql("resource")}, ${sql("last_sync_at")}, ${
      sql("last_full_sync_at")
    }, ${sql("consistency")}, ${sql("records")} FROM ${sql(stateTable)} WHERE ${sql(locationColumn)} <> ${SyncStore.unassigned}`
    const tokensOf = new Map(tokens.map((row) => [String(row.uid), Number(row.n)]))
    const resourcesOf = new Map<string, Array<SyncStore.LocationResource>>()
    for (const row of states) {
      const uId = String(row[locationColumn])
      const list = resourcesOf.get(uId) ?? []
      list.push({
        resource: String(row["resource"]),
        lastSyncAt: text(row["last_sync_at"]) ?? "",
        lastFullSyncAt: text(row["last_full_sync_at"]),
        consistency: row["consistency"] === "drifted" ? "drifted" : "consistent",
        records: Number(row["records"] ?? 0)
      })
      resourcesOf.set(uId, list)
    }
    const byText = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0
    return found.map((row): SyncStore.LocationInfo => {
      const uId = String(row["uid"])
      return {
        uId,
        locationName: text(row["location_name"]) ?? "",
        orgName: text(row["org_name"]) ?? "",
        baseUrl: text(row["base_url"]) ?? "",
        tokenExpiresAt: text(row["token_expires_at"]),
        tokens: tokensOf.get(uId) ?? 0,
        firstSeenAt: text(row["first_seen_at"]) ?? "",
        lastSeenAt: text(row["last_seen_at"]) ?? "",
        resources: (resourcesOf.get(uId) ?? []).sort((a, b) => byText(a.resource, b.resource))
      }
    }).sort((a, b) => byText(a.locationName, b.locationName) || byText(a.uId, b.uId))
  }
).pipe(Effect.withSpan("SqlSyncStore.locations"))

/** Whether the database has a table of this name (in the current schema on PostgreSQL). */
const hasTable = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql.onDialectOrElse({
        pg: () =>
          sql<{ readonly n: number | bigint | string }>`SELECT COUNT(*) AS ${sql("n")} FROM ${sql("information_schema")}.${
            sql("tables")
          } WHERE ${sql("table_name")} = ${table} AND ${sql("table_schema")} = current_schema()`,
        orElse: () =>
          sql<{ readonly n: number | bigint | string }>`SELECT COUNT(*) AS ${sql("n")} FROM ${sql("sqlite_master")} WHERE ${
            sql("type")
          } = 'table' AND ${sql("name")} = ${table}`
      }),
      (rows) => Number(rows[0]?.n ?? 0) > 0
    ))

/**
 * Every location the database records ({@link SyncStore.Service.locations}), read without building the store:
 * no migration runs and nothing is written, so it reads a database a sync is writing, or one opened read-only.
 * A database without the store's tables (never synced, or made before locations) has none: `[]`. The reads run
 * in one transaction (one snapshot on SQLite; `READ ONLY` on PostgreSQL).
 *
 * @since 0.1.0
 * @category locations
 */
export const readLocations: Effect.Effect<ReadonlyArray<SyncStore.LocationInfo>, SqlError.SqlError, SqlClient.SqlClient> = Effect
  .gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql.onDialectOrElse({ pg: () => sql`SET TRANSACTION READ ONLY`, orElse: () => Effect.void })
      for (const table of [locationsTable, locationTokensTable, stateTable]) {
        if (!(yield* hasTable(table))) return []
      }
      return yield* locations
    }))
  }).pipe(Effect.withSpan("SqlSyncStore.readLocations"))

/**
 * Hands the unassigned rows (`location_uid` `''`) and states of the resources to `location` when they match it
 * (see {@link SyncStore.Service.adoptUnassigned}); answers the resources adopted.
 *
 * @since 0.1.0
 * @category locations
 */
const adoptUnassigned: (
  location: string,
  resources: ReadonlyArray<Table & { readonly name: string }>,
  organisation: { readonly orgName: string; readonly baseUrl: string }
) => Effect.Effect<ReadonlyArray<string>, SqlError.SqlError, SqlClient.SqlClient> = Effect.fn("SqlSyncStore.adoptUnassigned")(
  function*(
    location: string,
    resources: ReadonlyArray<Table & { readonly name: string }>,
    organisation: { readonly orgName: string; readonly baseUrl: string }
  ) {
    if (location === SyncStore.unassigned) return []
    const sql = yield* SqlClient.SqlClient
    const unassigned = yield* sql<Record<string, unknown>>`SELECT ${sql("resource")}, ${sql("org_name")}, ${sql("base_url")}, ${
      sql("recorded_uid")
    } FROM ${sql(stateTable)} WHERE ${sql(locationColumn)} = ${SyncStore.unassigned}`
    const matches = unassigned.every((row) => {
      const orgName = text(row["org_name"])
      const baseUrl = text(row["base_url"])
      const uId = text(row["recorded_uid"])
      return (orgName === undefined || (orgName === organisation.orgName && baseUrl === organisation.baseUrl)) &&
        (uId === undefined || uId === location)
    })
    if (!matches) return []
    const adopted: Array<string> = []
    for (const resource of resources) {
      const own = yield* readState(location, resource.name)
      if (Option.isSome(own) || (yield* countRows(location, resource.table)) > 0) continue
      const rows = yield* countRows(SyncStore.unassigned, resource.table)
      const state = unassigned.some((row) => row["resource"] === resource.name)
      if (rows === 0 && !state) continue
      yield* sql`UPDATE ${sql(resource.table)} SET ${sql(locationColumn)} = ${location} WHERE ${sql(locationColumn)} = ${SyncStore.unassigned}`
      yield* sql`UPDATE ${sql(stateTable)} SET ${sql(locationColumn)} = ${location}, ${sql("org_name")} = NULL, ${sql("base_url")} = NULL, ${
        sql("recorded_uid")
      } = NULL WHERE ${sql(locationColumn)} = ${SyncStore.unassigned} AND ${sql("resource")} = ${resource.name}`
      adopted.push(resource.name)
    }
    return adopted
  }
)

/**
 * The locations locked by the syncs of this process, per client (SQLite): the holder of each.
 */
const heldLocally = new WeakMap<SqlClient.SqlClient, Map<string, SyncStore.LockHolder>>()

/** PostgreSQL's advisory lock key of a location: vppkit's class, and the hash of the schema and the `uId`. */
const locationKey = `$1::int4, hashtext(current_schema() || ':' || $2::text)`

/**
 * PostgreSQL: takes vppkit's session-level advisory lock `key` (`pg_try_advisory_lock(vppk, hashtext(current_schema()
 * || ':' || key))`) on a connection reserved for the scope, naming the session `name` (its `application_name`), or
 * fails at once with `LocationBusyError` naming the holder as it named itself. Closing the scope unlocks it and
 * hands the connection back; the server releases it when the session ends. Answers the connection.
 */
const advisoryLock = (sql: SqlClient.SqlClient, key: string, name: string, shared = false) =>
  Effect.gen(function*() {
    // the connection is reserved in a scope of its own, closed at once when the lock is not taken: a caller that
    // tries again (a runner waiting for another's set-up) would otherwise hold a connection per try until its scope
    // ends, and after as many tries as the pool has connections wait for one forever
    const held = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const taken = yield* Effect.exit(Scope.extend(takeAdvisoryLock(sql, key, name, shared), held))
    if (Exit.isFailure(taken)) yield* Scope.close(held, Exit.void)
    return yield* taken
  })

/** {@link advisoryLock} in the scope the connection is reserved in. */
const takeAdvisoryLock = (sql: SqlClient.SqlClient, key: string, name: string, shared: boolean) =>
  Effect.gen(function*() {
    const mode = shared ? "_shared" : ""
    const connection = yield* sql.reserve
    const query = <A>(text: string, params: ReadonlyArray<unknown>) =>
      connection.execute(text, params, undefined) as Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>
    yield* query("SELECT set_config('application_name', $1, false)", [name])
    const unlock = query(`SELECT pg_advisory_unlock${mode}(${locationKey})`, [advisoryClass, key]).pipe(Effect.ignore)
    // the try and its unlock's finalizer at once: a taker interrupted meanwhile (a waiting sync's runner stopping)
    // must not hand the connection back to the pool still holding the lock
    const [taken] = yield* Effect.uninterruptible(Effect.tap(
      query<{ readonly locked: boolean }>(`SELECT pg_try_advisory_lock${mode}(${locationKey}) AS locked`, [advisoryClass, key]),
      ([row]) => row?.locked === true ? Effect.addFinalizer(() => unlock) : Effect.void
    ))
    if (taken?.locked !== true) {
      const holders = yield* query<{ readonly name: string | null; readonly started: Date | string | null }>(
        `SELECT a.application_name AS name, a.backend_start AS started FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND l.classid = $1::int4::oid AND l.objid = hashtext(current_schema() || ':' || $2::text)::oid AND l.objsubid = 2`,
        [advisoryClass, key]
      ).pipe(Effect.orElseSucceed(() => []))
      const holder = holders[0]
      return yield* new SyncStore.LocationBusyError({
        location: key,
        holder: holder === undefined || holder.name === null || holder.name === ""
          ? undefined
          : {
            name: holder.name,
            since: holder.started instanceof Date ? holder.started.toISOString() : holder.started ?? undefined
          }
      })
    }
    return connection
  })

/**
 * Holds vppkit's PostgreSQL advisory lock `key` for the scope, on a connection of its own, or fails at once with
 * `LocationBusyError` (its `location` is `key`) naming the holder: for a process that must be the only one of its
 * kind on a database and schema (a fleet's single runner: keys that are not Apple `uId`s, such as
 * `"vppkit-fleet-runner"`, share the locations' key space without meeting one). `holder` names the session
 * (`application_name`, at most 63 bytes). With `shared`, the lock is taken in share mode
 * (`pg_try_advisory_lock_shared`): any number of shared holders at once (a fleet's cluster runners), none while an
 * exclusive holder has it, and no exclusive holder while one of them has it. Other databases (SQLite) have no such
 * lock: it succeeds.
 *
 * @since 0.1.0
 * @category locations
 */
export const holdLock = (
  key: string,
  options?: { readonly holder?: string | undefined; readonly shared?: boolean | undefined }
): Effect.Effect<void, SyncStore.LocationBusyError | SqlError.SqlError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.onDialectOrElse({
      pg: () => Effect.asVoid(advisoryLock(sql, key, (options?.holder ?? "vppkit").slice(0, 63), options?.shared === true)),
      orElse: () => Effect.void
    })).pipe(Effect.withSpan("SqlSyncStore.holdLock", { attributes: { key } }))

/** How often a sync waiting for its location's lock tries it again: after 50 ms, doubling, then every second. */
const lockRetry = Schedule.exponential("50 millis").pipe(Schedule.union(Schedule.spaced("1 second")))

/**
 * `take` (a try of a location's lock that fails at once with `LocationBusyError` while another holds it) tried again
 * while the lock is held, for up to `options.wait`, `options.onBusy` told once; the last `LocationBusyError` (its
 * holder as then) says how long it waited. Without `wait`, `take` itself.
 */
const waitingFor = <A, E, R>(
  take: Effect.Effect<A, E | SyncStore.LocationBusyError, R>,
  options: SyncStore.LockOptions | undefined
): Effect.Effect<A, E | SyncStore.LocationBusyError, R> => {
  const wait = Duration.decode(options?.wait ?? Duration.zero)
  if (!Duration.greaterThan(wait, Duration.zero)) return take
  return Effect.suspend(() => {
    let since: number | undefined
    const busy = (error: unknown): error is SyncStore.LocationBusyError => error instanceof SyncStore.LocationBusyError
    return take.pipe(
      Effect.tapError((error) =>
        busy(error) && since === undefined
          ? Effect.flatMap(Clock.currentTimeMillis, (now) => {
            since = now
            return options?.onBusy === undefined ? Effect.void : options.onBusy(error)
          })
          : Effect.void
      ),
      Effect.retry({ while: busy, schedule: lockRetry.pipe(Schedule.upTo(wait)) }),
      Effect.catchIf(busy, (error) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.fail(
            new SyncStore.LocationBusyError({ location: error.location, holder: error.holder, waitedMillis: now - (since ?? now) })
          )))
    )
  })
}

/**
 * Runs `effect` holding the lock of the location `uId` ({@link SyncStore.Service.withLocationLock}).
 *
 * PostgreSQL: a session-level advisory lock, `pg_try_advisory_lock(vppk, hashtext(current_schema() || ':' ||
 * uId))`, taken on a connection reserved for the run, so syncs in other processes and on other machines see it
 * too, and the server releases it when the session ends (a `kill -9`, a terminated backend). The holder names
 * itself in that session's `application_name`, which a second sync reads from `pg_stat_activity`. `effect` runs on
 * that connection (it is `effect`'s `SqlClient.TransactionConnection`, at depth -1: each `withTransaction` inside
 * begins and commits a transaction of its own on it), so a sync holds one connection of the pool: were the lock on
 * a connection of its own, syncs holding locks could take every connection and wait forever for one to write
 * with. (The key is a 32-bit hash: two locations whose hashes collide take turns.) A sync that waits for the lock
 * (`wait`) tries it again and again (`pg_try_advisory_lock`, never a blocking `pg_advisory_lock`, whose wait an
 * interruption could leave running on a connection handed back to the pool), each try on a connection taken from the
 * pool and given back when the lock is not free.
 *
 * SQLite: a lock of the process, per client — the `@effect/sql` client has no lock of SQLite's that outlives a
 * transaction, and a sync commits one transaction per resource. Syncs in other processes are kept apart by
 * whoever opens the database file (the CLI's `<db>-lock`). A sync that waits tries it again as on PostgreSQL.
 */
const withLocationLock = (sql: SqlClient.SqlClient) =>
(uId: string, options?: SyncStore.LockOptions) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SyncStore.LocationBusyError | SqlError.SqlError, R> => {
  const name = (options?.holder ?? "vppkit").slice(0, 63)
  return sql.onDialectOrElse({
    pg: () =>
      Effect.flatMap(
        waitingFor(advisoryLock(sql, uId, name), options),
        (connection) => Effect.provideService(effect, SqlClient.TransactionConnection, [connection, -1])
      ).pipe(Effect.scoped),
    orElse: () => {
      let held = heldLocally.get(sql)
      if (held === undefined) heldLocally.set(sql, held = new Map())
      const locks = held
      const take = Effect.gen(function*() {
        const holder = locks.get(uId)
        if (holder !== undefined) return yield* new SyncStore.LocationBusyError({ location: uId, holder })
        const mine: SyncStore.LockHolder = { name, since: new Date(yield* Clock.currentTimeMillis).toISOString() }
        locks.set(uId, mine)
        return mine
      })
      // taken and its release in place at once: an interruption between them would keep the location locked
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          restore(waitingFor(take, options)),
          (mine) => Effect.ensuring(restore(effect), Effect.sync(() => locks.get(uId) === mine && locks.delete(uId)))
        )
      )
    }
  }).pipe(Effect.withSpan("SqlSyncStore.withLocationLock", { attributes: { location: uId } }))
}

/**
 * SQLite, after a failure in a transaction the store began: begins an empty transaction when SQLite has ended the
 * store's itself, so that `@effect/sql`'s `ROLLBACK` ends that one and the transaction fails with its own error.
 * SQLite rolls a transaction back on its own when a statement fails in a way it cannot undo alone: an I/O error, or
 * a full disk or no memory in a statement without a statement journal (the upserts, `INSERT OR FAIL`); the
 * `ROLLBACK` would then fail ("no transaction is active") and its defect replace the statement's error. While the
 * transaction is still open the `BEGIN` fails, and is ignored.
 */
const reopenEnded = Effect.flatMap(SqlClient.SqlClient, (sql) => isSqlite(sql) ? Effect.ignore(sql.unsafe("BEGIN")) : Effect.void)

/**
 * The store over the `SqlClient` in context: runs the migrations the database has not run yet, then answers the
 * {@link SyncStore.Service} whose statements go through that client.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<SyncStore.Service, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient> = Effect
  .gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* migrate
    // the resource tables this store found or made current (ensureResources)
    const ensured = new Set<string>()
    const using = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => Effect.provideService(effect, SqlClient.SqlClient, sql)
    /** `effect` after what a full pass staged is written (PostgreSQL), so that it sees or follows those rows. */
    const flushed = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => using(Effect.zipRight(flushStaged, effect))
    const scoped = (location: string): SyncStore.Service =>
      SyncStore.SyncStore.of({
        location,
        forLocation: scoped,
        ensureResources: (resources) => using(ensureResources(resources, ensured)),
        recordLocation: (info) => flushed(recordLocation(info)),
        locations: flushed(locations),
        adoptUnassigned: (resources, organisation) =>
          flushed(adoptUnassigned(location, resources.map((resource) => ({ ...tableOf(resource), name: resource.name })), organisation)),
        readState: (resource) => flushed(readState(location, resource)),
        writeState: (state) => flushed(writeState(location, state)),
        upsert: (resource, records, options) => using(upsert(location, tableOf(resource), records, options)),
        startPass: (resource) => using(startPass(location, tableOf(resource))),
        finishPass: (resource, pass) => using(finishPass(location, tableOf(resource), pass)),
        removeRetiredUser: (resource, retired) => flushed(removeRetiredUser(location, tableOf(resource), retired)),
        count: (resource) => flushed(count(location, tableOf(resource))),
        rows: (resource) => flushed(rows(location, tableOf(resource))),
        keys: (resource) => flushed(keys(location, tableOf(resource))),
        withLocationLock: withLocationLock(sql),
        // What the transaction staged is written before it commits.
        transaction: (effect) =>
          Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) =>
            sql.withTransaction(
              Effect.tap(effect, () => using(flushStaged)).pipe(
                // only a transaction of its own: within another, the outer one's rollback ends both
                Effect.tapError(() => Option.isNone(outer) ? using(reopenEnded) : Effect.void)
              )
            ))
      })
    return scoped(SyncStore.unassigned)
  })

/**
 * The {@link SyncStore.SyncStore} over the `SqlClient` (SQLite or PostgreSQL); building it runs the migrations.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<SyncStore.SyncStore, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient> = Layer
  .effect(SyncStore.SyncStore, make)
