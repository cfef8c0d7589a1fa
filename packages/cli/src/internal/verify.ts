import type * as SqlError from "@effect/sql/SqlError"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Effect from "effect/Effect"
import type * as Resources from "../Resources.js"

/** How a table compares with what the server holds. */
export interface Comparison {
  readonly resource: Resources.Name
  /** Records on the server. */
  readonly server: number
  /** Rows in the table. */
  readonly stored: number
  /** Server records with no row, or whose row differs. */
  readonly missingOrStale: number
  /** Rows whose record is gone from the server (deltas do not report deletions). */
  readonly extra: number
}

/** Only the documented fields, in a canonical order, so a record and its row compare as text. */
export const canonical = (resource: Resources.Resource, record: Resources.JsonRecord): string =>
  Simulator.canonicalJson(Object.fromEntries(
    resource.fields
      .filter((field) => record[field.name] !== undefined && record[field.name] !== null)
      .map((field) => [field.name, record[field.name]])
  ))

/**
 * Compares a resource's table (read through the store, back in Apple's JSON shape) with the records the
 * simulator holds as a sync stores them, row by row on the natural key.
 */
export const compare = (
  simulator: Simulator.Service,
  resource: Resources.Resource
): Effect.Effect<Comparison, SqlError.SqlError, SyncStore.SyncStore> =>
  Effect.gen(function*() {
    const rows = yield* SyncStore.rows(resource.descriptor)
    const stored = new Map(rows.map(({ key, record }) => [key, canonical(resource, record)]))
    const records = yield* simulator.recordsAsSynced(resource.descriptor)
    const serverKeys = new Set<string>()
    let missingOrStale = 0
    for (const record of records) {
      const key = resource.key(record)
      serverKeys.add(key)
      if (stored.get(key) !== canonical(resource, record)) missingOrStale++
    }
    let extra = 0
    for (const key of stored.keys()) if (!serverKeys.has(key)) extra++
    return { resource: resource.name, server: records.length, stored: stored.size, missingOrStale, extra }
  })
