import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/** A table's or column's name as SQL (SQLite and PostgreSQL): in double quotes, any inside doubled. */
export const quote = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

/** A migration that adds a `TEXT` column to `table` (NULL in the rows already there). */
export const addTextColumn = (
  table: string,
  column: string
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql.unsafe(`ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column)} TEXT`).pipe(Effect.asVoid)
  )
