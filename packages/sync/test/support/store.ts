import * as SqlClient from "@effect/sql/SqlClient"
import * as Resource from "@vppkit/core/Resource"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlSyncStore from "../../src/SqlSyncStore.js"
import * as SyncStore from "../../src/SyncStore.js"

/** A temporary directory, removed with the scope. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-sync-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A record's documented fields (the columns) as canonical JSON: sorted keys, absent fields left out. */
export const canonical = (resource: Resource.Any, record: SyncStore.JsonRecord): string =>
  Simulator.canonicalJson(Object.fromEntries(
    Resource.columns(resource)
      .filter((field) => record[field.name] !== undefined && record[field.name] !== null)
      .map((field) => [field.name, record[field.name]])
  ))

/** The simulator's current records of a resource, as a sync of it stores them (retired entries too). */
export const serverRecords = (
  simulator: Simulator.Service,
  resource: Resource.Any
): Effect.Effect<ReadonlyArray<SyncStore.JsonRecord>> => simulator.recordsAsSynced(resource)

/** natural key → canonical record, failing on a repeated key. */
export const byKey = (resource: Resource.Any, records: ReadonlyArray<SyncStore.JsonRecord>): Map<string, string> => {
  const map = new Map<string, string>()
  for (const record of records) {
    const key = resource.key(record)
    if (map.has(key)) throw new Error(`${resource.name}: natural key ${JSON.stringify(key)} repeats in the server's data`)
    map.set(key, canonical(resource, record))
  }
  return map
}

/** The server's state and the table's, by natural key. */
export const compare = (simulator: Simulator.Service, resource: Resource.Any) =>
  Effect.gen(function*() {
    const server = byKey(resource, yield* serverRecords(simulator, resource))
    const stored = new Map((yield* SyncStore.rows(resource)).map(({ key, record }) => [key, canonical(resource, record)]))
    const missing = [...server.keys()].filter((key) => !stored.has(key))
    const extra = [...stored.keys()].filter((key) => !server.has(key))
    const different = [...server.keys()].filter((key) => stored.has(key) && stored.get(key) !== server.get(key))
    return { server, stored, missing, extra, different }
  })

/** The resources' rows and their sync_state rows, for before/after comparisons. */
export const snapshot = (resources: ReadonlyArray<Resource.Any>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tables: Record<string, unknown> = {}
    for (const resource of resources) tables[resource.name] = yield* SyncStore.rows(resource)
    tables["sync_state"] = yield* sql`SELECT * FROM ${sql(SqlSyncStore.stateTable)} WHERE ${
      sql.in("resource", resources.map((r) => r.name))
    } ORDER BY ${sql("resource")}`
    return tables
  })

/**
 * Runs `effect` with the store scoped to the one location the database records (the unassigned partition while
 * it records none); a database of several locations is a mistake of the test.
 */
export const inOnlyLocation = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SyncStore.locations, (locations) => {
    if (locations.length > 1) return Effect.dieMessage(`the database holds ${locations.length} locations, not one`)
    return locations.length === 0 ? effect : effect.pipe(SyncStore.forLocation(locations[0]!.uId))
  })
