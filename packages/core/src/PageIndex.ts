/**
 * Page-index paginators for Get Assets, Get Assignments and Get Users.
 *
 * A traversal requests page 0 first (without `pageIndex`, as Apple asks), then either follows
 * `nextPageIndex` one page at a time (`mode: "sequential"`) or requests pages 1..totalPages-1 at once
 * (`mode: "parallel"`, the default) with at most `concurrency` (≤ 5) in flight through the client's shared
 * gate. `totalPages` may grow or shrink while the traversal runs: newly reported pages are scheduled, and a
 * page that no longer exists (9650 after a shrink) is skipped, not fatal. The end is Apple's: the last page has
 * no `nextPageIndex`. A page's `nextPageIndex` schedules that page even beyond `totalPages` (a count that lags
 * behind), and a page without one before the last page fetched means the data shrank meanwhile (drifted). A
 * short or empty page is not an end by itself. A safety bound on pages fails loudly
 * ({@link VppError.ProtocolError}) instead of truncating.
 *
 * Every page's `versionId` is compared with page 0's. The {@link Traversal.Outcome} says whether the pass was
 * `consistent` (all equal: no write happened while reading, so every record was delivered exactly once) or
 * `drifted` (records may be missing or repeated). Its checkpoint is page 0's `versionId`, which Apple says to
 * use for the next `sinceVersionId` request — it catches up on whatever changed during a drifted pass, but not
 * on an unchanged record that moved to a page already read: only a new pass (`retraverse`) delivers those.
 *
 * Drift policies:
 * - `"report"` (default): one pass, records streamed as they arrive; the outcome reports drift.
 * - `{ retraverse: n }`: each pass is held in memory and delivered only once a pass is consistent, up to `n`
 *   passes; if none is, the last pass is delivered and reported as drifted. Guarantees, when the outcome is
 *   `consistent`, exactly the records of the data set at the checkpoint, each once — at the cost of memory for
 *   one pass and of repeated requests.
 *
 * Under either policy, the `records` and `pages` streams of a pass that ends drifted fail with
 * {@link VppError.DriftedError} after its last record (`Traversal.allowDrift` ends them normally instead).
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import { Asset, type AssetFilters, resource as AssetResource } from "./Asset.js"
import { Assignment, type AssignmentFilters, resource as AssignmentResource } from "./Assignment.js"
import * as Envelope from "./internal/envelope.js"
import * as PageEnvelope from "./Page.js"
import type * as Resource from "./Resource.js"
import { parseAppleDate } from "./SToken.js"
import * as Traversal from "./Traversal.js"
import { User, type UserFilters, resource as UserResource } from "./User.js"
import * as VppClient from "./VppClient.js"
import * as VppError from "./VppError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `parallel` (default) requests pages 1.. at once; `sequential` follows `nextPageIndex`. */
  readonly mode?: "parallel" | "sequential"
  /** Pages in flight at once in parallel mode, 1 to 5 (default: the client's gate, 5). */
  readonly concurrency?: number
  /** Deliver pages in page order (default) or as they arrive. */
  readonly order?: "page" | "arrival"
  /** What to do when the data changes during a pass (default `"report"`). */
  readonly drift?: "report" | { readonly retraverse: number }
  /** Fail with a ProtocolError beyond this many pages in one pass (default 100 000). */
  readonly maxPages?: number
}

/**
 * A page-index endpoint: its path, the name of its records array, and the record schema; `also`, a second
 * records array of its pages whose records are delivered too, after the page's others (Get Assets'
 * `unlimitedAssets`). A {@link Resource.Resource} of the `page-index` family is one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoint<A, I> {
  readonly path: string
  readonly field: string
  readonly record: Schema.Schema<A, I>
  readonly also?: Resource.AlsoRecords<A> | undefined
}

/**
 * A second records array of a page: its name, its record schema, and how its records become the endpoint's.
 *
 * @since 0.1.0
 * @category models
 */
export type AlsoRecords<A, B = any> = Resource.AlsoRecords<A, B>

/**
 * @since 0.1.0
 * @category endpoints
 */
export const AssetsEndpoint: Endpoint<Asset, Schema.Schema.Encoded<typeof Asset>> = AssetResource

/**
 * @since 0.1.0
 * @category endpoints
 */
export const AssignmentsEndpoint: Endpoint<Assignment, Schema.Schema.Encoded<typeof Assignment>> = AssignmentResource

/**
 * @since 0.1.0
 * @category endpoints
 */
export const UsersEndpoint: Endpoint<User, Schema.Schema.Encoded<typeof User>> = UserResource

/** A pass's tally as it goes; `tokenExpiresAt` from the last page delivered that carried a readable one. */
type PassState = { -readonly [K in keyof Traversal.Tally]-?: Traversal.Tally[K] }

const newPassState = (): PassState => ({ pages: 0, records: 0, retries: 0, drifted: false, tokenExpiresAt: undefined })

/**
 * A traversal of any page-index endpoint with the given query parameters.
 *
 * @since 0.1.0
 * @category constructors
 */
export const traverse = <A, I>(
  endpoint: Endpoint<A, I>,
  params: VppClient.UrlParams,
  options: Options = {}
): Traversal.Traversal<A> => {
  const schema = PageEnvelope.envelope(endpoint.field, endpoint.record, endpoint.also)
  const also = endpoint.also
  const fromBody = (body: PageEnvelope.Body): PageEnvelope.Page<A> => {
    const page = PageEnvelope.fromEnvelope<A>(endpoint.field, body)
    if (also === undefined) return page
    const more = Envelope.records<unknown>(body, also.field)
    return more.length === 0 ? page : { ...page, records: [...page.records, ...more.map(also.toRecord)] }
  }
  const maxPages = options.maxPages ?? 100_000
  const drift = options.drift ?? "report"

  const pass = <E2, R2>(
    onPage: (page: Traversal.Page<A>) => Effect.Effect<void, E2, R2>,
    state: PassState
  ): Effect.Effect<string, VppError.VppError | E2, VppClient.VppClient | R2> =>
    Effect.gen(function*() {
      const client = yield* VppClient.VppClient
      const fetch = (pageIndex: number) =>
        client.execute(
          { _tag: "Get", path: endpoint.path, params: { ...params, pageIndex: pageIndex === 0 ? undefined : pageIndex } },
          schema
        ).pipe(
          Effect.map((response) => {
            state.retries += response.attempts - 1
            return fromBody(response.value)
          }),
          Effect.catchIf(
            (error): error is VppError.BadRequestError =>
              pageIndex > 0 && error._tag === "BadRequestError" && error.errorNumber === 9650,
            () =>
              Effect.sync(() => {
                // The page vanished because totalPages shrank: the data changed under the traversal.
                state.drifted = true
                return undefined
              })
          )
        )

      const first = yield* fetch(0)
      const deliver = (page: PageEnvelope.Page<A>) => {
        state.pages++
        state.records += page.records.length
        if (page.tokenExpirationDate !== undefined) {
          state.tokenExpiresAt = parseAppleDate(page.tokenExpirationDate) ?? state.tokenExpiresAt
        }
        if (page.versionId !== first!.versionId || page.totalPages !== first!.totalPages) state.drifted = true
        return onPage({
          records: page.records,
          index: page.currentPageIndex,
          total: page.totalPages,
          versionId: page.versionId,
          uId: page.uId
        })
      }
      const tooMany = new VppError.ProtocolError({
        endpoint: endpoint.path,
        reason: `more than ${maxPages} pages in one traversal (the safety bound; raise maxPages if this is real)`
      })
      yield* deliver(first!)
      if (first!.nextPageIndex === undefined) return first!.versionId

      if (options.mode === "sequential") {
        let current = first!
        while (current.nextPageIndex !== undefined) {
          if (current.nextPageIndex <= current.currentPageIndex) {
            return yield* new VppError.ProtocolError({
              endpoint: endpoint.path,
              reason: `page ${current.currentPageIndex} points back to page ${current.nextPageIndex}`
            })
          }
          if (current.nextPageIndex >= maxPages) return yield* tooMany
          const next = yield* fetch(current.nextPageIndex)
          if (next === undefined) break
          yield* deliver(next)
          current = next
        }
        return first!.versionId
      }

      // Parallel: `concurrency` workers take page indexes in order, up to the largest totalPages, or
      // nextPageIndex + 1, any page has reported: so the walk ends only once the last page fetched has no
      // nextPageIndex. Fetched pages wait in `fetched` until they are due (page order, or at once in arrival order);
      // one worker at a time delivers the due ones while the others go on fetching. A window of permits bounds
      // what waits: a worker takes one before it takes an index, and each delivered page gives one back. A worker
      // with no index left waits while pages are in flight: one of them may report more pages.
      const concurrency = VppClient.clampConcurrency(options.concurrency, client.concurrency)
      const window = yield* Effect.makeSemaphore(concurrency * 2)
      const fetched = new Map<number, PageEnvelope.Page<A> | undefined>()
      /** How many pages a page says there are: its totalPages, or more when its nextPageIndex points beyond. */
      const pagesReported = (page: PageEnvelope.Page<A>) =>
        Math.max(page.totalPages, page.nextPageIndex === undefined ? 0 : page.nextPageIndex + 1)
      let scheduled = pagesReported(first!)
      if (scheduled > maxPages) return yield* tooMany
      /** The lowest page index fetched without a nextPageIndex: an end, before the last page only after a shrink. */
      let earliestEnd = Infinity
      let nextIndex = 1
      let due = 1
      let inFlight = 0
      let delivering = false
      let pageDone = yield* Deferred.make<void>()

      /** The next fetched page that is due, or `false`. A page that vanished (9650) is due as `undefined`. */
      const takeDue = (): PageEnvelope.Page<A> | undefined | false => {
        const index = options.order === "arrival" ? fetched.keys().next().value : due
        if (index === undefined || !fetched.has(index)) return false
        const page = fetched.get(index)
        fetched.delete(index)
        if (index === due) due++
        return page
      }
      // Checking for a due page and giving up the delivery happen in one synchronous step, so a page fetched
      // meanwhile is either seen by the worker delivering or delivered by the worker that fetched it.
      const deliverDue: Effect.Effect<void, E2, R2> = Effect.suspend(() => {
        const page = takeDue()
        if (page === false) {
          delivering = false
          return Effect.void
        }
        return (page === undefined ? Effect.void : deliver(page)).pipe(
          Effect.zipRight(window.release(1)),
          Effect.zipRight(deliverDue)
        )
      })
      const deliverIfIdle = Effect.suspend(() => {
        if (delivering) return Effect.void
        delivering = true
        return deliverDue
      })

      const fetchNext = (index: number) =>
        Effect.gen(function*() {
          const page = yield* fetch(index)
          inFlight--
          if (page !== undefined && pagesReported(page) > scheduled) {
            if (pagesReported(page) > maxPages) return yield* tooMany
            scheduled = pagesReported(page)
          }
          if (page !== undefined && page.nextPageIndex === undefined) earliestEnd = Math.min(earliestEnd, index)
          fetched.set(index, page)
          // Wakes the workers waiting for pages in flight.
          const done = pageDone
          pageDone = yield* Deferred.make<void>()
          yield* Deferred.succeed(done, undefined)
          yield* deliverIfIdle
        })

      const worker: Effect.Effect<void, VppError.VppError | E2, VppClient.VppClient | R2> = Effect.suspend(() => {
        if (nextIndex < scheduled) {
          return window.take(1).pipe(
            Effect.zipRight(Effect.suspend(() => {
              if (nextIndex >= scheduled) return window.release(1)
              inFlight++
              return fetchNext(nextIndex++)
            })),
            Effect.zipRight(worker)
          )
        }
        return inFlight === 0 ? Effect.void : Effect.zipRight(Deferred.await(pageDone), worker)
      })
      yield* Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
      // A page that said it was the last while later pages existed: the data changed during the pass.
      if (earliestEnd < scheduled - 1) state.drifted = true
      return first!.versionId
    })

  const runWith = <E2, R2>(onPage: (page: Traversal.Page<A>) => Effect.Effect<void, E2, R2>) =>
    Effect.gen(function*() {
      if (drift === "report") {
        const state = newPassState()
        return Traversal.outcome(yield* pass(onPage, state), state)
      }
      // Each pass is held until it is known to be consistent (or the last): only that one is delivered.
      let held: Array<Traversal.Page<A>> = []
      const outcome = yield* Traversal.untilConsistent(() =>
        Effect.suspend(() => {
          const state = newPassState()
          held = []
          return Effect.map(
            pass((page) => Effect.sync(() => void held.push(page)), state),
            (checkpoint) => Traversal.outcome(checkpoint, state)
          )
        }), {
        maxPasses: drift.retraverse,
        onDrift: (_, passes) => Effect.logDebug(`${endpoint.path}: pass ${passes} drifted, traversing again`)
      })
      for (const page of held) yield* onPage(page)
      return outcome
    }).pipe(Effect.withSpan("PageIndex.traverse", { attributes: { endpoint: endpoint.path } }))

  return Traversal.make(runWith)
}

/**
 * Get Assets. There is no incremental option: Apple does not support `sinceVersionId` for assets, so
 * compare the outcome's checkpoint with the stored one and refetch.
 *
 * With the filter `unlimited: true`, Apple sends unlimited free assets in a separate `unlimitedAssets` array:
 * their records are delivered with the page's others, marked `unlimited: true` (see {@link Asset}).
 *
 * @since 0.1.0
 * @category paginators
 */
export const assets = (
  options: Options & { readonly filters?: AssetFilters } = {}
): Traversal.Traversal<Asset> => traverse(AssetsEndpoint, { ...options.filters }, options)

/**
 * Get Assignments; with `sinceVersionId`, only the assignments modified since that checkpoint (zero records is
 * normal). A checkpoint the server no longer accepts fails with {@link VppError.CheckpointUnusableError}.
 *
 * @since 0.1.0
 * @category paginators
 */
export const assignments = (
  options: Options & { readonly filters?: AssignmentFilters; readonly sinceVersionId?: string } = {}
): Traversal.Traversal<Assignment> =>
  traverse(AssignmentsEndpoint, { ...options.filters, sinceVersionId: options.sinceVersionId }, options)

/**
 * Get Users; with `sinceVersionId`, only the users modified since that checkpoint.
 *
 * @since 0.1.0
 * @category paginators
 */
export const users = (
  options: Options & { readonly filters?: UserFilters; readonly sinceVersionId?: string } = {}
): Traversal.Traversal<User> =>
  traverse(UsersEndpoint, { ...options.filters, sinceVersionId: options.sinceVersionId }, options)
