/**
 * PostgreSQL's `COPY … FROM STDIN` on the connection of the transaction in progress, through `pg-copy-streams`
 * (the stream `pg` hands the connection to when the server asks for the copy data).
 *
 * `@effect/sql-pg`'s connections keep their `pg` client as `pg` (a reserved connection and the one a transaction
 * runs on); {@link rawClient} finds it, and answers `undefined` for anything else (SQLite, a connection without
 * one), so callers fall back to plain statements.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CopyStreams from "pg-copy-streams"

/** What COPY needs of a `pg` client: to submit a query object. */
export interface RawClient {
  readonly query: (query: CopyStreams.CopyStreamQuery) => CopyStreams.CopyStreamQuery
}

/** The transaction in progress: `@effect/sql` makes a new one (this tuple) per `withTransaction`. */
export type Transaction = readonly [connection: unknown, depth: number]

/** The transaction in progress, if any. */
export const transaction: Effect.Effect<Transaction | undefined> = Effect.map(
  Effect.serviceOption(SqlClient.TransactionConnection),
  Option.getOrUndefined
)

/** The `pg` client under a transaction's connection, when it has one. */
export const rawClient = (transaction: Transaction): RawClient | undefined => {
  const connection = transaction[0]
  if (typeof connection !== "object" || connection === null || !("pg" in connection)) return undefined
  const client = (connection as { readonly pg: unknown }).pg
  return typeof client === "object" && client !== null && typeof (client as { readonly query?: unknown }).query === "function"
    ? client as RawClient
    : undefined
}

/** `COPY … FROM STDIN` (the statement `text`) of `data`: whole lines of COPY's text format. */
export const copyIn = (client: RawClient, text: string, data: string): Effect.Effect<void, SqlError.SqlError> =>
  Effect.async<void, SqlError.SqlError>((resume) => {
    const stream = client.query(CopyStreams.from(text))
    let done = false
    const settle = (result: Effect.Effect<void, SqlError.SqlError>) => {
      if (done) return
      done = true
      resume(result)
    }
    stream.on("error", (cause) => settle(Effect.fail(new SqlError.SqlError({ cause, message: "Failed to copy rows" }))))
    // `finish` follows the server's answer to the end of the data (pg-copy-streams waits for it).
    stream.on("finish", () => settle(Effect.void))
    stream.end(data, "utf8")
    // Interrupted: the copy is abandoned (CopyFail), which fails the transaction it is in.
    return Effect.sync(() => {
      if (!done) stream.destroy(new Error("interrupted"))
    })
  })

/** Whether a failure is PostgreSQL's unique violation (SQLSTATE 23505): a key already in the table. */
export const isUniqueViolation = (error: SqlError.SqlError): boolean =>
  typeof error.cause === "object" && error.cause !== null && (error.cause as { readonly code?: unknown }).code === "23505"

const special = /[\\\t\n\r]/

/** A value in COPY's text format: `\N` for NULL; backslash, tab, newline and carriage return escaped. */
export const copyValue = (value: string | number | bigint | null): string => {
  if (value === null) return "\\N"
  const text = typeof value === "string" ? value : String(value)
  return special.test(text)
    ? text.replace(/[\\\t\n\r]/g, (c) => c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r")
    : text
}
