import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Stream from "effect/Stream"
import * as Cursor from "../src/Cursor.js"
import * as PageIndex from "../src/PageIndex.js"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Traversal from "../src/Traversal.js"
import * as VppError from "../src/VppError.js"

/**
 * Drift is never silent: a traversal's `records` and `pages` streams fail with a DriftedError after the last
 * record of a drifted pass, unless the caller chose `Traversal.allowDrift`; `run` returns the outcome.
 */

/** Collects a stream's elements until it ends or fails, and how it ended. */
const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) =>
  Effect.gen(function*() {
    const seen: Array<A> = []
    const end = yield* Effect.either(Stream.runForEach(stream, (a) => Effect.sync(() => void seen.push(a))))
    return { seen, end }
  })

const assertDrifted = <E>(end: Either.Either<void, E>, records: number) => {
  assert.isTrue(Either.isLeft(end), "the stream did not end normally")
  const error = (end as Either.Left<E, void>).left as unknown as VppError.DriftedError
  assert.strictEqual(error._tag, "DriftedError")
  assert.strictEqual(error.outcome.consistency, "drifted")
  assert.strictEqual(error.outcome.records, records, "the outcome counts the records delivered before the failure")
  assert.match(error.message, /changed while it was read.*missing or repeated/)
  return error
}

// Writes before every second data request: every pass over more than two pages drifts.
const churning = Simulator.layerTest({
  pageSize: 10,
  records: { assignments: 50 },
  churn: { every: 2, resources: ["assignments"], updates: 1 }
})

describe("Traversal drift", () => {
  it.effect("page-index: records and pages fail with DriftedError after the last record of a drifted pass", () =>
    Effect.gen(function*() {
      const traversal = PageIndex.assignments({ mode: "sequential" })
      const records = yield* collect(traversal.records)
      assert.isAbove(records.seen.length, 0)
      assertDrifted(records.end, records.seen.length)
      const pages = yield* collect(traversal.pages)
      const error = assertDrifted(pages.end, pages.seen.reduce((n, page) => n + page.records.length, 0))
      assert.strictEqual(error.outcome.pages, pages.seen.length)
      // run keeps returning the outcome
      const outcome = yield* traversal.run()
      assert.strictEqual(outcome.consistency, "drifted")
    }).pipe(Effect.provide(churning)))

  it.effect("page-index: allowDrift ends the streams normally; a consistent pass ends them normally", () =>
    Effect.gen(function*() {
      const allowed = yield* collect(Traversal.allowDrift(PageIndex.assignments({ mode: "sequential" })).records)
      assert.isTrue(Either.isRight(allowed.end))
      assert.isAbove(allowed.seen.length, 0)
      const sim = yield* Simulator.Simulator
      yield* sim.setChurn(undefined)
      const quiet = yield* collect(PageIndex.assignments().records)
      assert.isTrue(Either.isRight(quiet.end))
      assert.strictEqual(quiet.seen.length, (yield* sim.records("assignments")).length)
    }).pipe(Effect.provide(churning)))

  it.effect("page-index retraverse: a pass that became consistent ends normally; one that stayed drifted fails", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      yield* sim.setChurn({ every: 2, resources: ["assignments"], updates: 1, limit: 1 })
      const settled = yield* collect(PageIndex.assignments({ drift: { retraverse: 3 }, mode: "sequential" }).records)
      assert.isTrue(Either.isRight(settled.end))
      assert.strictEqual(settled.seen.length, (yield* sim.records("assignments")).length)

      yield* sim.setChurn({ every: 2, resources: ["assignments"], updates: 1 })
      const stayed = yield* collect(PageIndex.assignments({ drift: { retraverse: 3 }, mode: "sequential" }).records)
      assert.strictEqual(assertDrifted(stayed.end, stayed.seen.length).outcome.passes, 3)
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 10, records: { assignments: 50 } }))))

  it.effect("cursor: responses at different versionIds fail the records stream", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      yield* sim.setChurn({ every: 2, resources: ["subscriptions"], inserts: 1 })
      const drifted = yield* collect(Cursor.subscriptions().records)
      assertDrifted(drifted.end, drifted.seen.length)
      const allowed = yield* collect(Traversal.allowDrift(Cursor.subscriptions()).records)
      assert.isTrue(Either.isRight(allowed.end))
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 3, subscriptions: { subscriptions: 15 } }))))

  it.effect("any traversal (make): the outcome decides, and allowDrift keeps the same pages", () =>
    Effect.gen(function*() {
      const of = (consistency: Traversal.Outcome["consistency"]) =>
        Traversal.make<number, never, never>((onPage) =>
          Effect.as(onPage({ records: [1, 2, 3], index: 0, total: 1, versionId: undefined }), {
            checkpoint: "token",
            consistency,
            pages: 1,
            records: 3,
            retries: 0,
            passes: 1
          })
        )
      const consistent = yield* Stream.runCollect(of("consistent").records)
      assert.deepStrictEqual(Chunk.toReadonlyArray(consistent), [1, 2, 3])
      const drifted = yield* collect(of("drifted").records)
      assert.deepStrictEqual(drifted.seen, [1, 2, 3])
      assert.strictEqual(assertDrifted(drifted.end, 3).outcome.checkpoint, "token")
      const allowed = yield* Stream.runCollect(Traversal.allowDrift(of("drifted")).pages)
      assert.deepStrictEqual(Chunk.toReadonlyArray(allowed).flatMap((page) => page.records), [1, 2, 3])
      assert.strictEqual((yield* of("drifted").run()).consistency, "drifted")
    }))
})

describe("Traversal.untilConsistent", () => {
  /** A pass as a script gives it: drifted or not, its retries, and numbers that tell passes apart. */
  const passArb = FastCheck.record({ drifted: FastCheck.boolean(), retries: FastCheck.integer({ min: 0, max: 5 }) })

  it.effect.prop(
    "makes passes until one is consistent or maxPasses are made; answers the last one with every retry and the passes",
    {
      script: FastCheck.array(passArb, { minLength: 1, maxLength: 8 }),
      maxPasses: FastCheck.integer({ min: 0, max: 10 })
    },
    ({ maxPasses, script }) =>
      Effect.gen(function*() {
        const made: Array<number> = []
        const drifts: Array<number> = []
        // Past the script's end every pass is consistent.
        const step = (n: number) => script[n - 1] ?? { drifted: false, retries: 0 }
        const outcome = yield* Traversal.untilConsistent(
          (n) =>
            Effect.sync(() => {
              made.push(n)
              const { drifted, retries } = step(n)
              return Traversal.outcome(`v${n}`, { pages: n, records: 10 * n, retries, drifted, tokenExpiresAt: undefined })
            }),
          { maxPasses, onDrift: (drifted, n) => Effect.sync(() => void drifts.push(n, drifted.pages)) }
        )
        const firstConsistent = script.findIndex((pass) => !pass.drifted) + 1 || script.length + 1
        const expected = Math.min(firstConsistent, Math.max(1, maxPasses))
        assert.deepStrictEqual(made, Array.from({ length: expected }, (_, i) => i + 1))
        // onDrift sees every drifted pass another follows, with its own outcome.
        assert.deepStrictEqual(drifts, made.slice(0, -1).flatMap((n) => [n, n]))
        let retries = 0
        for (const n of made) retries += step(n).retries
        assert.deepStrictEqual(outcome, {
          checkpoint: `v${expected}`,
          consistency: step(expected).drifted ? "drifted" : "consistent",
          pages: expected,
          records: 10 * expected,
          retries,
          passes: expected
        })
      })
  )

  it.effect("a failing pass fails it, and no pass follows", () =>
    Effect.gen(function*() {
      let made = 0
      const error = yield* Effect.flip(Traversal.untilConsistent(
        (n) => Effect.suspend(() => (made = n) === 2 ? Effect.fail("boom" as const) : Effect.succeed(
          Traversal.outcome("v", { pages: 1, records: 1, retries: 0, drifted: true })
        )),
        { maxPasses: 5 }
      ))
      assert.strictEqual(error, "boom")
      assert.strictEqual(made, 2)
    }))

  it("Traversal.outcome: the tally's counts, drifted or consistent, tokenExpiresAt only when known", () => {
    const at = new Date("2031-01-01T00:00:00Z")
    assert.deepStrictEqual(Traversal.outcome("c", { pages: 2, records: 3, retries: 1, drifted: true, tokenExpiresAt: at }, 4), {
      checkpoint: "c",
      consistency: "drifted",
      pages: 2,
      records: 3,
      retries: 1,
      passes: 4,
      tokenExpiresAt: at
    })
    const plain = Traversal.outcome(undefined, { pages: 0, records: 0, retries: 0, drifted: false, tokenExpiresAt: undefined })
    assert.isFalse("tokenExpiresAt" in plain)
    assert.strictEqual(plain.consistency, "consistent")
    assert.strictEqual(plain.passes, 1)
  })
})
