import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { addTextColumn, quote } from "./sqlNames.js"

/** The last run of each location (`FleetStatus`): one row per `uId`, replaced after each sync. */
export const outcomesTable = "vppkit_fleet_outcomes"

/** The fleet's migration `0002_outcomes` (run with the token store's, in `vppkit_fleet_migrations`). */
export const createOutcomesTable: Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(
      `CREATE TABLE IF NOT EXISTS ${quote(outcomesTable)} (${
        [
          `${quote("uid")} TEXT PRIMARY KEY`,
          `${quote("full_sync")} INTEGER NOT NULL`,
          `${quote("result")} TEXT NOT NULL`,
          `${quote("started_at")} TEXT NOT NULL`,
          `${quote("finished_at")} TEXT NOT NULL`,
          `${quote("millis")} INTEGER NOT NULL`,
          `${quote("records")} INTEGER NOT NULL`,
          `${quote("retries")} INTEGER NOT NULL`,
          `${quote("failure_tag")} TEXT`,
          `${quote("failure_message")} TEXT`,
          `${quote("consecutive_failures")} INTEGER NOT NULL`,
          `${quote("last_success_at")} TEXT`,
          `${quote("outcome")} TEXT NOT NULL`
        ].join(", ")
      })`
    ).pipe(Effect.asVoid)
)

/**
 * The fleet's migration `0004_runners`: each last run names the runner that ran it (`runner`, NULL for runs recorded
 * before).
 */
export const addRunnerColumn: Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> = addTextColumn(
  outcomesTable,
  "runner"
)
