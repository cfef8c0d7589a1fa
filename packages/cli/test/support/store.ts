import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as SyncStore from "@vppkit/sync/SyncStore"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as Resources from "../../src/Resources.js"
import * as Verify from "../../src/internal/verify.js"
import * as SyncSupport from "../../../sync/test/support/store.js"

/** The store scoped to the database's one location (the sync package's). */
export const inOnlyLocation = SyncSupport.inOnlyLocation

/** A temporary directory, removed with the scope. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-sync-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A record's documented fields (the columns) as canonical JSON: sorted keys, absent fields left out. */
export const canonical = Verify.canonical

/** The simulator's current records of a resource, as the unfiltered endpoint renders them. */
export const serverRecords = (simulator: Simulator.Service, resource: Resources.Resource) =>
  simulator.recordsAsSynced(resource.descriptor)

/** natural key → canonical record, failing on a repeated key (the sync package's, for a resource's view). */
export const byKey = (resource: Resources.Resource, records: ReadonlyArray<Resources.JsonRecord>): Map<string, string> =>
  SyncSupport.byKey(resource.descriptor, records)

/** The server's state and the table's, by natural key (the sync package's, for a resource's view). */
export const compare = (simulator: Simulator.Service, resource: Resources.Resource) =>
  SyncSupport.compare(simulator, resource.descriptor)

/** The resources' rows and their sync_state rows, for before/after comparisons. */
export const snapshot = (resources: ReadonlyArray<Resources.Resource>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tables: Record<string, unknown> = {}
    for (const resource of resources) tables[resource.name] = yield* SyncStore.rows(resource.descriptor)
    tables["sync_state"] = yield* sql`SELECT * FROM ${sql(SqlSyncStore.stateTable)} WHERE ${
      sql.in("resource", resources.map((r) => r.name))
    } ORDER BY ${sql("resource")}`
    return tables
  })
