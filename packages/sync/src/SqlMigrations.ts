/**
 * Numbered migrations of a set of tables, recorded in a table of their own, run with `@effect/sql`'s Migrator so
 * that a database made by an older version gains what the newer one adds. Several openers of a new database at
 * once (syncs of two locations, two runners) are safe: on PostgreSQL the Migrator creates its table without
 * `IF NOT EXISTS`, so it is created here first under a transaction-level advisory lock, one opener after another;
 * the Migrator then locks it for the migrations themselves.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/**
 * Runs the migrations of `migrations` (by name, `NNNN_what`) that the database has not run yet, recording them in
 * `table`; answers the ones it ran (`[id, name]`). `lock` names the advisory lock (class `advisoryClass`, key the
 * hash of the current schema and `lock`) that keeps openers of a new database apart on PostgreSQL.
 *
 * @since 0.1.0
 * @category migrations
 */
export const run = (options: {
  readonly table: string
  readonly migrations: Record<string, Effect.Effect<unknown, SqlError.SqlError, SqlClient.SqlClient>>
  readonly advisoryClass: number
  readonly lock: string
}): Effect.Effect<ReadonlyArray<readonly [id: number, name: string]>, Migrator.MigrationError | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.zipRight(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql.onDialectOrElse({
        pg: () =>
          sql.withTransaction(Effect.zipRight(
            sql`SELECT pg_advisory_xact_lock(${options.advisoryClass}::int4, hashtext(current_schema() || ':' || ${options.lock}::text))`,
            sql`CREATE TABLE IF NOT EXISTS ${
              sql(options.table)
            } (migration_id integer primary key, created_at timestamp with time zone not null default now(), name text not null)`
          )),
        orElse: () => Effect.void
      })),
    Migrator.make({})({ loader: Migrator.fromRecord(options.migrations), table: options.table })
  ).pipe(Effect.withSpan("SqlMigrations.run", { attributes: { table: options.table } }))
