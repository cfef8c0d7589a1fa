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
 * A database holds one organisation's records: `sync_state` records the token's `orgName`, the base URL and
 * Apple's `uId` of the library (v2 responses carry it). A token of another organisation, or another server, is
 * refused before its first request; a response of another library (`uId`) before anything of it is written.
 *
 * Nothing is printed here: a caller follows a run through its hooks ({@link Options}): a progress per resource,
 * notices, and each resource's summary.
 *
 * @since 0.1.0
 */
import type * as SqlError from "@effect/sql/SqlError"
import type * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import * as Traversal from "@vppkit/core/Traversal"
import * as VppClient from "@vppkit/core/VppClient"
import type * as VppError from "@vppkit/core/VppError"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
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
export interface Options<R = never> {
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
}

/**
 * What a committed run of one resource did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly resource: string
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
 * The database holds the records of another organisation (or of another server, or library) than the one the
 * sToken is of. Nothing of the refused organisation was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class OrganisationMismatchError extends Data.TaggedError("OrganisationMismatchError")<{
  /** The organisation the database holds. */
  readonly recorded: SyncStore.Organisation
  /** The organisation of the sToken (and of the base URL); its `uId` when a response brought one. */
  readonly presented: SyncStore.Organisation
}> {
  override get message(): string {
    return `the database holds the records of ${show(this.recorded)}, the sToken is of ${
      show(this.presented)
    }: refused, to keep two organisations apart; sync "${this.presented.orgName}" into another database (another --db)`
  }
}

const show = (organisation: SyncStore.Organisation) =>
  `"${organisation.orgName}" (${organisation.uId !== undefined ? `uId ${organisation.uId}, ` : ""}${organisation.baseUrl})`

/**
 * Refuses, without a request, a database that holds the records of another organisation than the sToken's, or
 * that were synced from another base URL. Answers the organisation the database records (`undefined` for a new
 * database, or one written before vppkit recorded it: its first run records it).
 *
 * @since 0.1.0
 * @category running
 */
export const checkOrganisation: Effect.Effect<
  SyncStore.Organisation | undefined,
  OrganisationMismatchError | SqlError.SqlError,
  VppClient.VppClient | SyncStore.SyncStore
> = Effect.gen(function*() {
  const client = yield* VppClient.VppClient
  const recorded = Option.getOrUndefined(yield* SyncStore.readOrganisation)
  if (recorded !== undefined && (recorded.orgName !== client.token.orgName || recorded.baseUrl !== client.baseUrl)) {
    return yield* new OrganisationMismatchError({
      recorded,
      presented: { orgName: client.token.orgName, baseUrl: client.baseUrl, uId: undefined }
    })
  }
  return recorded
}).pipe(Effect.withSpan("Sync.checkOrganisation"))

/**
 * The organisation a run syncs: the token's `orgName` and the base URL, with the library's `uId` as recorded or,
 * for a database that has none yet, as the first response that carries one says.
 */
interface Guard {
  readonly organisation: () => SyncStore.Organisation
  /** Fails on a page of another library than the database's, before it is written. */
  readonly check: (page: Traversal.Page<unknown>) => Effect.Effect<void, OrganisationMismatchError>
}

const makeGuard = (recorded: SyncStore.Organisation | undefined, client: VppClient.Service): Guard => {
  let uId = recorded?.uId
  const organisation = (): SyncStore.Organisation => ({ orgName: client.token.orgName, baseUrl: client.baseUrl, uId })
  return {
    organisation,
    check: (page) =>
      Effect.suspend(() => {
        if (page.uId === undefined || page.uId === uId) return Effect.void
        if (uId === undefined) {
          uId = page.uId
          return Effect.void
        }
        return Effect.fail(
          new OrganisationMismatchError({ recorded: recorded ?? organisation(), presented: { ...organisation(), uId: page.uId } })
        )
      })
  }
}

const isoNow = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis).toISOString())

/**
 * Syncs the resources one after another and answers one summary per resource. On a failure the resources
 * before it stay committed (their summaries went to `onSummary`) and the failing one is rolled back. A database of
 * another organisation is refused ({@link checkOrganisation}, then each page's `uId`).
 *
 * @since 0.1.0
 * @category running
 */
export const run = <R = never>(
  options: Options<R> = {}
): Effect.Effect<
  ReadonlyArray<Summary>,
  VppError.VppError | SqlError.SqlError | OrganisationMismatchError,
  VppClient.VppClient | SyncStore.SyncStore | R
> =>
  Effect.gen(function*() {
    const resources = options.resources ?? Resources.all
    const notice = (notice: Notice) => options.onNotice === undefined ? Effect.void : options.onNotice(notice)
    const guard = makeGuard(yield* checkOrganisation, yield* VppClient.VppClient)
    yield* SyncStore.ensureResources(resources)
    const summaries: Array<Summary> = []
    for (const resource of resources) {
      const summary = yield* syncResource(resource, options, guard).pipe(
        Effect.tapError((error) =>
          error._tag === "OrganisationMismatchError" ? Effect.void : notice({ _tag: "NotSynced", resource: resource.name })
        ),
        Effect.onInterrupt(() => notice({ _tag: "Interrupted", resource: resource.name }))
      )
      summaries.push(summary)
      if (options.onSummary !== undefined) yield* options.onSummary(summary)
    }
    return summaries
  }).pipe(Effect.withSpan("Sync.run"))

/** What follows a resource's run when the caller follows none. */
const silent: Progress = { page: () => Effect.void, finish: () => Effect.void }

const syncResource = <R>(resource: Resource.Any, options: Options<R>, guard: Guard) =>
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
      const delta = yield* incremental(resource, previous!, checkpoint, options, progress, guard).pipe(
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
        : yield* full(resource, previous, options, progress, guard, "checkpoint-unusable")
    } else {
      const reason = checkpointField === undefined
        ? "no-incremental"
        : options.full === true && checkpoint !== undefined
        ? "forced"
        : "first"
      result = yield* full(resource, previous, options, progress, guard, reason)
    }
    const summary: Summary = { ...result, millis: (yield* Clock.currentTimeMillis) - started }
    yield* progress.finish(summary)
    return summary
  }).pipe(Effect.scoped, Effect.withSpan("Sync.resource", { attributes: { resource: resource.name } }))

/** A traversal of the resource's records as Apple's JSON has them, with the filters a sync asks for. */
const traverse = <R>(resource: Resource.Any, options: Options<R>, since?: string) => {
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
const streamPasses = <R>(
  traversal: Traversal.Traversal<SyncStore.JsonRecord>,
  options: Options<R>,
  onPass: Effect.Effect<void, SqlError.SqlError, SyncStore.SyncStore>,
  onPage: (
    page: Traversal.Page<SyncStore.JsonRecord>
  ) => Effect.Effect<void, SqlError.SqlError | OrganisationMismatchError, SyncStore.SyncStore>
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

const full = <R>(
  resource: Resource.Any,
  previous: SyncStore.State | undefined,
  options: Options<R>,
  progress: Progress,
  guard: Guard,
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
        guard.check(page).pipe(
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
    yield* writeState(resource, next, outcome.consistency, rows, guard.organisation(), {
      reconciled: consistent,
      previousFullSyncAt: previous?.lastFullSyncAt
    })
    return {
      resource: resource.name,
      mode: "full",
      reason,
      ...fromOutcome(outcome),
      deleted,
      rows,
      checkpoint: next === undefined ? "none" : consistent ? "advanced" : "kept"
    } satisfies Omit<Summary, "millis">
  }).pipe(withTransaction)

const incremental = <R>(
  resource: Resource.Any,
  previous: SyncStore.State,
  checkpoint: string,
  options: Options<R>,
  progress: Progress,
  guard: Guard
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
        yield* guard.check(page)
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
    yield* writeState(resource, next, outcome.consistency, rows, guard.organisation(), {
      reconciled: false,
      previousFullSyncAt: previous.lastFullSyncAt
    })
    return {
      resource: resource.name,
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
  organisation: SyncStore.Organisation,
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
      lastSyncAt: now,
      organisation
    })
  })

const withTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SyncStore.SyncStore, (store) => store.transaction(effect))
