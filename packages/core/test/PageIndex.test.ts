import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as Assignment from "../src/Assignment.js"
import * as PageIndex from "../src/PageIndex.js"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SToken from "../src/SToken.js"
import type * as Traversal from "../src/Traversal.js"
import * as VppClient from "../src/VppClient.js"
import * as ScriptedHttp from "./utils/scriptedHttp.js"
import { runWithTestClock } from "./utils/testClock.js"

// Retry-After waits are covered by the VppClient tests; here the client retries without delay (see
// fastRetries) so a property run needs no virtual time.
const retryableFaults: ReadonlyArray<Simulator.Fault> = [
  { _tag: "RateLimited" },
  { _tag: "Unavailable" },
  { _tag: "InternalError" },
  { _tag: "BadGateway" },
  { _tag: "GatewayTimeout" },
  { _tag: "MalformedJson" }
]

const traversalOf = (resource: Simulator.PageResource, options: PageIndex.Options & { readonly sinceVersionId?: string }) => {
  switch (resource) {
    case "assets":
      return PageIndex.assets(options) as Traversal.Traversal<unknown>
    case "assignments":
      return PageIndex.assignments(options) as Traversal.Traversal<unknown>
    case "users":
      return PageIndex.users(options) as Traversal.Traversal<unknown>
  }
}

/** Records as the simulator renders them (plain JSON), for comparison with its state. */
const plain = (record: unknown) => JSON.stringify(record, Object.keys(record as object).sort())

const collect = (traversal: Traversal.Traversal<unknown>) =>
  Effect.gen(function*() {
    const records: Array<unknown> = []
    const outcome = yield* traversal.run((page) => Effect.sync(() => void records.push(...page.records)))
    return { records, outcome }
  })

const sorted = (records: ReadonlyArray<unknown>) => records.map(plain).sort()

const arbitraryRun = FastCheck.record({
  resource: FastCheck.constantFrom<Simulator.PageResource>("assets", "assignments", "users"),
  count: FastCheck.integer({ min: 0, max: 200 }),
  pageSize: FastCheck.integer({ min: 1, max: 60 }),
  concurrency: FastCheck.integer({ min: 1, max: 5 }),
  mode: FastCheck.constantFrom<"parallel" | "sequential">("parallel", "sequential"),
  order: FastCheck.constantFrom<"page" | "arrival">("page", "arrival"),
  seed: FastCheck.integer({ min: 0, max: 10_000 }),
  faultProbability: FastCheck.constantFrom(0, 0, 0.1, 0.25),
  // a server whose totalPages lags behind its pages: the walk follows nextPageIndex past it
  totalPagesLag: FastCheck.constantFrom(0, 0, 1, 3)
})

const fastRetries = { retry: { baseDelay: 0 }, rateLimitPause: 0 }

const settingsFor = (run: typeof arbitraryRun extends FastCheck.Arbitrary<infer T> ? T : never): Simulator.Settings => ({
  seed: run.seed,
  pageSize: run.pageSize,
  totalPagesLag: run.totalPagesLag,
  records: {
    assets: run.resource === "assets" ? run.count : 5,
    users: run.resource === "users" ? run.count : 30,
    assignments: run.resource === "assignments" ? run.count : 20
  },
  randomFaults: { probability: run.faultProbability, faults: retryableFaults }
})

describe("PageIndex", () => {
  it.effect.prop(
    "without churn: every record exactly once, consistent, ≤ 5 in flight, retries re-request the same page",
    { run: arbitraryRun },
    ({ run }) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const expected = yield* sim.records(run.resource)
        const { value } = yield* runWithTestClock(
          collect(traversalOf(run.resource, { concurrency: run.concurrency, mode: run.mode, order: run.order }))
        )
        assert.deepStrictEqual(sorted(value.records), sorted(expected))
        if (run.order === "page") assert.deepStrictEqual(value.records.map(plain), expected.map(plain))
        assert.strictEqual(value.outcome.consistency, "consistent")
        assert.strictEqual(value.outcome.checkpoint, yield* sim.versionId(run.resource))
        assert.isAtMost(yield* sim.maxInFlight, 5)
        const log = yield* sim.log
        assert.strictEqual(value.outcome.retries, log.filter((entry) => entry.fault !== undefined).length)
        // each page requested once, plus once more per fault on it: retries never restart the traversal
        const perPage = new Map<number, { requests: number; faults: number }>()
        for (const entry of log) {
          const counts = perPage.get(entry.pageIndex ?? 0) ?? { requests: 0, faults: 0 }
          counts.requests++
          if (entry.fault !== undefined) counts.faults++
          perPage.set(entry.pageIndex ?? 0, counts)
        }
        for (const counts of perPage.values()) assert.strictEqual(counts.requests, 1 + counts.faults)
        assert.strictEqual(perPage.size, value.outcome.pages)
      }).pipe(Effect.provide(Simulator.layerTest(settingsFor(run), fastRetries))),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "under churn: terminates, reports drift whenever versionIds differ, and incremental sync converges",
    {
      run: arbitraryRun.filter((run) => run.resource !== "assets"),
      churnEvery: FastCheck.integer({ min: 1, max: 6 }),
      churnLimit: FastCheck.integer({ min: 1, max: 6 }),
      churn: FastCheck.record({
        inserts: FastCheck.integer({ min: 0, max: 8 }),
        updates: FastCheck.integer({ min: 0, max: 8 }),
        deletes: FastCheck.integer({ min: 0, max: 8 })
      })
    },
    ({ churn, churnEvery, churnLimit, run }) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const resource = run.resource
        yield* sim.setChurn({ every: churnEvery, limit: churnLimit, resources: [resource], ...churn })
        const full = yield* runWithTestClock(
          collect(traversalOf(resource, { concurrency: run.concurrency, mode: run.mode, order: run.order }))
        )
        // faults such as malformed JSON or an error in a 200 body are retried, so they deliver no page
        const log = yield* sim.log
        const served = new Set(log.filter((e) => e.status === 200 && e.fault === undefined).map((e) => e.versionId))
        // a page that vanished (9650) shows a write too, even when no page was served at the new version
        const vanished = log.some((e) => e.errorNumber === 9650)
        assert.strictEqual(full.value.outcome.consistency, served.size > 1 || vanished ? "drifted" : "consistent")
        assert.isAtMost(yield* sim.maxInFlight, 5)

        // apply the full pass, then deltas from its checkpoint (no churn during them) as upserts by content
        yield* sim.setChurn(undefined)
        yield* sim.churn(resource, churn)
        const store = new Map<string, unknown>()
        const upsert = (records: ReadonlyArray<unknown>) => {
          for (const record of records) {
            const key = resource === "assignments" ? Assignment.key(record as Assignment.Assignment) : plain(record)
            store.set(key, record)
          }
        }
        upsert(full.value.records)
        const delta = yield* runWithTestClock(
          collect(traversalOf(resource, { concurrency: run.concurrency, mode: run.mode, sinceVersionId: full.value.outcome.checkpoint! }))
        )
        upsert(delta.value.records)
        assert.strictEqual(delta.value.outcome.consistency, "consistent")
        const held = new Set([...store.values()].map(plain))
        // Records written after the checkpoint are always caught up. An unchanged record can shift between
        // live pages during a drifted pass and be missed: only a consistent pass guarantees those.
        const guaranteed = full.value.outcome.consistency === "consistent"
          ? yield* sim.records(resource)
          : yield* sim.changedSince(resource, full.value.outcome.checkpoint!)
        for (const record of guaranteed) assert.isTrue(held.has(plain(record)), plain(record))
      }).pipe(Effect.provide(Simulator.layerTest(settingsFor(run), fastRetries))),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect("parallel mode keeps 5 requests in flight and beats sequential under latency", () =>
    Effect.gen(function*() {
      const time = (mode: "parallel" | "sequential") =>
        Effect.gen(function*() {
          const sim = yield* Simulator.Simulator
          const { elapsed, value } = yield* runWithTestClock(collect(PageIndex.assignments({ mode })))
          const log = yield* sim.log
          return { elapsed, outcome: value.outcome, maxInFlight: yield* sim.maxInFlight, log }
        }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 10, latency: 100, records: { assignments: 200 } })))
      const parallel = yield* time("parallel")
      const sequential = yield* time("sequential")
      assert.strictEqual(parallel.outcome.pages, 20)
      assert.strictEqual(parallel.maxInFlight, 5)
      assert.strictEqual(sequential.maxInFlight, 1)
      // page 0 alone, then 19 pages five at a time: 1 + 4 rounds of 100 ms
      assert.strictEqual(parallel.elapsed, 500)
      assert.strictEqual(sequential.elapsed, 2000)
      // while ≥ 6 pages remained, every round had 5 in flight
      const round = parallel.log.filter((entry) => entry.startedAt === 100)
      assert.strictEqual(round.length, 5)
    }))

  it.effect("follows a growing totalPages and survives a shrinking one", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      // grow: 40 inserts after page 0 add two pages that were not scheduled at first
      const grown = yield* Effect.gen(function*() {
        yield* sim.setChurn({ every: 2, limit: 1, resources: ["assignments"], inserts: 40 })
        return yield* collect(PageIndex.assignments({ concurrency: 1 }))
      })
      assert.strictEqual(grown.outcome.consistency, "drifted")
      const maxPage = Math.max(...(yield* sim.log).map((entry) => entry.pageIndex ?? 0))
      assert.isAbove(maxPage, 4) // 100 records / 20 per page = pages 0..4 at the start
      yield* sim.clearLog
      // shrink: deletes make the last scheduled pages vanish (9650) — not fatal
      yield* sim.setChurn({ every: 1, resources: ["assignments"], deletes: 30 })
      const shrunk = yield* collect(PageIndex.assignments({ concurrency: 1 }))
      yield* sim.setChurn(undefined)
      assert.strictEqual(shrunk.outcome.consistency, "drifted")
      assert.isTrue((yield* sim.log).some((entry) => entry.errorNumber === 9650))
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 20, records: { assignments: 100 } }))))

  it.effect("a totalPages that lags behind: parallel pages follow nextPageIndex to the page without one", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      // 95 records on 10 pages, every page saying there are 7: pages 7..9 exist only through nextPageIndex
      const { outcome, records } = yield* collect(PageIndex.assignments({ concurrency: 5 }))
      assert.strictEqual(records.length, 95)
      assert.deepStrictEqual(records.map(plain), (yield* sim.records("assignments")).map(plain))
      assert.strictEqual(outcome.pages, 10)
      assert.strictEqual(outcome.consistency, "consistent")
      assert.deepStrictEqual((yield* sim.log).map((entry) => entry.pageIndex ?? 0).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 10, totalPagesLag: 3, records: { assignments: 95 } }))))

  it.effect("a middle page without nextPageIndex is not the end when later pages exist: delivered, and drifted", () =>
    Effect.gen(function*() {
      // page 1 says it is the last, but pages 2 and 3 (scheduled from totalPages 4) still answer
      const page = (index: number, last: boolean) => ({
        body: {
          assignments: [{ adamId: String(index), pricingParam: "STDQ", serialNumber: `S${index}` }],
          currentPageIndex: index,
          ...(last ? {} : { nextPageIndex: index + 1 }),
          totalPages: 4,
          versionId: "v1"
        }
      })
      const http = ScriptedHttp.make((request) => {
        const index = Number(request.params.get("pageIndex") ?? 0)
        return page(index, index === 1 || index === 3)
      })
      const token = SToken.make({ secret: "PAGEINDEX-TEST", orgName: "Test", expiresAt: new Date("2031-01-01T00:00:00Z") })
      const { outcome, records } = yield* collect(PageIndex.assignments({ concurrency: 1 })).pipe(
        Effect.provide(VppClient.layer({ token, baseUrl: "https://vpp.test/mdm", maxRequestsPerSecond: Infinity })),
        Effect.provide(http.layer)
      )
      assert.deepStrictEqual(records.map((r) => (r as { adamId: string }).adamId), ["0", "1", "2", "3"])
      assert.strictEqual(outcome.consistency, "drifted")
    }))

  it.effect("unlimited assets: unlimited=true delivers the unlimitedAssets array marked; false leaves them out", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      const all = (yield* sim.records("assets")) as ReadonlyArray<Record<string, unknown>>
      // without the parameter, Apple lists them among the others with totalCount 2147483647
      const isUnlimited = (asset: Record<string, unknown>) => asset["totalCount"] === 2_147_483_647
      assert.strictEqual(all.filter(isUnlimited).length, 4)
      const omitted = yield* collect(PageIndex.assets({ concurrency: 2 }))
      assert.deepStrictEqual(sorted(omitted.records), sorted(all))

      const withThem = yield* collect(PageIndex.assets({ concurrency: 2, filters: { unlimited: true } }))
      const unlimited = all.filter(isUnlimited).map(({ availableCount: _a, retiredCount: _r, totalCount: _t, ...rest }) => ({
        ...rest,
        unlimited: true
      }))
      assert.deepStrictEqual(sorted(withThem.records), sorted([...all.filter((a) => !isUnlimited(a)), ...unlimited]))
      assert.strictEqual(withThem.outcome.records, 15)
      assert.strictEqual(withThem.outcome.consistency, "consistent")

      const without = yield* collect(PageIndex.assets({ filters: { unlimited: false } }))
      assert.deepStrictEqual(sorted(without.records), sorted(all.filter((a) => !isUnlimited(a))))
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 4, records: { assets: 15, unlimitedAssets: 4 } }))))

  it.effect("pages reported after the start are requested in parallel too", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      // 2 pages at first, so 4 of the 5 workers have nothing to take; 80 inserts before page 1 make it 6 pages,
      // which page 1 reports: pages 2..5 go out together, not one after the other.
      yield* sim.setChurn({ every: 2, limit: 1, resources: ["assignments"], inserts: 80 })
      const { value } = yield* runWithTestClock(collect(PageIndex.assignments()))
      yield* sim.setChurn(undefined)
      const late = (yield* sim.log).filter((entry) => (entry.pageIndex ?? 0) >= 2)
      assert.deepStrictEqual(late.map((entry) => entry.pageIndex).sort(), [2, 3, 4, 5])
      assert.strictEqual(new Set(late.map((entry) => entry.startedAt)).size, 1)
      assert.strictEqual(value.outcome.pages, 6)
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 20, latency: 100, records: { assignments: 40 } }))))

  it.effect("a slow page handler holds back requests: at most 2 × concurrency pages fetched ahead", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      const release = yield* Deferred.make<void>()
      const indexes: Array<number> = []
      const fiber = yield* Effect.fork(PageIndex.assignments().run((page) =>
        Effect.zipRight(page.index === 1 ? Deferred.await(release) : Effect.void, Effect.sync(() => void indexes.push(page.index)))
      ))
      for (let i = 0; i < 500; i++) yield* Effect.yieldNow()
      // page 0, page 1 (in its handler), and at most 10 pages fetched and waiting behind it
      const requested = (yield* sim.log).length
      assert.isAtLeast(requested, 2 + 5)
      assert.isAtMost(requested, 2 + 2 * 5 - 1)
      yield* Deferred.succeed(release, undefined)
      const outcome = yield* Fiber.join(fiber)
      assert.strictEqual(outcome.pages, 30)
      assert.deepStrictEqual(indexes, Array.from({ length: 30 }, (_, i) => i))
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 10, records: { assignments: 300 } }))))

  it.effect("a short or empty page is not the end; the page without nextPageIndex is", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      const result = yield* collect(PageIndex.users({ mode: "sequential", filters: { activeOnly: true } }))
      const expected = (yield* sim.records("users")).filter((u) => (u as { status: string }).status !== "Retired")
      assert.strictEqual(result.records.length, expected.length)
      const empty = yield* collect(PageIndex.assets({ filters: { productType: "Book", minAssignedCount: 1_000_000 } }))
      assert.strictEqual(empty.records.length, 0)
      assert.strictEqual(empty.outcome.pages, 1)
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 7, records: { users: 60 } }))))

  it.effect("the retraverse policy delivers one consistent pass", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      // churn only during the first pass: the second pass is consistent
      yield* sim.setChurn({ every: 3, limit: 1, resources: ["assignments"], inserts: 5, deletes: 5 })
      let pages = 0
      const records: Array<unknown> = []
      const outcome = yield* PageIndex.assignments({ drift: { retraverse: 3 }, concurrency: 2 }).run((page) =>
        Effect.sync(() => {
          pages++
          records.push(...page.records)
        })
      )
      assert.strictEqual(outcome.passes, 2)
      assert.strictEqual(outcome.consistency, "consistent")
      assert.deepStrictEqual(sorted(records), sorted(yield* sim.records("assignments")))
      assert.strictEqual(pages, outcome.pages)
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 10, records: { assignments: 80 } }))))

  it.effect("retraverse gives up after maxPasses and reports the last pass as drifted", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      // writes that never stop
      yield* sim.setChurn({ every: 2, resources: ["assignments"], updates: 1 })
      const outcome = yield* PageIndex.assignments({ drift: { retraverse: 4 }, mode: "sequential" }).run(() => Effect.void)
      // churn never stopped, so every pass drifted: the last pass is delivered and reported
      assert.strictEqual(outcome.passes, 4)
      assert.strictEqual(outcome.consistency, "drifted")
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 10, records: { assignments: 50 } }))))

  it.effect("records, pages and run agree; the stream can stop early", () =>
    Effect.gen(function*() {
      const traversal = PageIndex.assignments({ concurrency: 3 })
      const records = yield* Stream.runCollect(traversal.records)
      const pages = yield* Stream.runCollect(traversal.pages)
      assert.strictEqual(Chunk.size(records), 95)
      assert.deepStrictEqual(Chunk.toReadonlyArray(pages).map((p) => p.index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      assert.strictEqual(Chunk.size(yield* Stream.runCollect(Stream.take(traversal.records, 12))), 12)
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 10, records: { assignments: 95 } }))))

  it.effect("fails with the typed error: 9721 checkpoint unusable, auth errors at once", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      const stale = yield* Effect.either(PageIndex.assignments({ sinceVersionId: "0000-unknown" }).run())
      assert.isTrue(Either.isLeft(stale) && stale.left._tag === "CheckpointUnusableError")
      yield* sim.inject({ _tag: "InvalidTokenInBody" }, { pageIndex: 2 })
      const auth = yield* Effect.either(PageIndex.users({}).run())
      assert.isTrue(Either.isLeft(auth) && auth.left._tag === "AuthError")
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 10, records: { users: 60 } }))))

  it.effect("fails loudly past the safety bound instead of truncating", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(PageIndex.assignments({ maxPages: 5 }).run())
      assert.isTrue(Either.isLeft(result) && result.left._tag === "ProtocolError")
      const sequential = yield* Effect.either(PageIndex.assignments({ maxPages: 5, mode: "sequential" }).run())
      assert.isTrue(Either.isLeft(sequential) && sequential.left._tag === "ProtocolError")
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 10, records: { assignments: 95 } }))))

  it.effect("sends every filter, booleans as true/false", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      yield* PageIndex.assets({ filters: { productType: "App", revocable: true, deviceAssignable: false, minAssignedCount: 1, pricingParam: "STDQ" } }).run()
      yield* PageIndex.assignments({ filters: { adamId: "1", includeUserState: true, excludeInactiveUsers: false } }).run()
      yield* PageIndex.users({ filters: { activeOnly: true, clientUserId: "x" } }).run()
      const params = (yield* sim.log).map((entry) => entry.params)
      assert.deepStrictEqual(params, [
        { productType: "App", revocable: "true", deviceAssignable: "false", minAssignedCount: "1", pricingParam: "STDQ" },
        { adamId: "1", includeUserState: "true", excludeInactiveUsers: "false" },
        { activeOnly: "true", clientUserId: "x" }
      ])
    }).pipe(Effect.provide(Simulator.layerTest())))
})

