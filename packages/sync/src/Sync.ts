/**
 * Syncs resources into the {@link SyncStore.SyncStore}: one after another, each in ONE transaction that holds all its record
 * writes and its `sync_state` row, so a failure or an interruption rolls that resource back to its previous
 * committed state — nothing committed is lost, and a checkpoint never runs ahead of the records it covers.
 * A resource that fails does not undo the ones synced before it.
 *
 * Full run (the first run, `full: true`, a resource without an incremental query, or a checkpoint the server
 * no longer accepts — 9721): every record is upserted; rows whose natural key the pass did not deliver are
 * deleted, but only when the pass was consistent (a drifted pass may miss records that shifted between live
 * pages).
 *
 * Incremental run (a stored checkpoint and a resource with an incremental query): the records modified since
 * the checkpoint are upserted. Deltas do not show deletions (Apple leaves them undefined), so rows of deleted
 * records stay until the next full run — except v2 users, whose retirement is a change: the Retired entry
 * replaces the entry it was.
 *
 * Many locations share a database, each kept apart. A run first learns its location from the sToken (Client
 * Config: Apple's library id `uId`, `locationName`, the token's expiry) and records it with the SHA-256 of the
 * token (never the token); then it syncs into that location's partition (every row keyed by `uId` and natural
 * key, checkpoints per `uId` and resource), so two tokens of one library write the same rows once and share its
 * checkpoints. A page of another library (`uId`) fails the run before anything of it is written. The rows of a
 * database made by an earlier version (one organisation, no location) are adopted by the first location synced
 * that matches what they recorded (`SyncStore.adoptUnassigned`).
 *
 * Nothing is printed here: a caller follows a run through its hooks ({@link Options}): a progress per resource,
 * notices, and each resource's summary.
 *
 * @since 0.1.0
 */
import type * as SqlError from "@effect/sql/SqlError"
import * as ClientConfig from "@vppkit/core/ClientConfig"
import type * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import * as Traversal from "@vppkit/core/Traversal"
import * as VppClient from "@vppkit/core/VppClient"
import type * as VppError from "@vppkit/core/VppError"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as SyncStore from "./SyncStore.js"

/**
 * What a caller follows of one resource's run (a progress bar, say): each page once it is written in the
 * resource's transaction, and the summary once the transaction committed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly page: (page: Traversal.Page<SyncStore.JsonRecord>) => Effect.Effect<void>
  readonly finish: (summary: Summary) => Effect.Effect<void>
}

/**
 * Something a run tells its caller that is not a summary: a resource that fell back to a full run because the
 * server refused its checkpoint, a resource rolled back by a failure or by an interruption.
 *
 * @since 0.1.0
 * @category models
 */
export type Notice =
  | {
    readonly _tag: "CheckpointRefused"
    readonly resource: string
    readonly error: VppError.CheckpointUnusableError
  }
  | { readonly _tag: "NotSynced"; readonly resource: string }
  | { readonly _tag: "Interrupted"; readonly resource: string }

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never, E = never> {
  /** The resources to sync, in this order (default: every resource of `@vppkit/core/Resources`). */
  readonly resources?: ReadonlyArray<Resource.Any> | undefined
  /** A full run for every resource, even where a checkpoint allows an incremental one. */
  readonly full?: boolean | undefined
  /** Requests in flight at once, 1..5 (default 5); legacy services are walked in parallel batches above 1. */
  readonly concurrency?: number | undefined
  /** Passes of a page-index traversal until one is consistent (default 3). */
  readonly retraverse?: number | undefined
  /** Called as each resource's run starts, in its scope: what follows its pages and its summary. */
  readonly progress?: ((resource: Resource.Any) => Effect.Effect<Progress, never, R | Scope.Scope>) | undefined
  /** Called with each {@link Notice}. */
  readonly onNotice?: ((notice: Notice) => Effect.Effect<void, never, R>) | undefined
  /** Called with each resource's summary once its transaction committed. */
  readonly onSummary?: ((summary: Summary) => Effect.Effect<void, never, R>) | undefined
  /**
   * The location, when the caller learned it already ({@link learnLocation}); otherwise the run learns it.
   */
  readonly location?: Location | undefined
  /**
   * The name this run gives itself in the location's lock, so that a second sync of the location can say who
   * runs it (`vppkit sync 4242@host`, say; default `vppkit`). See {@link run}.
   */
  readonly lockHolder?: string | undefined
  /**
   * How long the run waits for the location's lock while another sync holds it, trying it again, before failing
   * with `SyncStore.LocationBusyError` (default: none, it fails at once). See {@link run}.
   */
  readonly lockWait?: Duration.DurationInput | undefined
  /** Called once, with the holder, when the run finds the location's lock held and waits for it (`lockWait`). */
  readonly onLockWait?: ((busy: SyncStore.LocationBusyError) => Effect.Effect<void, never, R>) | undefined
  /**
   * Called once the location is learned, recorded and locked, before anything of it is read or written; a
   * failure ends the run.
   */
  readonly onLocation?: ((location: Location) => Effect.Effect<void, E, R>) | undefined
}

/**
 * The location a run syncs, as learned from its sToken: Apple's library id, its name, the token's organisation,
 * the base URL, the token's expiry, and the SHA-256 (hex) of the token, by which its tokens are told apart.
 *
 * @since 0.1.0
 * @category models
 */
export interface Location {
  readonly uId: string
  readonly locationName: string | undefined
  readonly orgName: string
  readonly baseUrl: string
  readonly tokenExpiresAt: Date | undefined
  readonly fingerprint: string
}

/**
 * What a committed run of one resource did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly resource: string
  /** The location synced (Apple's `uId`). */
  readonly location: string
  readonly mode: "full" | "incremental"
  /**
   * Why a run was full: `first` (no checkpoint yet), `forced` (`full: true`), `no-incremental` (the API has
   * no incremental query for the resource), `checkpoint-unusable` (the server refused the checkpoint: 9721).
   */
  readonly reason: "first" | "forced" | "no-incremental" | "checkpoint-unusable" | undefined
  /** Records delivered by the pass. */
  readonly records: number
  /** Rows deleted: reconciled by a consistent full pass, or v2 user entries replaced by their Retired entry. */
  readonly deleted: number
  /** Rows in the table after the run. */
  readonly rows: number
  readonly pages: number
  readonly retries: number
  readonly passes: number
  readonly consistency: "consistent" | "drifted"
  /** `advanced`: the new checkpoint was stored; `kept`: the previous one was kept; `none`: there is none. */
  readonly checkpoint: "advanced" | "kept" | "none"
  readonly millis: number
  /** The sToken's expiry as Apple reported it (`tokenExpirationDate`), when it did. */
  readonly tokenExpiresAt?: Date | undefined
}

/**
 * The filters a sync asks each resource for: none (everything the endpoint returns), except legacy users,
 * for whom retired entries are asked for too, so that a retirement is a change an incremental run sees (the
 * entry turns Retired) instead of a disappearance only a full run reconciles, and assets, asked with
 * `unlimited=true` so that unlimited free assets come marked (`unlimited` 1) without made-up counts.
 *
 * @since 0.1.0
 * @category models
 */
export const filtersOf = <F>(resource: Resource.Resource<any, any, F, any>): F => resource.syncFilters

/**
 * A response of another library (`uId`) than the location's, as Client Config named it for the sToken. Nothing of
 * it was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class LocationMismatchError extends Data.TaggedError("LocationMismatchError")<{
  /** The location's `uId` (Client Config). */
  readonly location: string
  /** The `uId` of the response. */
  readonly presented: string
  readonly resource: string
}> {
  override get message(): string {
    return `a ${this.resource} response is of library uId ${this.presented}, the sToken's location is uId ${this.location}: refused before it was written`
  }
}

/**
 * Client Config did not name the sToken's library (`uId`), so the run cannot tell which location to sync into.
 *
 * @since 0.1.0
 * @category errors
 */
export class LocationUnknownError extends Data.TaggedError("LocationUnknownError")<{ readonly orgName: string }> {
  override get message(): string {
    return `Client Config named no library (uId) for the sToken of "${this.orgName}": cannot tell which location to sync into`
  }
}

/**
 * The SHA-256 (hex) of an sToken, by which a location's tokens are told apart without storing them (Web Crypto,
 * in Node and browsers alike).
 *
 * @since 0.1.0
 * @category locations
 */
export const tokenFingerprint = (token: VppClient.Service["token"]): Effect.Effect<string> =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", new TextEncoder().encode(Redacted.value(token.value)))).pipe(
    Effect.map((digest) => Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join(""))
  )

/**
 * Learns the location of the client's sToken: Client Config (`uId`, `locationName`, `tokenExpirationDate`, else
 * the token's own expiry), the token's organisation and the base URL, and the token's fingerprint.
 *
 * @since 0.1.0
 * @category locations
 */
export const learnLocation: Effect.Effect<Location, VppError.VppError | LocationUnknownError, VppClient.VppClient> = Effect.gen(
  function*() {
    const client = yield* VppClient.VppClient
    const config = yield* ClientConfig.get
    if (config.uId === undefined || config.uId === "") {
      return yield* new LocationUnknownError({ orgName: client.token.orgName })
    }
    const reported = config.tokenExpirationDate === undefined ? undefined : new Date(config.tokenExpirationDate)
    return {
      uId: config.uId,
      locationName: config.locationName,
      orgName: client.token.orgName,
      baseUrl: client.baseUrl,
      tokenExpiresAt: reported !== undefined && !Number.isNaN(reported.getTime()) ? reported : client.token.expiresAt,
      fingerprint: yield* tokenFingerprint(client.token)
    }
  }
).pipe(Effect.withSpan("Sync.learnLocation"))

/** Fails on a page of another library than the location's, before it is written. */
const checkPage = (location: string, resource: Resource.Any, page: Traversal.Page<unknown>) =>
  page.uId === undefined || page.uId === location
    ? Effect.void
    : Effect.fail(new LocationMismatchError({ location, presented: page.uId, resource: resource.name }))

const isoNow = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis).toISOString())

/**
 * Syncs the resources of the sToken's location one after another and answers one summary per resource. The
 * location is learned first ({@link learnLocation}, unless `options.location` brings it) and recorded, then
 * locked for the length of the run (`SyncStore.withLocationLock`: one sync per location at a time, whoever runs it —
 * a CLI, a fleet's entity, even one the cluster ran twice; a second one fails with `SyncStore.LocationBusyError`
 * and writes nothing of the location, at once or, with `lockWait`, if the lock is still held after that long), then `options.onLocation` runs, the resources' tables are ensured and the unassigned rows of a
 * database made by an earlier version adopted when they match; each resource then syncs in the location's
 * partition. On a failure the resources before it stay committed (their summaries went to `onSummary`) and the
 * failing one is rolled back. A page of another library fails with {@link LocationMismatchError}.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <R = never, E = never>(
  options: Options<R, E> = {}
): Effect.Effect<
  ReadonlyArray<Summary>,
  VppError.VppError | SqlError.SqlError | LocationMismatchError | LocationUnknownError | SyncStore.LocationBusyError | E,
  VppClient.VppClient | SyncStore.SyncStore | R
> =>
  Effect.gen(function*() {
    const resources = options.resources ?? Resources.all
    const notice = (notice: Notice) => options.onNotice === undefined ? Effect.void : options.onNotice(notice)
    const location = options.location ?? (yield* learnLocation)
    const store = (yield* SyncStore.SyncStore).forLocation(location.uId)
    yield* store.recordLocation({
      uId: location.uId,
      locationName: location.locationName,
      orgName: location.orgName,
      baseUrl: location.baseUrl,
      tokenExpiresAt: location.tokenExpiresAt?.toISOString(),
      fingerprint: location.fingerprint,
      seenAt: yield* isoNow
    })
    const context = yield* Effect.context<R>()
    const onLockWait = options.onLockWait
    return yield* Effect.gen(function*() {
      if (options.onLocation !== undefined) yield* options.onLocation(location)
      yield* SyncStore.ensureResources(resources)
      yield* SyncStore.transaction(
        SyncStore.adoptUnassigned(resources, { orgName: location.orgName, baseUrl: location.baseUrl })
      )
      const summaries: Array<Summary> = []
      for (const resource of resources) {
        const summary = yield* syncResource(resource, options, location.uId).pipe(
          Effect.tapError((error) =>
            error._tag === "LocationMismatchError" ? Effect.void : notice({ _tag: "NotSynced", resource: resource.name })
          ),
          Effect.onInterrupt(() => notice({ _tag: "Interrupted", resource: resource.name }))
        )
        summaries.push(summary)
        if (options.onSummary !== undefined) yield* options.onSummary(summary)
      }
      return summaries
    }).pipe(
      Effect.provideService(SyncStore.SyncStore, store),
      store.withLocationLock(location.uId, {
        holder: options.lockHolder,
        wait: options.lockWait,
        onBusy: onLockWait === undefined ? undefined : (busy) => Effect.provide(onLockWait(busy), context)
      })
    )
  }).pipe(Effect.withSpan("Sync.run"))

/** What follows a resource's run when the caller follows none. */
const silent: Progress = { page: () => Effect.void, finish: () => Effect.void }

const syncResource = <R, E>(resource: Resource.Any, options: Options<R, E>, location: string) =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const previous = Option.getOrUndefined(yield* SyncStore.readState(resource.name))
    const progress = options.progress === undefined ? silent : yield* options.progress(resource)
    const checkpointField = resource.delta?.checkpoint
    const checkpoint = checkpointField !== undefined && previous?.checkpointField === checkpointField
      ? previous.checkpoint
      : undefined
    let result: Omit<Summary, "millis">
    if (checkpoint !== undefined && options.full !== true) {
      const delta = yield* incremental(resource, previous!, checkpoint, options, progress, location).pipe(
        Effect.map(Option.some),
        Effect.catchTag("CheckpointUnusableError", (error) =>
          Effect.as(
            options.onNotice === undefined
              ? Effect.void
              : options.onNotice({ _tag: "CheckpointRefused", resource: resource.name, error }),
            Option.none()
          ))
      )
      result = Option.isSome(delta)
        ? delta.value
        : yield* full(resource, previous, options, progress, location, "checkpoint-unusable")
    } else {
      const reason = checkpointField === undefined
        ? "no-incremental"
        : options.full === true && checkpoint !== undefined
        ? "forced"
        : "first"
      result = yield* full(resource, previous, options, progress, location, reason)
    }
    const summary: Summary = { ...result, millis: (yield* Clock.currentTimeMillis) - started }
    yield* progress.finish(summary)
    return summary
  }).pipe(Effect.scoped, Effect.withSpan("Sync.resource", { attributes: { resource: resource.name } }))

/** A traversal of the resource's records as Apple's JSON has them, with the filters a sync asks for. */
const traverse = <R, E>(resource: Resource.Any, options: Options<R, E>, since?: string) => {
  const concurrency = VppClient.clampConcurrency(options.concurrency)
  return Resources.traverseJson(resource, {
    filters: filtersOf(resource),
    concurrency,
    ...(since !== undefined ? { since } : {}),
    ...(resource.family === "legacy" ? { mode: concurrency > 1 ? "parallel" : "sequential" } : {})
  })
}

/**
 * Streams passes of a traversal into `onPage` until one is consistent, at most `options.retraverse` (default
 * 3) passes (`Traversal.untilConsistent`). Each pass streams (the transaction holds what was written, not
 * memory), so a pass that drifted has still upserted current records; `onPass` runs before each pass. Answers
 * the last pass's outcome with the retries and passes of all of them.
 */
const streamPasses = <R, E>(
  traversal: Traversal.Traversal<SyncStore.JsonRecord>,
  options: Options<R, E>,
  onPass: Effect.Effect<void, SqlError.SqlError, SyncStore.SyncStore>,
  onPage: (
    page: Traversal.Page<SyncStore.JsonRecord>
  ) => Effect.Effect<void, SqlError.SqlError | LocationMismatchError, SyncStore.SyncStore>
) =>
  Traversal.untilConsistent(() => Effect.zipRight(onPass, traversal.run(onPage)), {
    maxPasses: options.retraverse ?? 3
  })

/** The parts of a {@link Summary} that come straight from the traversal's outcome. */
const fromOutcome = (outcome: Traversal.Outcome) => ({
  records: outcome.records,
  pages: outcome.pages,
  retries: outcome.retries,
  passes: outcome.passes,
  consistency: outcome.consistency,
  tokenExpiresAt: outcome.tokenExpiresAt
})

const full = <R, E>(
  resource: Resource.Any,
  previous: SyncStore.State | undefined,
  options: Options<R, E>,
  progress: Progress,
  location: string,
  reason: NonNullable<Summary["reason"]>
) =>
  Effect.gen(function*() {
    // Whether the pass records the natural keys it delivers (in SQL, not in memory): not when the table was
    // empty as it started, since then it holds nothing the pass did not deliver.
    let recorded = false
    const outcome = yield* streamPasses(
      traverse(resource, options),
      options,
      Effect.map(SyncStore.startPass(resource), (record) => void (recorded = record)),
      (page) =>
        checkPage(location, resource, page).pipe(
          Effect.zipRight(SyncStore.upsert(resource, page.records, { seen: recorded })),
          Effect.zipRight(progress.page(page))
        )
    )
    const consistent = outcome.consistency === "consistent"
    // A drifted pass may have missed records that shifted between live pages: deleting what it did not see
    // could delete live records. Its deletions wait for the next consistent full pass.
    const { deleted, rows } = yield* SyncStore.finishPass(resource, { recorded, reconcile: consistent })
    // The checkpoint of a consistent pass covers exactly what was written. A drifted pass's checkpoint does not
    // (a record written before the pass began can shift out of the pages read and no delta from that checkpoint
    // would bring it), so the previous checkpoint is kept: every record it does not cover is still in the table,
    // and the next delta from it fetches everything written since. After a 9721 there is none to keep.
    const next = resource.delta === undefined
      ? undefined
      : consistent
      ? outcome.checkpoint
      : reason === "checkpoint-unusable"
      ? undefined
      : previous?.checkpoint
    yield* writeState(resource, next, outcome.consistency, rows, {
      reconciled: consistent,
      previousFullSyncAt: previous?.lastFullSyncAt
    })
    return {
      resource: resource.name,
      location,
      mode: "full",
      reason,
      ...fromOutcome(outcome),
      deleted,
      rows,
      checkpoint: next === undefined ? "none" : consistent ? "advanced" : "kept"
    } satisfies Omit<Summary, "millis">
  }).pipe(withTransaction)

const incremental = <R, E>(
  resource: Resource.Any,
  previous: SyncStore.State,
  checkpoint: string,
  options: Options<R, E>,
  progress: Progress,
  location: string
) =>
  Effect.gen(function*() {
    let retired: Array<SyncStore.JsonRecord> = []
    let notRetired = new Set<string>()
    // Rows added to the table by every pass (they stay when a pass drifts and another follows).
    let inserted = 0
    const outcome = yield* streamPasses(
      traverse(resource, options, checkpoint),
      options,
      Effect.sync(() => {
        retired = []
        notRetired = new Set()
      }),
      (page) =>
      Effect.gen(function*() {
        yield* checkPage(location, resource, page)
        if (resource.name === "users") {
          for (const record of page.records) {
            if (record["status"] === "Retired") retired.push(record)
            else notRetired.add(String(record["clientUserId"]))
          }
        }
        inserted += (yield* SyncStore.upsert(resource, page.records, { countInserted: true })) ?? 0
        yield* progress.page(page)
      })
    )
    // A v2 user entry that retires changes its natural key (User.key): the entry it was is deleted,
    // unless the delta also holds a non-retired entry of that clientUserId (then that one replaced it).
    let deleted = 0
    for (const record of retired) {
      if (!notRetired.has(String(record["clientUserId"]))) deleted += yield* SyncStore.removeRetiredUser(resource, record)
    }
    const consistent = outcome.consistency === "consistent"
    // Only a consistent delta's checkpoint is stored. Under live pages a record written before the delta began
    // can shift between the delta's pages and be missed, and a delta from the new checkpoint would never bring
    // it; keeping the old checkpoint fetches this delta again next time, which is idempotent.
    const next = consistent && outcome.checkpoint !== undefined ? outcome.checkpoint : checkpoint
    // The rows are counted from the previous run's count and this one's changes, not by counting the table.
    const rows = previous.records + inserted - deleted
    yield* writeState(resource, next, outcome.consistency, rows, {
      reconciled: false,
      previousFullSyncAt: previous.lastFullSyncAt
    })
    return {
      resource: resource.name,
      location,
      mode: "incremental",
      reason: undefined,
      ...fromOutcome(outcome),
      deleted,
      rows,
      checkpoint: consistent && outcome.checkpoint !== undefined ? "advanced" : "kept"
    } satisfies Omit<Summary, "millis">
  }).pipe(withTransaction)

/**
 * Stores a resource's `sync_state` row after a pass (inside its transaction), with the rows in its table.
 * `last_full_sync_at` moves only when the pass was a full one that reconciled deletions.
 */
const writeState = (
  resource: Resource.Any,
  checkpoint: string | undefined,
  consistency: "consistent" | "drifted",
  rows: number,
  fullSync: { readonly reconciled: boolean; readonly previousFullSyncAt: string | undefined }
) =>
  Effect.gen(function*() {
    const now = yield* isoNow
    yield* SyncStore.writeState({
      resource: resource.name,
      checkpointField: resource.delta?.checkpoint,
      checkpoint,
      consistency,
      records: rows,
      lastFullSyncAt: fullSync.reconciled ? now : fullSync.previousFullSyncAt,
      lastSyncAt: now
    })
  })

const withTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SyncStore.SyncStore, (store) => store.transaction(effect))
