/**
 * Syncs resources into the {@link Store}: one after another, each in ONE transaction that holds all its record
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
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as Traversal from "@vppkit/core/Traversal"
import * as VppClient from "@vppkit/core/VppClient"
import type * as VppError from "@vppkit/core/VppError"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Progress from "./internal/progress.js"
import * as Resources from "./Resources.js"
import * as Store from "./Store.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The resources to sync, in this order (default: every resource). */
  readonly resources?: ReadonlyArray<Resources.Resource>
  /** A full run for every resource, even where a checkpoint allows an incremental one. */
  readonly full?: boolean
  /** Requests in flight at once, 1..5 (default 5). */
  readonly concurrency?: number
  /** Passes of a page-index traversal until one is consistent (default 3). */
  readonly retraverse?: number
  /** No progress, notices or summaries on stderr (default false). */
  readonly quiet?: boolean
  /** Draw progress bars (default: whether stderr is a terminal). */
  readonly interactive?: boolean
  /** Called with each resource's summary once its transaction committed. */
  readonly onSummary?: (summary: Summary) => Effect.Effect<void>
}

/**
 * What a committed run of one resource did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly resource: Resources.Name
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
export const filtersOf = (resource: Resources.Resource): Readonly<Record<string, unknown>> => resource.syncFilters

/**
 * The database holds the records of another organisation (or of another server, or library) than the one the
 * sToken is of. Nothing of the refused organisation was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class OrganisationMismatchError extends Data.TaggedError("OrganisationMismatchError")<{
  /** The organisation the database holds. */
  readonly recorded: Store.Organisation
  /** The organisation of the sToken (and of the base URL); its `uId` when a response brought one. */
  readonly presented: Store.Organisation
}> {
  override get message(): string {
    return `the database holds the records of ${show(this.recorded)}, the sToken is of ${
      show(this.presented)
    }: refused, to keep two organisations apart; sync "${this.presented.orgName}" into another database (another --db)`
  }
}

const show = (organisation: Store.Organisation) =>
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
  Store.Organisation | undefined,
  OrganisationMismatchError | SqlError.SqlError,
  VppClient.VppClient | SqlClient.SqlClient
> = Effect.gen(function*() {
  const client = yield* VppClient.VppClient
  yield* Store.ensureSchema([])
  const recorded = Option.getOrUndefined(yield* Store.readOrganisation)
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
  readonly organisation: () => Store.Organisation
  /** Fails on a page of another library than the database's, before it is written. */
  readonly check: (page: Traversal.Page<unknown>) => Effect.Effect<void, OrganisationMismatchError>
}

const makeGuard = (recorded: Store.Organisation | undefined, client: VppClient.Service): Guard => {
  let uId = recorded?.uId
  const organisation = (): Store.Organisation => ({ orgName: client.token.orgName, baseUrl: client.baseUrl, uId })
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
 * before it stay committed (their summaries were printed) and the failing one is rolled back. A database of
 * another organisation is refused ({@link checkOrganisation}, then each page's `uId`).
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  options: Options = {}
): Effect.Effect<
  ReadonlyArray<Summary>,
  VppError.VppError | SqlError.SqlError | OrganisationMismatchError,
  VppClient.VppClient | SqlClient.SqlClient
> =>
  Effect.gen(function*() {
    const resources = options.resources ?? Resources.all
    const notice = (line: string) => options.quiet === true ? Effect.void : Console.error(line)
    const guard = makeGuard(yield* checkOrganisation, yield* VppClient.VppClient)
    yield* Store.ensureSchema(resources)
    const summaries: Array<Summary> = []
    for (const resource of resources) {
      const summary = yield* syncResource(resource, options, guard).pipe(
        Effect.tapError((error) =>
          error._tag === "OrganisationMismatchError" ? Effect.void : notice(`${resource.name}: not synced (its previous sync is kept)`)
        ),
        Effect.onInterrupt(() => notice(`${resource.name}: interrupted, rolled back (its previous sync is kept)`))
      )
      summaries.push(summary)
      if (options.onSummary !== undefined) yield* options.onSummary(summary)
    }
    return summaries
  }).pipe(Effect.withSpan("Sync.run"))

const syncResource = (resource: Resources.Resource, options: Options, guard: Guard) =>
  Effect.gen(function*() {
    const quiet = options.quiet === true
    const started = yield* Clock.currentTimeMillis
    const previous = Option.getOrUndefined(yield* Store.readState(resource.name))
    const progress = yield* Progress.make({
      label: resource.name,
      quiet,
      ...(options.interactive !== undefined ? { interactive: options.interactive } : {})
    })
    const checkpoint = resource.checkpointField !== undefined && previous?.checkpointField === resource.checkpointField
      ? previous.checkpoint
      : undefined
    let result: Omit<Summary, "millis">
    if (checkpoint !== undefined && options.full !== true) {
      const delta = yield* incremental(resource, previous!, checkpoint, options, progress, guard).pipe(
        Effect.map(Option.some),
        Effect.catchTag("CheckpointUnusableError", (error) =>
          Effect.as(
            quiet ? Effect.void : Console.error(`${resource.name}: the server no longer accepts the checkpoint (${
              error.errorNumber ?? `HTTP ${error.status}`
            }): syncing in full`),
            Option.none()
          ))
      )
      result = Option.isSome(delta)
        ? delta.value
        : yield* full(resource, previous, options, progress, guard, "checkpoint-unusable")
    } else {
      const reason = resource.checkpointField === undefined
        ? "no-incremental"
        : options.full === true && checkpoint !== undefined
        ? "forced"
        : "first"
      result = yield* full(resource, previous, options, progress, guard, reason)
    }
    const summary: Summary = { ...result, millis: (yield* Clock.currentTimeMillis) - started }
    yield* progress.finish(describe(summary))
    return summary
  }).pipe(Effect.scoped, Effect.withSpan("Sync.resource", { attributes: { resource: resource.name } }))

const traversalInput = (resource: Resources.Resource, options: Options, since?: string): Resources.TraversalInput => ({
  filters: filtersOf(resource),
  concurrency: VppClient.clampConcurrency(options.concurrency),
  ...(since !== undefined ? { since } : {})
})

/**
 * Streams passes of a traversal into `onPage` until one is consistent, at most `options.retraverse` (default
 * 3) passes (`Traversal.untilConsistent`). Each pass streams (the transaction holds what was written, not
 * memory), so a pass that drifted has still upserted current records; `onPass` runs before each pass. Answers
 * the last pass's outcome with the retries and passes of all of them.
 */
const streamPasses = (
  traversal: Traversal.Traversal<Resources.JsonRecord>,
  options: Options,
  onPass: Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient>,
  onPage: (
    page: Traversal.Page<Resources.JsonRecord>
  ) => Effect.Effect<void, SqlError.SqlError | OrganisationMismatchError, SqlClient.SqlClient>
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

const full = (
  resource: Resources.Resource,
  previous: Store.State | undefined,
  options: Options,
  progress: Progress.Progress,
  guard: Guard,
  reason: NonNullable<Summary["reason"]>
) =>
  Effect.gen(function*() {
    // Whether the pass records the natural keys it delivers (in SQL, not in memory): not when the table was
    // empty as it started, since then it holds nothing the pass did not deliver.
    let recorded = false
    const outcome = yield* streamPasses(
      resource.traverse(traversalInput(resource, options)),
      options,
      Effect.map(Store.startPass(resource), (record) => void (recorded = record)),
      (page) =>
        guard.check(page).pipe(
          Effect.zipRight(Store.upsert(resource, page.records, { seen: recorded })),
          Effect.zipRight(progress.page(page))
        )
    )
    const consistent = outcome.consistency === "consistent"
    // A drifted pass may have missed records that shifted between live pages: deleting what it did not see
    // could delete live records. Its deletions wait for the next consistent full pass.
    const { deleted, rows } = yield* Store.finishPass(resource, { recorded, reconcile: consistent })
    // The checkpoint of a consistent pass covers exactly what was written. A drifted pass's checkpoint does not
    // (a record written before the pass began can shift out of the pages read and no delta from that checkpoint
    // would bring it), so the previous checkpoint is kept: every record it does not cover is still in the table,
    // and the next delta from it fetches everything written since. After a 9721 there is none to keep.
    const next = resource.checkpointField === undefined
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

const incremental = (
  resource: Resources.Resource,
  previous: Store.State,
  checkpoint: string,
  options: Options,
  progress: Progress.Progress,
  guard: Guard
) =>
  Effect.gen(function*() {
    let retired: Array<Resources.JsonRecord> = []
    let notRetired = new Set<string>()
    // Rows added to the table by every pass (they stay when a pass drifts and another follows).
    let inserted = 0
    const outcome = yield* streamPasses(
      resource.traverse(traversalInput(resource, options, checkpoint)),
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
        inserted += (yield* Store.upsert(resource, page.records, { countInserted: true })) ?? 0
        yield* progress.page(page)
      })
    )
    // A v2 user entry that retires changes its natural key (Resources.userKey): the entry it was is deleted,
    // unless the delta also holds a non-retired entry of that clientUserId (then that one replaced it).
    let deleted = 0
    for (const record of retired) {
      if (!notRetired.has(String(record["clientUserId"]))) deleted += yield* Store.removeRetiredUser(resource, record)
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
  resource: Resources.Resource,
  checkpoint: string | undefined,
  consistency: "consistent" | "drifted",
  rows: number,
  organisation: Store.Organisation,
  fullSync: { readonly reconciled: boolean; readonly previousFullSyncAt: string | undefined }
) =>
  Effect.gen(function*() {
    const now = yield* isoNow
    yield* Store.writeState({
      resource: resource.name,
      checkpointField: resource.checkpointField,
      checkpoint,
      consistency,
      records: rows,
      lastFullSyncAt: fullSync.reconciled ? now : fullSync.previousFullSyncAt,
      lastSyncAt: now,
      organisation
    })
  })

const withTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(effect))

const plural = (n: number, one: string, many = `${one}s`) => `${Progress.count(n)} ${n === 1 ? one : many}`

/**
 * The one-line summary of a run, e.g. `assignments: full, 12,345 records (3 deleted), 25 pages, 4 retries,
 * consistent, 2.1 s`. A full run of a resource with deltas none of whose passes was consistent stored no
 * checkpoint, so the next run is full again: its line says so.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (summary: Summary): string => {
  const mode = summary.reason === "checkpoint-unusable" ? "full (the checkpoint was refused)" : summary.mode
  const deleted = summary.deleted > 0 ? ` (${Progress.count(summary.deleted)} deleted)` : ""
  const consistency = summary.consistency === "consistent"
    ? "consistent"
    : summary.mode === "full" && summary.checkpoint === "none" && summary.reason !== "no-incremental"
    ? "drifted: no checkpoint stored: the data kept changing; the next run is full again"
    : summary.mode === "full"
    ? "drifted: deletions reconciled by the next consistent full sync"
    : "drifted: checkpoint kept, the next run fetches this delta again"
  const passes = summary.passes > 1 ? `, ${summary.passes} passes` : ""
  return `${summary.resource}: ${mode}, ${plural(summary.records, "record")}${deleted}, ${plural(summary.pages, "page")}, ${
    plural(summary.retries, "retry", "retries")
  }${passes}, ${consistency}, ${Progress.seconds(summary.millis)}`
}
