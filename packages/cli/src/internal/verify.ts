import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Asset from "@vppkit/core/Asset"
import * as Simulator from "@vppkit/simulator/Simulator"
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

/**
 * An asset as a sync sees it: asked with `unlimited=true`, an unlimited free asset (which the simulator, like
 * Apple without the parameter, lists with `totalCount` 2147483647) comes from `unlimitedAssets`, without
 * counts but `assignedCount`, marked `unlimited: true`.
 */
const assetAsSynced = (asset: Resources.JsonRecord): Resources.JsonRecord => {
  if (asset["totalCount"] !== Asset.unlimitedTotalCount) return asset
  const { availableCount: _available, retiredCount: _retired, totalCount: _total, ...rest } = asset
  return { ...rest, unlimited: true }
}

/**
 * The records the simulator holds for a resource, as a sync of it sees them (no filters but the sync's: retired
 * entries too, unlimited assets marked).
 */
export const serverRecords = (
  simulator: Simulator.Service,
  resource: Resources.Name
): Effect.Effect<ReadonlyArray<Resources.JsonRecord>> => {
  const records = (() => {
    switch (resource) {
      case "assets":
        return Effect.map(simulator.records(resource), (assets) => (assets as ReadonlyArray<Resources.JsonRecord>).map(assetAsSynced))
      case "assignments":
      case "users":
        return simulator.records(resource)
      case "subscriptions":
        return simulator.subscriptions.records("subscriptions")
      case "subscription-assignments":
        return simulator.subscriptions.records("subscriptionAssignments")
      case "subscription-admins":
        return simulator.subscriptions.records("subscriptionAdmins")
      case "legacy-licenses":
        return simulator.legacy.records("licenses")
      case "legacy-users":
        return simulator.legacy.records("users")
    }
  })()
  return records as Effect.Effect<ReadonlyArray<Resources.JsonRecord>>
}

/** A record back from its row: absent fields for NULL, booleans from 0/1, JSON columns parsed. */
const recordOf = (resource: Resources.Resource, row: Record<string, unknown>): Resources.JsonRecord => {
  const record: Record<string, unknown> = {}
  for (const field of resource.fields) {
    const value = row[field.name]
    if (value === null || value === undefined) continue
    record[field.name] = field.type === "boolean"
      ? value === 1 || value === true || value === 1n
      : field.type === "json"
      ? JSON.parse(String(value))
      : field.type === "integer" || field.type === "real"
      ? Number(value)
      : value
  }
  return record
}

/** Only the documented fields, in a canonical order, so a record and its row compare as text. */
export const canonical = (resource: Resources.Resource, record: Resources.JsonRecord): string =>
  Simulator.canonicalJson(Object.fromEntries(
    resource.fields
      .filter((field) => record[field.name] !== undefined && record[field.name] !== null)
      .map((field) => [field.name, record[field.name]])
  ))

/** Compares a resource's table with the server's records, row by row on the natural key. */
export const compare = (
  simulator: Simulator.Service,
  resource: Resources.Resource
): Effect.Effect<Comparison, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql(resource.table)}`
    const stored = new Map(rows.map((row) => [String(row["natural_key"]), canonical(resource, recordOf(resource, row))]))
    const records = yield* serverRecords(simulator, resource.name)
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
