/**
 * The database a `--db` value names, as a `SqlClient` layer:
 *
 * | value | database |
 * | --- | --- |
 * | a path, `file:` URL (`file:///var/lib/vpp.sqlite`) or `sqlite:` URL (`sqlite:vpp.sqlite`, `sqlite:///abs/vpp.sqlite`) | SQLite (`@effect/sql-sqlite-node`) |
 * | `postgres://user@host:5432/db` or `postgresql://…` | PostgreSQL (`@effect/sql-pg`) |
 *
 * A new SQLite file is created readable by its owner only (mode 0600). PostgreSQL URLs are libpq's: user,
 * password, host, port and database, plus query parameters such as `sslmode` or `options=-c search_path=…`.
 * On PostgreSQL, `BIGINT` values come back as numbers (as from SQLite) when they are safe integers, else as text.
 *
 * {@link describe} is the value for messages: a PostgreSQL URL without its password and query.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import * as PgTypes from "pg-types"

/**
 * A database that cannot be used: `reason` `url` when the value names none vppkit can use (an unknown URL
 * scheme, a malformed URL), `open` when it cannot be opened or reached. `message` is one line naming the
 * database as {@link describe} shows it: never a password.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseError extends Schema.TaggedError<DatabaseError>("@vppkit/node/DatabaseError")("DatabaseError", {
  reason: Schema.Literal("url", "open"),
  /** The database as {@link describe} shows it. */
  database: Schema.String,
  message: Schema.String
}) {}

/**
 * What a `--db` value names.
 *
 * @since 0.1.0
 * @category models
 */
export type Target =
  | { readonly _tag: "Sqlite"; readonly filename: string; readonly description: string }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string>; readonly description: string }

const scheme = /^([a-z][a-z0-9+.-]*):/i

/** `postgres://user@host:port/db`: the URL without its password and query (either may hold a password). */
const describePostgres = (url: URL): string =>
  `${url.protocol}//${url.username === "" ? "" : `${url.username}@`}${url.host}${url.pathname === "/" ? "" : url.pathname}`

/**
 * What `value` names: a SQLite file (a path, or a `file:` or `sqlite:` URL) or a PostgreSQL database (a
 * `postgres://` or `postgresql://` URL). Any other `scheme://` is refused, as is a PostgreSQL URL that does
 * not parse (its message does not repeat it: it may hold a password).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (value: string): Either.Either<Target, DatabaseError> => {
  const found = scheme.exec(value)?.[1]?.toLowerCase()
  const refuse = (database: string, message: string) =>
    Either.left(new DatabaseError({ reason: "url", database, message: `${database}: ${message}` }))
  if (found === "postgres" || found === "postgresql") {
    let url: URL
    try {
      url = new URL(value)
    } catch {
      return refuse(`${found}://…`, "not a valid URL (expected postgres://user:password@host:port/database)")
    }
    const description = describePostgres(url)
    if (url.hostname === "" && !url.searchParams.has("host")) return refuse(description, "the URL names no host")
    return Either.right({ _tag: "Postgres", url: Redacted.make(value), description })
  }
  if (found === "file") {
    try {
      return Either.right({ _tag: "Sqlite", filename: fileURLToPath(value), description: value })
    } catch (error) {
      return refuse(value, `not a file URL of this machine (${error instanceof Error ? error.message : String(error)})`)
    }
  }
  if (found === "sqlite") {
    // sqlite:relative/path, sqlite://relative/path, sqlite:///absolute/path
    const rest = value.slice("sqlite:".length).replace(/^\/\//, "")
    if (rest === "") return refuse(value, "the URL names no file")
    return Either.right({ _tag: "Sqlite", filename: decodeURIComponent(rest), description: value })
  }
  if (found !== undefined && found.length > 1 && value.slice(found.length + 1).startsWith("//")) {
    return refuse(value.replace(/\/\/[^/@]*@/, "//…@"), `unsupported database URL (use a file path, sqlite:, or postgres://)`)
  }
  return Either.right({ _tag: "Sqlite", filename: value, description: value })
}

/**
 * `value` for messages: a path as it is, a PostgreSQL URL without its password and query.
 *
 * @since 0.1.0
 * @category parsing
 */
export const describe = (value: string): string =>
  Either.match(parse(value), { onLeft: (error) => error.database, onRight: (target) => target.description })

/**
 * Creates the SQLite file `path` empty and readable by its owner only (mode 0600), unless it exists: it holds
 * email addresses. SQLite then makes a new database in the empty file, and creates its `-wal`, `-shm` and
 * `-journal` files with the database file's mode. An existing file keeps its mode (its owner's choice); a file
 * that cannot be created is left for SQLite to report when it opens it.
 */
const createPrivateFile = (path: string): Effect.Effect<void> =>
  Effect.sync(() => {
    if (path === "" || path === ":memory:") return
    try {
      fs.closeSync(fs.openSync(path, "wx", 0o600))
    } catch {
      // It exists (keep its mode), or cannot be created (opening it says why).
    }
  })

const firstLine = (text: string) => text.split("\n")[0]!.trim()

/** The `pg` error a `SqlError` of `@effect/sql-pg` wraps (an `AggregateError` of several addresses: the first). */
const pgCause = (failure: unknown): { readonly code?: unknown; readonly message?: unknown } | undefined => {
  let cause: unknown = failure
  while (typeof cause === "object" && cause !== null && "cause" in cause && (cause as { _tag?: unknown })._tag === "SqlError") {
    cause = (cause as { cause?: unknown }).cause
  }
  if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0]
  return typeof cause === "object" && cause !== null ? cause : undefined
}

/** Why a PostgreSQL server could not be used, in words (never the URL). */
const connectReason = (failure: unknown): string => {
  const cause = pgCause(failure)
  const message = typeof cause?.message === "string" && cause.message !== "" ? firstLine(cause.message) : undefined
  switch (cause?.code) {
    case "ECONNREFUSED":
      return `connection refused${message === undefined ? "" : ` (${message.replace(/^connect /, "")})`}: is PostgreSQL running there?`
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `unknown host${message === undefined ? "" : ` (${message.replace(/^getaddrinfo /, "")})`}`
    case "ETIMEDOUT":
      return "the connection timed out"
  }
  if (message === "Connection timed out") return "the connection timed out"
  if (message !== undefined) return message
  return failure instanceof Error ? firstLine(failure.message) : firstLine(String(failure))
}

/** int8 (BIGINT, `COUNT(*)`): a number when it is a safe integer, as SQLite gives it; else the text. */
const parseInt8 = (text: string): number | string => {
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : text
}

const types = {
  getTypeParser: (oid: number, format?: "text" | "binary") =>
    oid === PgTypes.builtins.INT8 && format !== "binary"
      ? parseInt8
      : format === "binary"
      ? PgTypes.getTypeParser(oid, "binary")
      : PgTypes.getTypeParser(oid, "text")
}

const openError = (description: string, reason: string) =>
  new DatabaseError({ reason: "open", database: description, message: `cannot open the database ${description}: ${reason}` })

/**
 * The `SqlClient` of a target: SQLite (WAL journal; a new file is created with mode 0600) or a PostgreSQL pool
 * (`application_name` `vppkit`, or `applicationName`; at most `maxConnections` connections, default node-postgres's
 * 10). A database that cannot be opened or reached fails the layer with a {@link DatabaseError} (`open`). With
 * `readOnly`, a SQLite file is opened read-only as it is: a missing one is not created (it cannot be opened), and its
 * journal mode is left alone.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTarget = (
  target: Target,
  options?: {
    readonly readOnly?: boolean | undefined
    readonly applicationName?: string | undefined
    readonly maxConnections?: number | undefined
  }
): Layer.Layer<SqlClient.SqlClient, DatabaseError> => {
  if (target._tag === "Sqlite") {
    const readOnly = options?.readOnly === true
    return Layer.unwrapEffect(
      readOnly
        ? Effect.succeed(SqliteClient.layer({ filename: target.filename, readonly: true, disableWAL: true }))
        : Effect.as(createPrivateFile(target.filename), SqliteClient.layer({ filename: target.filename }))
    )
      .pipe(
        // better-sqlite3 throws when a file cannot be opened or is not a database: a defect of the layer.
        Layer.catchAllCause((cause) => {
          const failure = Cause.squash(cause)
          return Layer.fail(openError(target.description, failure instanceof Error ? firstLine(failure.message) : String(failure)))
        })
      )
  }
  return PgClient.layer({
    url: target.url,
    applicationName: (options?.applicationName ?? "vppkit").slice(0, 63),
    maxConnections: options?.maxConnections,
    types
  }).pipe(
    Layer.catchAllCause((cause) => Layer.fail(openError(target.description, connectReason(Cause.squash(cause)))))
  )
}

/**
 * The `SqlClient` of a `--db` value ({@link parse}, then {@link layerTarget}): a value that names no usable
 * database fails with a {@link DatabaseError} `url`, one that cannot be opened with `open`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (url: string): Layer.Layer<SqlClient.SqlClient, DatabaseError> =>
  Either.match(parse(url), { onLeft: Layer.fail, onRight: layerTarget })
