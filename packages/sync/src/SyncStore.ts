/**
 * The port the sync engine writes through: one table per resource, keyed by the record's natural key, with a
 * column per field of the record as Apple's JSON has it ({@link Resource.columns}), and a state row per
 * resource (its checkpoint, when it was last synced, and the organisation synced). Records and checkpoints never
 * hold the sToken. `SqlSyncStore.layer` implements it over `@effect/sql`.
 *
 * @since 0.1.0
 */
import type * as SqlError from "@effect/sql/SqlError"
import type * as Resource from "@vppkit/core/Resource"
import type * as Resources from "@vppkit/core/Resources"
import * as Context from "effect/Context"
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
 * The organisation a database holds the records of: the token's `orgName`, the base URL synced from, and Apple's
 * `uId` of the library (from v2 responses; `undefined` until one arrived). Never the sToken.
 *
 * @since 0.1.0
 * @category models
 */
export interface Organisation {
  readonly orgName: string
  readonly baseUrl: string
  readonly uId: string | undefined
}

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
  /** The organisation the run synced (absent in rows written before vppkit recorded it). */
  readonly organisation?: Organisation | undefined
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
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Makes the resources' tables ready: creates a missing table, adds the columns a table made from an older
   * record schema lacks (they start `NULL`) and the indexes it lacks. Derived from the descriptors, so a
   * resource the store never saw before works too.
   */
  readonly ensureResources: (resources: ReadonlyArray<Resource.Any>) => Effect.Effect<void, SqlError.SqlError>
  /** The state of a resource, if it was ever synced. */
  readonly readState: (resource: string) => Effect.Effect<Option.Option<State>, SqlError.SqlError>
  /** Writes the state of a resource. Run it in the transaction that wrote the records it covers. */
  readonly writeState: (state: State) => Effect.Effect<void, SqlError.SqlError>
  /**
   * The organisation the store holds, as its state rows record it: `None` for a new store, or one whose rows
   * were written before vppkit recorded it. A `uId` recorded by any row counts.
   */
  readonly readOrganisation: Effect.Effect<Option.Option<Organisation>, SqlError.SqlError>
  /**
   * Inserts or updates records by natural key; when a key repeats, the last record wins. With `seen`, the keys
   * are also recorded for the full pass in progress. With `countInserted`, answers how many keys were new to the
   * table; otherwise `undefined`.
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
 * @since 0.1.0
 * @category accessors
 */
export const readOrganisation: Effect.Effect<Option.Option<Organisation>, SqlError.SqlError, SyncStore> = Effect.flatMap(
  SyncStore,
  (store) => store.readOrganisation
)

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
 * @since 0.1.0
 * @category accessors
 */
export const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError.SqlError, R | SyncStore> =>
  Effect.flatMap(SyncStore, (store) => store.transaction(effect))
