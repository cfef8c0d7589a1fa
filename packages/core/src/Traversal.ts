/**
 * What every paginator offers: its pages (with metadata), its records, and — once a run has finished —
 * its {@link Outcome}: the checkpoint for the next incremental run, whether the pass was consistent, and
 * counts.
 *
 * ```ts
 * const traversal = PageIndex.assignments({ concurrency: 5 })
 * // the common case: records as a Stream
 * yield* traversal.records.pipe(Stream.runForEach(save))
 * // a drifted pass (the data changed while it was read) fails the stream after its last record with a
 * // VppError.DriftedError carrying the outcome; Traversal.allowDrift(traversal).records ends normally instead
 * // records and the outcome: run with a page handler
 * const outcome = yield* traversal.run((page) => saveAll(page.records))
 * if (outcome.consistency === "consistent") yield* storeCheckpoint(outcome.checkpoint)
 * // Apple announces an sToken that expires within 15 days
 * if (outcome.tokenExpiresAt !== undefined) yield* warnIfSoon(outcome.tokenExpiresAt)
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type * as VppClient from "./VppClient.js"
import * as VppError from "./VppError.js"

/**
 * How a finished run went.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome {
  /**
   * What to pass as the "since" value of the next incremental run: page 0's `versionId` (page-index),
   * the last `versionId` of a complete fetch (cursor), or the `sinceModifiedToken` (legacy). `undefined`
   * when the server gave none.
   */
  readonly checkpoint: string | undefined
  /**
   * `consistent`: every page reported the same `versionId` (no write happened during the pass);
   * `drifted`: the data changed while it was read, so records may be missing or repeated. A later incremental
   * run from `checkpoint` brings the records written since; a record that was not written but moved to a page
   * already read (after inserts or deletions before it, or an update inside a delta) comes only with a new
   * pass — PageIndex's `retraverse` drift policy makes one.
   */
  readonly consistency: "consistent" | "drifted"
  /** Pages (or batches, or cursor responses) received in the pass that was delivered. */
  readonly pages: number
  /** Records delivered. */
  readonly records: number
  /** Requests that were retried, over all passes. */
  readonly retries: number
  /** Full passes made (more than 1 only under a re-traverse drift policy or a legacy restart). */
  readonly passes: number
  /**
   * The sToken's expiry as the last response of the pass that carried `tokenExpirationDate` reported it
   * (page-index and cursor responses). Apple documents the field for a token that expires within 15 days, so
   * its presence is a warning in itself; some servers send it always, so compare it with the current time.
   * Absent when no response carried a readable date, and for legacy walks (v1 responses have no such field).
   */
  readonly tokenExpiresAt?: Date
}

/**
 * What a pass counted: the pages (or batches, or cursor responses) and records it delivered, the requests it
 * retried, whether it drifted, and the sToken's expiry as its responses reported it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tally {
  readonly pages: number
  readonly records: number
  readonly retries: number
  readonly drifted: boolean
  readonly tokenExpiresAt?: Date | undefined
}

/**
 * The {@link Outcome} of a pass: its checkpoint, its {@link Tally}, and the passes made (default 1).
 *
 * @since 0.1.0
 * @category constructors
 */
export const outcome = (checkpoint: string | undefined, tally: Tally, passes: number = 1): Outcome => ({
  checkpoint,
  consistency: tally.drifted ? "drifted" : "consistent",
  pages: tally.pages,
  records: tally.records,
  retries: tally.retries,
  passes,
  ...(tally.tokenExpiresAt === undefined ? {} : { tokenExpiresAt: tally.tokenExpiresAt })
})

/**
 * Runs passes until one is consistent, at most `maxPasses` (at least one): `pass(n)` makes the n-th pass (from
 * 1) and answers its outcome, and `onDrift` runs after each drifted pass that another follows. Answers the last
 * pass's outcome, with the retries of every pass and the number of passes made; it is drifted only when every
 * pass was. What a drifted pass delivered is the caller's to keep apart (held in memory, written to a file or in
 * a transaction that a later pass overwrites).
 *
 * ```ts
 * // re-read a listing until a pass is consistent, at most 3 passes
 * const outcome = yield* Traversal.untilConsistent(() => PageIndex.users().run(save), { maxPasses: 3 })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const untilConsistent = <E, R, E2 = never, R2 = never>(
  pass: (pass: number) => Effect.Effect<Outcome, E, R>,
  options: {
    readonly maxPasses: number
    readonly onDrift?: ((outcome: Outcome, pass: number) => Effect.Effect<void, E2, R2>) | undefined
  }
): Effect.Effect<Outcome, E | E2, R | R2> => {
  const maxPasses = Math.max(1, options.maxPasses)
  const loop = (passes: number, retries: number): Effect.Effect<Outcome, E | E2, R | R2> =>
    Effect.flatMap(pass(passes), (outcome) => {
      const total = retries + outcome.retries
      if (outcome.consistency === "consistent" || passes >= maxPasses) {
        return Effect.succeed({ ...outcome, retries: total, passes })
      }
      const next = loop(passes + 1, total)
      return options.onDrift === undefined ? next : Effect.zipRight(options.onDrift(outcome, passes), next)
    })
  return Effect.suspend(() => loop(1, 0))
}

/**
 * One page (or batch, or cursor response) and where it sits in the traversal.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page<A> {
  readonly records: ReadonlyArray<A>
  /** The page index (page-index), or the position in the sequence (cursor, legacy), from 0. */
  readonly index: number
  /** The total pages (or batches) as the server last reported them, when it reports one. */
  readonly total: number | undefined
  /** The `versionId` this page was served at (page-index and cursor). */
  readonly versionId: string | undefined
  /** Apple's `uId` of the library that served the page (v2 responses carry it; legacy ones are not read for it). */
  readonly uId?: string | undefined
}

/**
 * A traversal: re-runnable, each run starting from the beginning.
 *
 * Drift is never silent. When a pass drifted (the data changed while it was read, so records may be missing or
 * repeated), `pages` and `records` deliver every page and record of that pass and then fail with a
 * {@link VppError.DriftedError} carrying the {@link Outcome}, instead of ending; a traversal made with
 * {@link allowDrift} ends them normally. `run` never fails on drift: it returns the outcome, whose `consistency`
 * says `drifted`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Traversal<A, E = VppError.VppError, R = VppClient.VppClient> {
  /** Every page in delivery order; fails with {@link VppError.DriftedError} after the last page of a drifted pass. */
  readonly pages: Stream.Stream<Page<A>, E | VppError.DriftedError, R>
  /** Every record in delivery order; fails with {@link VppError.DriftedError} after the last record of a drifted pass. */
  readonly records: Stream.Stream<A, E | VppError.DriftedError, R>
  /**
   * Runs to the end, handing each page to `onPage` (one at a time, in delivery order), and returns the outcome
   * (a drifted pass included: check `consistency`).
   */
  readonly run: <E2 = never, R2 = never>(
    onPage?: (page: Page<A>) => Effect.Effect<void, E2, R2>
  ) => Effect.Effect<Outcome, E | E2, R | R2>
}

/**
 * Builds a {@link Traversal} from one function that runs a pass, handing pages to a callback, and returns the
 * outcome. `pages` and `records` are derived from it; they fail with {@link VppError.DriftedError} after a
 * drifted pass.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, E, R>(
  runWith: <E2, R2>(onPage: (page: Page<A>) => Effect.Effect<void, E2, R2>) => Effect.Effect<Outcome, E | E2, R | R2>
): Traversal<A, E, R> => fromRun(runWith, "fail")

/**
 * The same traversal, except that its `pages` and `records` streams end normally after a drifted pass: the
 * caller accepts that records may be missing or repeated. `run` is unchanged.
 *
 * ```ts
 * // a best-effort listing: whatever one pass delivers, changed data or not
 * yield* Traversal.allowDrift(PageIndex.users()).records.pipe(Stream.runForEach(show))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const allowDrift = <A, E, R>(self: Traversal<A, E, R>): Traversal<A, E, R> => fromRun(self.run, "allow")

const fromRun = <A, E, R>(
  runWith: <E2, R2>(onPage: (page: Page<A>) => Effect.Effect<void, E2, R2>) => Effect.Effect<Outcome, E | E2, R | R2>,
  drift: "fail" | "allow"
): Traversal<A, E, R> => {
  /** How a run ends, as a stream's pull ends: `None` at the end, `Some` with the failure. */
  const end = (exit: Exit.Exit<Outcome, E>): Exit.Exit<never, Option.Option<E | VppError.DriftedError>> => {
    if (Exit.isFailure(exit)) return Exit.failCause(Cause.map(exit.cause, Option.some))
    return drift === "fail" && exit.value.consistency === "drifted"
      ? Exit.fail(Option.some(new VppError.DriftedError({ outcome: exit.value })))
      : Exit.fail(Option.none())
  }
  // The run hands its pages to a bounded queue from a fiber of its own; the stream pulls them one page at a time
  // and emits each as one chunk. A pull straight from the queue costs a fraction of a queue of `Take`s read
  // through `Stream.fromQueue` and `Stream.flattenTake` (issue 17: ~10 % of the client's CPU per record).
  const stream = <B>(toChunk: (page: Page<A>) => Chunk.Chunk<B>): Stream.Stream<B, E | VppError.DriftedError, R> =>
    Stream.fromPull(Effect.gen(function*() {
      const queue = yield* Queue.bounded<Exit.Exit<Page<A>, Option.Option<E | VppError.DriftedError>>>(16)
      yield* runWith((page) => Queue.offer(queue, Exit.succeed(page))).pipe(
        Effect.exit,
        Effect.flatMap((exit) => Queue.offer(queue, end(exit))),
        Effect.forkScoped
      )
      return Effect.flatMap(
        Queue.take(queue),
        (item) => Exit.isSuccess(item) ? Effect.succeed(toChunk(item.value)) : Effect.failCause(item.cause)
      )
    }))
  return {
    pages: stream(Chunk.of),
    // One chunk per page, the page's own array (never changed once delivered).
    records: stream((page) => Chunk.unsafeFromArray(page.records)),
    run: (onPage) => runWith(onPage ?? (() => Effect.void))
  }
}
