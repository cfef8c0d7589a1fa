import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { addTextColumn, quote } from "./sqlNames.js"

/**
 * How far each schedule has been covered: one row per schedule (`incremental`, `full`), the end of the last span of
 * time whose slots a tick started (ISO 8601, UTC). Kept in the fleet's database so that a tick that comes late — held
 * behind a busy database, a runner that stopped, a tick run on another runner of the cluster — covers every slot
 * since the previous tick, none twice.
 */
export const coverageTable = "vppkit_fleet_schedules"

/** The fleet's migration `0003_schedules` (run with the token store's, in `vppkit_fleet_migrations`). */
export const createCoverageTable: Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(
      `CREATE TABLE IF NOT EXISTS ${quote(coverageTable)} (${quote("schedule")} TEXT PRIMARY KEY, ${
        quote("covered_until")
      } TEXT NOT NULL)`
    ).pipe(Effect.asVoid)
)

/**
 * The fleet's migration `0005_schedule_definitions`: each schedule's row holds its definition as the runner that last
 * started it had it (`definition`, JSON: part of `Schedules.Options`), so that `fleet status` tells each location's
 * next syncs without the runners' flags.
 */
export const addDefinitionColumn: Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = addTextColumn(
  coverageTable,
  "definition"
)

/**
 * Starts `schedule`'s coverage at `at` unless it has one (a runner starting on a new database): its first tick, even a
 * late one, covers from there. Records its `definition` (JSON), replacing the one stored.
 */
export const begin = (
  schedule: string,
  at: number,
  definition: string
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`INSERT INTO ${sql(coverageTable)} ${
      sql.insert({ schedule, covered_until: new Date(at).toISOString(), definition })
    } ON CONFLICT (${sql("schedule")}) DO UPDATE SET ${sql("definition")} = ${definition}`.pipe(Effect.asVoid))

/** Each schedule's definition (JSON) as the runner that last started it recorded it, by schedule; none before one ran. */
export const definitions: Effect.Effect<ReadonlyMap<string, string>, SqlError.SqlError, SqlClient.SqlClient> =
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly schedule: string; readonly definition: string | null }>`SELECT ${sql("schedule")}, ${
        sql("definition")
      } FROM ${sql(coverageTable)}`,
      (rows) => new Map(rows.flatMap((row) => row.definition === null ? [] : [[row.schedule, row.definition] as const]))
    ))

/** A span of time whose slots a tick starts: `(from, to]`, in milliseconds since the epoch. */
export interface Span {
  readonly from: number
  readonly to: number
}

/**
 * Takes the span `(covered, to]` of `schedule` — `covered` where its previous tick left it, at most `maxBack`
 * milliseconds before `to`; `firstBack` before `to` if it has no coverage ({@link begin}) — and records `to` as covered, in one transaction
 * (on PostgreSQL the row locked, so two runners ticking at once take spans that do not overlap). None when `to` is
 * already covered.
 */
export const advance = (
  schedule: string,
  to: number,
  options: { readonly firstBack: number; readonly maxBack: number }
): Effect.Effect<Option.Option<Span>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const table = sql(coverageTable)
    return sql.withTransaction(Effect.gen(function*() {
      yield* sql`INSERT INTO ${table} ${
        sql.insert({ schedule, covered_until: new Date(to - options.firstBack).toISOString() })
      } ON CONFLICT (${sql("schedule")}) DO NOTHING`
      const rows = yield* sql.onDialectOrElse({
        pg: () =>
          sql<{ readonly covered_until: string }>`SELECT ${sql("covered_until")} FROM ${table} WHERE ${sql("schedule")} = ${schedule} FOR UPDATE`,
        orElse: () =>
          sql<{ readonly covered_until: string }>`SELECT ${sql("covered_until")} FROM ${table} WHERE ${sql("schedule")} = ${schedule}`
      })
      const covered = Date.parse(rows[0]!.covered_until)
      if (covered >= to) return Option.none()
      yield* sql`UPDATE ${table} SET ${sql("covered_until")} = ${new Date(to).toISOString()} WHERE ${sql("schedule")} = ${schedule}`
      return Option.some({ from: Math.max(covered, to - options.maxBack), to })
    }))
  })
