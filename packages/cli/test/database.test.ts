import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Resources from "../src/Resources.js"
import { serve } from "./helpers/cli.js"
import { run, start } from "./support/bin.js"

/** Runs `body` against the SQLite database `db` (opened and closed here, by the test process). */
const inDatabase = <A, E>(db: string, body: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.scoped(Effect.provide(body, SqliteClient.layer({ filename: db })))

const modeOf = (file: string) => fs.statSync(file).mode & 0o777

const settings = { seed: 5, pageSize: 50, records: { assets: 6, users: 60, assignments: 300 } }

describe("the database: indexes on the columns people query", () => {
  it.scopedLive("a database made before the indexes gains them at its next sync, and queries use them", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const db = path.join(served.directory, "old.sqlite")
      // An earlier vppkit's tables: no index but the primary key.
      yield* inDatabase(db, Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.forEach(Resources.all, (resource) => sql.unsafe(SqlSyncStore.createTableSql(resource.descriptor)), { discard: true })))
      const result = yield* run(["sync", "-q", "--db", db, ...served.connect])
      assert.strictEqual(result.code, 0, result.stderr)
      const { indexes, plan } = yield* inDatabase(db, Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const indexes = yield* sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name`
        const plan = yield* sql.unsafe<{ readonly detail: string }>(
          // Indexes lead with the location: a location's rows are queried.
          `EXPLAIN QUERY PLAN SELECT * FROM "assignments" WHERE "location_uid" = ? AND "serialNumber" = ?`,
          ["2049025000431439", "C02XYZ"]
        )
        return { indexes: indexes.map((row) => row.name), plan: plan.map((row) => row.detail).join("; ") }
      }))
      assert.deepStrictEqual(indexes, [
        "assets_adamId",
        "assignments_adamId",
        "assignments_clientUserId",
        "assignments_serialNumber",
        "legacy_licenses_adamId",
        "legacy_licenses_clientUserIdStr",
        "legacy_licenses_serialNumber",
        "legacy_users_clientUserIdStr",
        "location_tokens_uid",
        "subscription_admins_adamId",
        "subscription_admins_clientUserId",
        "subscription_assignments_adamId",
        "subscription_assignments_clientUserId",
        "subscriptions_adamId",
        "users_clientUserId"
      ])
      assert.include(plan, "USING INDEX assignments_serialNumber")
    }))
})

describe("the database: created for its owner only", () => {
  it.scopedLive("a new database, its -wal and -shm, and its -lock file have mode 0600", () =>
    Effect.gen(function*() {
      const served = yield* serve({ ...settings, latency: 40, pageSize: 10 })
      const db = path.join(served.directory, "private.sqlite")
      const running = yield* start(["sync", "-q", "--db", db, "--resources", "assignments,users", ...served.connect])
      const seen = new Map<string, number>()
      while (running.child.exitCode === null && seen.size < 4) {
        for (const file of [db, `${db}-wal`, `${db}-shm`, `${db}-lock`]) {
          if (!seen.has(file) && fs.existsSync(file)) seen.set(file, modeOf(file))
        }
        yield* Effect.sleep("10 millis")
      }
      const exit = yield* running.exit
      assert.strictEqual(exit.code, 0, exit.stderr)
      assert.deepStrictEqual(
        Object.fromEntries([...seen].map(([file, mode]) => [path.basename(file), mode.toString(8)])),
        { "private.sqlite": "600", "private.sqlite-wal": "600", "private.sqlite-shm": "600", "private.sqlite-lock": "600" }
      )
    }))

  it.scopedLive("an existing database file keeps its mode", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const db = path.join(served.directory, "shared.sqlite")
      fs.writeFileSync(db, "")
      fs.chmodSync(db, 0o640)
      const result = yield* run(["sync", "-q", "--db", db, "--resources", "assets", ...served.connect])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(modeOf(db).toString(8), "640")
    }))
})
