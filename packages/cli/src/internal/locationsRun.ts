import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import type * as SyncStore from "@vppkit/sync/SyncStore"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { CommandError, UsageError } from "../ExitCode.js"
import * as Resources from "../Resources.js"
import * as Help from "./help.js"
import * as Output from "./output.js"
import type { Flags } from "./locationsCommand.js"
import { databaseError, describeSqlError, isSqlError, parseDatabase } from "./syncRun.js"

const dayMillis = 86_400_000

const count = (n: number) => n.toLocaleString("en-US")

/** A location as `--format json` and `ndjson` write it: its {@link SyncStore.LocationInfo}, absent values `null`. */
export const locationJson = (location: SyncStore.LocationInfo, now: number) => {
  const expiresAt = location.tokenExpiresAt === undefined ? Number.NaN : Date.parse(location.tokenExpiresAt)
  const known = !Number.isNaN(expiresAt)
  return {
    uId: location.uId,
    locationName: location.locationName,
    orgName: location.orgName,
    baseUrl: location.baseUrl,
    tokenExpiresAt: location.tokenExpiresAt ?? null,
    /** Whole days until the token expires (negative once it has). */
    tokenDaysLeft: known ? Math.floor((expiresAt - now) / dayMillis) : null,
    tokenExpired: known ? expiresAt <= now : null,
    tokens: location.tokens,
    firstSeenAt: location.firstSeenAt,
    lastSeenAt: location.lastSeenAt,
    resources: location.resources.map((resource) => ({
      resource: resource.resource,
      lastSyncAt: resource.lastSyncAt,
      lastFullSyncAt: resource.lastFullSyncAt ?? null,
      consistency: resource.consistency,
      records: resource.records
    }))
  }
}

type LocationJson = ReturnType<typeof locationJson>

const textField = (name: string): Resources.Field => ({ name, type: "text" })

/** `2026-12-05T06:50:01.118Z` → `2026-12-05 06:50` (UTC). */
const minute = (iso: string | null): string => iso === null || iso === "" ? "" : iso.replace("T", " ").slice(0, 16)

/** `2030-11-08 (1,434 days)`, `2024-01-01 EXPIRED`, or nothing when the expiry is unknown. */
const expiry = (location: LocationJson): string => {
  if (location.tokenExpiresAt === null) return ""
  const day = location.tokenExpiresAt.slice(0, 10)
  if (location.tokenExpired === true) return `${day} EXPIRED`
  return location.tokenDaysLeft === null ? day : `${day} (${daysLeft(location)})`
}

/** `1,434 days`, `EXPIRED`, or nothing when the expiry is unknown. */
const daysLeft = (location: LocationJson): string =>
  location.tokenExpired === true
    ? "EXPIRED"
    : location.tokenDaysLeft === null
    ? ""
    : `${count(location.tokenDaysLeft)} ${location.tokenDaysLeft === 1 ? "day" : "days"}`

/** How long ago `iso` was: `just now`, `5 min ago`, `3 h ago`, `12 days ago`. */
const ago = (iso: string | null, now: number): string => {
  const at = iso === null ? Number.NaN : Date.parse(iso)
  if (Number.isNaN(at)) return ""
  const minutes = Math.floor((now - at) / 60_000)
  if (minutes < 1) return "just now"
  if (minutes < 60) return `${minutes} min ago`
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)} h ago`
  return `${count(Math.floor(minutes / (24 * 60)))} days ago`
}

/** The latest last sync of the location's resources. */
const lastSync = (location: LocationJson): string | null =>
  location.resources.reduce<string | null>((latest, r) => latest === null || r.lastSyncAt > latest ? r.lastSyncAt : latest, null)

/** The resources in registry order (others after, by name). */
const ordered = (location: LocationJson) => {
  const rank = (name: string) => {
    const i = (Resources.names as ReadonlyArray<string>).indexOf(name)
    return i === -1 ? Resources.names.length : i
  }
  return [...location.resources].sort((a, b) => rank(a.resource) - rank(b.resource))
}

/** How narrow the `records`, then the `name` column of a table are cut (then both further) before the others are. */
const minimumRecords = 10
const minimumName = 8

/**
 * A table's cells fitted to `width`: the per-resource summary is cut first, then the name, so the `uId`, the
 * token's days and the last sync stay whole down to about 64 columns; what still does not fit is cut by the table itself.
 */
const fitTable = (names: ReadonlyArray<string>, cells: ReadonlyArray<ReadonlyArray<string>>, width: number) => {
  const widths = names.map((name, i) => cells.reduce((widest, row) => Math.max(widest, Output.displayWidth(row[i]!)), name.length))
  let excess = widths.reduce((sum, w) => sum + w, 0) + 2 * (names.length - 1) - width
  const records = names.length - 1
  for (const [column, minimum] of [[records, minimumRecords], [0, minimumName], [records, names[records]!.length], [0, names[0]!.length]]) {
    const cut = Math.max(0, Math.min(excess, widths[column]! - minimum))
    widths[column] = widths[column]! - cut
    excess -= cut
  }
  return cells.map((row) => row.map((text, i) => Output.truncate(text, widths[i]!)))
}

/**
 * The rows of a table or CSV: `table` a row per location, its token's days left, how long ago it last synced,
 * and its resources' records in one cell (`assets 200, assignments 5,000, …`), fitted to `width`; `wide` also
 * the organisation, base URL, token expiry, when it was first and last seen, and each resource's last sync and
 * last full sync, nothing cut; `csv` a column per value, four per resource (`assets.records`, `assets.lastSyncAt`, …).
 */
export const rows = (
  format: "table" | "wide" | "csv",
  locations: ReadonlyArray<LocationJson>,
  options: { readonly now: number; readonly width: number }
): { readonly fields: ReadonlyArray<Resources.Field>; readonly records: ReadonlyArray<Resources.JsonRecord> } => {
  if (format === "table") {
    const names = ["name", "uId", "expires", "tokens", "synced", "records"]
    const cells = locations.map((location) => [
      location.locationName,
      location.uId,
      daysLeft(location),
      String(location.tokens),
      ago(lastSync(location), options.now),
      ordered(location).map((r) => `${r.resource} ${count(r.records)}`).join(", ")
    ].map(Output.printable))
    return {
      fields: names.map(textField),
      records: fitTable(names, cells, options.width).map((row) => Object.fromEntries(names.map((name, i) => [name, row[i]])))
    }
  }
  if (format === "wide") {
    return {
      fields: ["name", "uId", "orgName", "baseUrl", "expires", "tokens", "firstSeen", "lastSeen", "resources"].map(textField),
      records: locations.map((location) => ({
        name: location.locationName,
        uId: location.uId,
        orgName: location.orgName,
        baseUrl: location.baseUrl,
        expires: expiry(location),
        tokens: String(location.tokens),
        firstSeen: minute(location.firstSeenAt),
        lastSeen: minute(location.lastSeenAt),
        resources: ordered(location).map((r) =>
          `${r.resource} ${count(r.records)} synced ${minute(r.lastSyncAt)}${
            r.lastFullSyncAt === null ? "" : ` full ${minute(r.lastFullSyncAt)}`
          }${r.consistency === "drifted" ? " drifted" : ""}`
        ).join("; ")
      }))
    }
  }
  const resources = Resources.names.filter((name) => locations.some((l) => l.resources.some((r) => r.resource === name)))
  const others = [...new Set(locations.flatMap((l) => l.resources.map((r) => r.resource)))]
    .filter((name) => !(Resources.names as ReadonlyArray<string>).includes(name))
    .sort()
  const perResource = ["records", "lastSyncAt", "lastFullSyncAt", "consistency"] as const
  return {
    fields: [
      ...["uId", "locationName", "orgName", "baseUrl", "tokenExpiresAt", "tokenDaysLeft", "tokenExpired", "tokens"].map(textField),
      ...["firstSeenAt", "lastSeenAt"].map(textField),
      ...[...resources, ...others].flatMap((name) => perResource.map((value) => textField(`${name}.${value}`)))
    ],
    records: locations.map((location) => {
      const record: Record<string, unknown> = { ...location, resources: undefined }
      for (const resource of location.resources) {
        for (const value of perResource) record[`${resource.resource}.${value}`] = resource[value]
      }
      return record
    })
  }
}

/** The database, read-only: a SQLite file that does not exist is a usage error (it is not created). */
const open = Effect.fn("locations.open")(
  function*(target: NodeDatabase.Target) {
    if (target._tag === "Sqlite") {
      const fs = yield* FileSystem.FileSystem
      // Another failure to stat it (a directory that cannot be searched) is left for opening it to report.
      const info = yield* Effect.either(fs.stat(target.filename))
      if (Either.isLeft(info) && info.left._tag === "SystemError" && info.left.reason === "NotFound") {
        return yield* new UsageError({
          message: `--db ${target.description}: no such database (vppkit sync --db ${target.description} creates it)`
        })
      }
      if (Either.isRight(info) && info.right.type !== "File") {
        return yield* new UsageError({ message: `--db ${target.description}: not a database file` })
      }
    }
    return yield* Layer.build(NodeDatabase.layerTarget(target, { readOnly: true })).pipe(
      Effect.catchAllCause((cause) => {
        const failure = Cause.squash(cause)
        return Effect.fail(
          failure instanceof NodeDatabase.DatabaseError
            ? databaseError(failure)
            : new CommandError({ message: `cannot open the database ${target.description}: ${String(failure)}` })
        )
      })
    )
  }
)

/**
 * A database that holds tables but not vppkit's (no `vppkit_sync_migrations`), or vppkit's from before locations
 * were recorded (no `locations` table), is refused (exit 2): "no locations" would be wrong of it. A database with no
 * table at all is a new one (no locations).
 */
const requireLocations = (target: NodeDatabase.Target) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql.onDialectOrElse({
      pg: () =>
        sql<{ readonly name: string }>`SELECT ${sql("table_name")} AS ${sql("name")} FROM ${sql("information_schema")}.${
          sql("tables")
        } WHERE ${sql("table_schema")} = current_schema()`,
      orElse: () => sql<{ readonly name: string }>`SELECT ${sql("name")} FROM ${sql("sqlite_master")} WHERE ${sql("type")} = 'table'`
    })
    const tables = new Set(rows.map((row) => row.name))
    if (tables.size === 0) return
    if (!tables.has(SqlSyncStore.migrationsTable)) {
      return yield* new UsageError({ message: `--db ${target.description}: not a vppkit database (no ${SqlSyncStore.migrationsTable} table)` })
    }
    if (!tables.has(SqlSyncStore.locationsTable)) {
      return yield* new UsageError({
        message: `--db ${target.description}: a vppkit database from before locations were recorded: vppkit sync --db ${target.description} upgrades it`
      })
    }
  })

/** The work of `vppkit locations` (locationsCommand.ts), once its command line is parsed. */
export const runLocations = ({ db, format, quiet }: Flags) =>
  Effect.gen(function*() {
    const chosen = Option.getOrElse(format, () => process.stdout.isTTY === true ? "table" : "ndjson")
    if (!(Output.formats as ReadonlyArray<string>).includes(chosen)) {
      return yield* new UsageError({ message: `--format ${JSON.stringify(chosen)}: expected one of ${Output.formats.join(", ")}` })
    }
    const output = chosen as Output.Format
    const target = yield* parseDatabase(db)
    const context = yield* open(target)
    const found = yield* Effect.zipRight(requireLocations(target), SqlSyncStore.readLocations).pipe(
      Effect.provide(context),
      Effect.catchIf(isSqlError, (error) => new CommandError({ message: `database ${target.description}: ${describeSqlError(error)}` })),
      // @effect/sql turns a failed COMMIT into a defect: it is still a database error.
      Effect.catchSomeDefect((defect) =>
        isSqlError(defect)
          ? Option.some(Effect.fail(new CommandError({ message: `database ${target.description}: ${describeSqlError(defect)}` })))
          : Option.none()
      )
    )
    const now = yield* Clock.currentTimeMillis
    const locations = found.map((location) => locationJson(location, now))
    if (locations.length === 0 && !quiet) {
      yield* Console.error(`no locations in ${target.description} (vppkit sync records the location of its token)`)
    }
    const sink = Output.streamSink(process.stdout)
    const width = process.stdout.isTTY === true && process.stdout.columns > 0 ? process.stdout.columns : 80
    const table = output === "table" || output === "wide" || output === "csv" ? rows(output, locations, { now, width }) : undefined
    // An empty table prints nothing (the line above says why); CSV its header, JSON `[]`.
    if (locations.length === 0 && (output === "table" || output === "wide")) return
    const writer = Output.make(output, table?.fields ?? [], sink, { color: Help.useColor(process.stdout), width })
    yield* writer.records(table?.records ?? locations)
    yield* writer.end
  }).pipe(
    Effect.scoped,
    Output.endWhenReaderCloses
  )
