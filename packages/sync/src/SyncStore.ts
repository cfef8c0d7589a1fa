/**
 * The port the sync engine writes through: one table per resource, keyed by (location, natural key), with a
 * column per field of the record as Apple's JSON has it ({@link Resource.columns}), a state row per location and
 * resource (its checkpoint and when it was last synced), and the locations synced (Apple's `uId`, name,
 * organisation, the fingerprints of their tokens). Many locations share a database, each kept apart: the
 * operations on records and states are scoped to one location ({@link forLocation}); tokens of one library
 * share its partition. Nothing holds the sToken. `SqlSyncStore.layer` implements it over `@effect/sql`.
 *
 * @since 0.1.0
 */
import type * as SqlError from "@effect/sql/SqlError"
import type * as Resource from "@vppkit/core/Resource"
import type * as Resources from "@vppkit/core/Resources"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"

/**
 * A record as Apple's JSON has it (the encoded side of the resource's record schema).
 *
 * @since 0.1.0
 * @category models
 */
export type JsonRecord = Resources.JsonRecord

/**
 * A location as a sync learned it from its sToken (`GET /v2/client/config` and the token itself), written to
 * `locations` and `location_tokens` by {@link Service.recordLocation}. `fingerprint` is the SHA-256 (hex) of the
 * sToken: never the token.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocationRecord {
  /** Apple's library id (`uId`): the location's partition in every table. */
  readonly uId: string
  readonly locationName: string | undefined
  readonly orgName: string
  readonly baseUrl: string
  /** The sToken's expiry (ISO 8601), as Apple reported it or as the token says. */
  readonly tokenExpiresAt: string | undefined
  /** SHA-256 (hex) of the sToken. */
  readonly fingerprint: string
  /** When it was seen (ISO 8601). */
  readonly seenAt: string
}

/**
 * A resource of a location in {@link LocationInfo}: its last run as `sync_state` records it.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocationResource {
  readonly resource: string
  readonly lastSyncAt: string
  readonly lastFullSyncAt: string | undefined
  readonly consistency: "consistent" | "drifted"
  /** Rows of the location in the resource's table after its last run. */
  readonly records: number
}

/**
 * A location the database holds ({@link Service.locations}).
 *
 * @since 0.1.0
 * @category models
 */
export interface LocationInfo {
  readonly uId: string
  /** `locationName` from Client Config (`""` when Apple sent none). */
  readonly locationName: string
  readonly orgName: string
  readonly baseUrl: string
  /** The expiry of the token the location was last synced with (ISO 8601). */
  readonly tokenExpiresAt: string | undefined
  /** How many different sTokens (by fingerprint) synced the location. */
  readonly tokens: number
  readonly firstSeenAt: string
  readonly lastSeenAt: string
  /** Its resources, by name. */
  readonly resources: ReadonlyArray<LocationResource>
}

/**
 * The partition of the rows a database made by an earlier version held (one organisation, no location
 * recorded): {@link Service.adoptUnassigned} hands them to the location synced that matches them. A store not
 * scoped with {@link forLocation} works on it.
 *
 * @since 0.1.0
 * @category models
 */
export const unassigned = ""

/**
 * The state of a resource after its last committed run.
 *
 * @since 0.1.0
 * @category models
 */
export interface State {
  /** The resource's name (`assets`, `legacy-licenses`). */
  readonly resource: string
  /** `versionId` or `sinceModifiedToken`; `undefined` for a resource without an incremental query. */
  readonly checkpointField: string | undefined
  /** What the next incremental run passes as its "since" value; `undefined`: the next run is full. */
  readonly checkpoint: string | undefined
  /** Whether the last run's pass was consistent. */
  readonly consistency: "consistent" | "drifted"
  /** Rows in the resource's table after the last run. */
  readonly records: number
  /** When the last full run whose pass was consistent (so deletions were reconciled) committed (ISO 8601). */
  readonly lastFullSyncAt: string | undefined
  /** When the last run committed (ISO 8601). */
  readonly lastSyncAt: string
}

/**
 * What a full pass asks of {@link Service.finishPass}: whether it recorded the keys it delivered (as
 * {@link Service.startPass} answered) and whether it may delete the rows it did not deliver (it was consistent).
 *
 * @since 0.1.0
 * @category models
 */
export interface Pass {
  readonly recorded: boolean
  readonly reconcile: boolean
}

/**
 * Who holds a location's lock ({@link Service.withLocationLock}), as far as the store can tell: the name the holder
 * gave (`vppkit sync 4242@host`, say) and since when (ISO 8601; on PostgreSQL the start of the holder's session).
 *
 * @since 0.1.0
 * @category models
 */
export interface LockHolder {
  readonly name: string
  readonly since: string | undefined
}

/**
 * Another sync of the location holds its lock ({@link Service.withLocationLock}): this one did not start. `holder`
 * names it when the store can tell; `waitedMillis`, when this one waited for the lock ({@link LockOptions.wait}), how
 * long it did.
 *
 * @since 0.1.0
 * @category errors
 */
export class LocationBusyError extends Data.TaggedError("LocationBusyError")<{
  /** The location (Apple's `uId`). */
  readonly location: string
  readonly holder: LockHolder | undefined
  readonly waitedMillis?: number | undefined
}> {
  override get message(): string {
    const holder = this.holder === undefined
      ? ""
      : ` (${this.holder.name}${this.holder.since !== undefined ? `, since ${this.holder.since}` : ""})`
    const waited = this.waitedMillis === undefined ? "" : `; waited ${(this.waitedMillis / 1000).toFixed(1)} s for it`
    return `another sync of location uId ${this.location} is running${holder}${waited}`
  }
}

/**
 * How {@link Service.withLocationLock} takes a location's lock:
 * - `holder`: the name the taker gives itself, which a second sync reads (default `vppkit`);
 * - `wait`: how long to wait while another sync holds the lock, trying again (50 ms, doubling to every second),
 *   before failing with {@link LocationBusyError} (default: none, it fails at once). Never two syncs at once: the
 *   lock is only taken once it is free;
 * - `onBusy`: called once, with the holder, when the lock is held and the taker waits for it.
 *
 * @since 0.1.0
 * @category models
 */
export interface LockOptions {
  readonly holder?: string | undefined
  readonly wait?: Duration.DurationInput | undefined
  readonly onBusy?: ((busy: LocationBusyError) => Effect.Effect<void>) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * The location (Apple's `uId`) the operations on records and states are scoped to: every read and write of
   * a resource's rows and of `sync_state` concerns that location's partition only. {@link unassigned} (`""`)
   * unless the store was scoped with {@link Service.forLocation}.
   */
  readonly location: string
  /** The same store scoped to another location's partition. */
  readonly forLocation: (uId: string) => Service
  /**
   * Makes the resources' tables ready: creates a missing table, adds the columns a table made from an older
   * record schema lacks (they start `NULL`) and the indexes it lacks. Derived from the descriptors, so a
   * resource the store never saw before works too.
   */
  readonly ensureResources: (resources: ReadonlyArray<Resource.Any>) => Effect.Effect<void, SqlError.SqlError>
  /**
   * Records a location and its token (`locations`, `location_tokens`): inserted the first time, its name,
   * organisation, base URL, token expiry and last seen time updated after. Never the token: its fingerprint.
   */
  readonly recordLocation: (location: LocationRecord) => Effect.Effect<void, SqlError.SqlError>
  /** Every location recorded, by name then `uId`, with its tokens and its resources' last runs. */
  readonly locations: Effect.Effect<ReadonlyArray<LocationInfo>, SqlError.SqlError>
  /**
   * Hands the {@link unassigned} rows and states of the resources (their tables ensured) to this store's
   * location, when what they recorded matches: every unassigned `sync_state` row that records an organisation
   * records `organisation.orgName` and `organisation.baseUrl`, and every one that records a `uId` this location's.
   * A resource the location already has a state or rows of is left alone. Answers the resources adopted. Run it
   * in a transaction.
   */
  readonly adoptUnassigned: (
    resources: ReadonlyArray<Resource.Any>,
    organisation: { readonly orgName: string; readonly baseUrl: string }
  ) => Effect.Effect<ReadonlyArray<string>, SqlError.SqlError>
  /** The state of a resource, if it was ever synced. */
  readonly readState: (resource: string) => Effect.Effect<Option.Option<State>, SqlError.SqlError>
  /** Writes the state of a resource. Run it in the transaction that wrote the records it covers. */
  readonly writeState: (state: State) => Effect.Effect<void, SqlError.SqlError>
  /**
   * Inserts or updates records by natural key; when a key repeats, the last record wins. With `seen`, the keys
   * are also recorded for the full pass in progress. With `countInserted`, answers how many keys were new to the
   * table; otherwise `undefined`. Within a full pass (after {@link Service.startPass}, in the pass's transaction
   * begun with {@link Service.transaction}) a store may write the records in bulk later: before it reads or
   * writes anything else, at {@link Service.finishPass}, and before that transaction commits.
   */
  readonly upsert: (
    resource: Resource.Any,
    records: ReadonlyArray<JsonRecord>,
    options?: { readonly seen?: boolean | undefined; readonly countInserted?: boolean | undefined }
  ) => Effect.Effect<number | undefined, SqlError.SqlError>
  /**
   * Starts a full pass over a resource's table (in the pass's transaction). Answers whether the pass has to
   * record the keys it delivers (`upsert(…, { seen: true })`): not when the table is empty.
   */
  readonly startPass: (resource: Resource.Any) => Effect.Effect<boolean, SqlError.SqlError>
  /**
   * Ends a full pass: with `reconcile` and recorded keys, deletes the rows the pass did not deliver. Answers the
   * rows in the table afterwards and how many were deleted.
   */
  readonly finishPass: (
    resource: Resource.Any,
    pass: Pass
  ) => Effect.Effect<{ readonly rows: number; readonly deleted: number }, SqlError.SqlError>
  /**
   * v2 users: deletes the entry of the retired record's `clientUserId` that is not retired, if its `email` or
   * `idHash` equals the record's (the entry a Retired record replaces). Answers the rows deleted (0 or 1).
   */
  readonly removeRetiredUser: (resource: Resource.Any, retired: JsonRecord) => Effect.Effect<number, SqlError.SqlError>
  /** Rows in a resource's table. */
  readonly count: (resource: Resource.Any) => Effect.Effect<number, SqlError.SqlError>
  /** Every row of a resource's table as Apple's JSON record (`NULL` is an absent field), in natural key order. */
  readonly rows: (
    resource: Resource.Any
  ) => Effect.Effect<ReadonlyArray<{ readonly key: string; readonly record: JsonRecord }>, SqlError.SqlError>
  /** Every natural key in a resource's table. */
  readonly keys: (resource: Resource.Any) => Effect.Effect<ReadonlyArray<string>, SqlError.SqlError>
  /**
   * Runs `effect` holding the lock of the location `uId`, or fails with {@link LocationBusyError} when another sync
   * holds it (in this process or, where the database can tell, in another): one sync per location at a time,
   * whoever runs it. It fails at once, or, with `wait` ({@link LockOptions}), once the lock was still held after
   * that long. `holder` names the taker to a second sync (default `vppkit`). The lock is released
   * when `effect` ends, however it ends, and with the holder's process (PostgreSQL: a session-level advisory
   * lock). On PostgreSQL `effect`'s statements and transactions run on the lock's connection, so a sync takes one
   * connection of the pool, not two: syncs that fill the pool wait for a connection, none waits holding a lock (a
   * sync waiting for its lock holds no connection between its tries).
   */
  readonly withLocationLock: (
    uId: string,
    options?: LockOptions
  ) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LocationBusyError | SqlError.SqlError, R>
  /** Runs `effect` in one transaction: everything it writes commits together, or nothing does. */
  readonly transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError.SqlError, R>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class SyncStore extends Context.Tag("@vppkit/sync/SyncStore")<SyncStore, Service>() {}

const tables = new WeakMap<Resource.Any, string>()

/**
 * The table of a resource: its name with `-` replaced by `_` (`legacy-licenses` → `legacy_licenses`).
 *
 * @since 0.1.0
 * @category schema
 */
export const tableName = (resource: Resource.Any): string => {
  let table = tables.get(resource)
  if (table === undefined) {
    table = resource.name.replace(/-/g, "_")
    tables.set(resource, table)
  }
  return table
}

/**
 * @since 0.1.0
 * @category accessors
 */
export const ensureResources = (resources: ReadonlyArray<Resource.Any>): Effect.Effect<void, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.ensureResources(resources))

/**
 * @since 0.1.0
 * @category accessors
 */
export const readState = (resource: string): Effect.Effect<Option.Option<State>, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.readState(resource))

/**
 * @since 0.1.0
 * @category accessors
 */
export const writeState = (state: State): Effect.Effect<void, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.writeState(state))

/**
 * Runs `effect` with the store in context scoped to the location `uId` ({@link Service.forLocation}).
 *
 * @since 0.1.0
 * @category combinators
 */
export const forLocation = (uId: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | SyncStore> =>
  Effect.flatMap(SyncStore, (store) => Effect.provideService(effect, SyncStore, store.forLocation(uId)))

/**
 * @since 0.1.0
 * @category accessors
 */
export const recordLocation = (location: LocationRecord): Effect.Effect<void, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.recordLocation(location))

/**
 * @since 0.1.0
 * @category accessors
 */
export const locations: Effect.Effect<ReadonlyArray<LocationInfo>, SqlError.SqlError, SyncStore> = Effect.flatMap(
  SyncStore,
  (store) => store.locations
)

/**
 * @since 0.1.0
 * @category accessors
 */
export const adoptUnassigned = (
  resources: ReadonlyArray<Resource.Any>,
  organisation: { readonly orgName: string; readonly baseUrl: string }
): Effect.Effect<ReadonlyArray<string>, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.adoptUnassigned(resources, organisation))

/**
 * @since 0.1.0
 * @category accessors
 */
export const upsert = (
  resource: Resource.Any,
  records: ReadonlyArray<JsonRecord>,
  options?: { readonly seen?: boolean | undefined; readonly countInserted?: boolean | undefined }
): Effect.Effect<number | undefined, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.upsert(resource, records, options))

/**
 * @since 0.1.0
 * @category accessors
 */
export const startPass = (resource: Resource.Any): Effect.Effect<boolean, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.startPass(resource))

/**
 * @since 0.1.0
 * @category accessors
 */
export const finishPass = (
  resource: Resource.Any,
  pass: Pass
): Effect.Effect<{ readonly rows: number; readonly deleted: number }, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.finishPass(resource, pass))

/**
 * @since 0.1.0
 * @category accessors
 */
export const removeRetiredUser = (resource: Resource.Any, retired: JsonRecord): Effect.Effect<number, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.removeRetiredUser(resource, retired))

/**
 * @since 0.1.0
 * @category accessors
 */
export const count = (resource: Resource.Any): Effect.Effect<number, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.count(resource))

/**
 * @since 0.1.0
 * @category accessors
 */
export const rows = (
  resource: Resource.Any
): Effect.Effect<ReadonlyArray<{ readonly key: string; readonly record: JsonRecord }>, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.rows(resource))

/**
 * @since 0.1.0
 * @category accessors
 */
export const keys = (resource: Resource.Any): Effect.Effect<ReadonlyArray<string>, SqlError.SqlError, SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.keys(resource))

/**
 * Runs `effect` holding the lock of the location `uId` ({@link Service.withLocationLock}).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withLocationLock = (uId: string, options?: LockOptions) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | LocationBusyError | SqlError.SqlError, R | SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.withLocationLock(uId, options)(effect))

/**
 * @since 0.1.0
 * @category accessors
 */
export const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError.SqlError, R | SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.transaction(effect))
