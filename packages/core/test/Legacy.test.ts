import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Legacy from "../src/Legacy.js"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SToken from "../src/SToken.js"
import type * as Traversal from "../src/Traversal.js"
import * as VppClient from "../src/VppClient.js"
import * as VppError from "../src/VppError.js"
import { canonical, collect, faultsRetriedWithSameParams, retryableFaults, runWithTime, send } from "./support/traversal.js"

type Kind = Simulator.LegacyKind
type Mode = "sequential" | "parallel"
type Semantics = "first-batch" | "next-batch"

interface Rendered {
  readonly licenseIdStr?: string
  readonly userId?: number
  readonly status?: string
}

const paths: Record<Kind, string> = { licenses: "/getVPPLicensesSrv", users: "/getVPPUsersSrv" }

/**
 * The walk a test runs: licences assigned to someone (a few per assignment, not hundreds per asset), or every
 * user entry, retired ones included.
 */
const walk = (kind: Kind, options: Legacy.Options = {}): Traversal.Traversal<Legacy.VppLicense | Legacy.VppUser> =>
  kind === "licenses"
    ? Legacy.licenses({ ...options, filters: { assignedOnly: true } })
    : Legacy.users({ ...options, filters: { includeRetired: true } })

/** What the simulator holds for {@link walk}. */
const expected = (sim: Simulator.Service, kind: Kind) =>
  Effect.map(sim.legacy.records(kind), (records) =>
    kind === "licenses" ? (records as ReadonlyArray<Rendered>).filter((l) => l.status === "Associated") : records)

const keyOf = (kind: Kind) => (record: unknown): string =>
  kind === "licenses" ? Legacy.licenseKey(record as Legacy.VppLicense) : Legacy.userKey(record as Legacy.VppUser)

const settings = (overrides: Simulator.Settings = {}): Simulator.Settings => ({
  pageSize: 10,
  records: { assets: 3, users: 30, assignments: 45 },
  ...overrides
})

/** Sends one raw legacy request (with the simulator's sToken unless the body has one) to the simulator. */
const post = (sim: Simulator.Service, path: string, body: Record<string, unknown>) =>
  send(sim, { method: "POST", path, body: { sToken: Redacted.value(sim.token.value), ...body } })

const kind = FastCheck.constantFrom<Kind>("licenses", "users")
const mode = FastCheck.constantFrom<Mode>("sequential", "parallel")
const semantics = FastCheck.constantFrom<Semantics>("first-batch", "next-batch")

describe("Legacy", () => {
  it.effect.prop(
    "a walk terminates and delivers every record exactly once without churn",
    {
      kind,
      mode,
      semantics,
      pageSize: FastCheck.integer({ min: 1, max: 25 }),
      users: FastCheck.integer({ min: 0, max: 40 }),
      assignments: FastCheck.integer({ min: 0, max: 60 }),
      seed: FastCheck.integer({ min: 0, max: 1000 })
    },
    ({ assignments, kind, mode, pageSize, semantics, seed, users }) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const want = yield* expected(sim, kind)
        const { outcome, records } = yield* collect(walk(kind, { mode }))
        assert.deepStrictEqual(records.map(canonical), want.map(canonical))
        assert.strictEqual(new Set(records.map(keyOf(kind))).size, records.length)
        assert.strictEqual(outcome.records, want.length)
        assert.strictEqual(outcome.consistency, "consistent")
        assert.strictEqual(outcome.passes, 1)
        assert.isString(outcome.checkpoint)
        const log = yield* sim.log
        if (mode === "sequential") {
          // without churn a sequential walk needs no de-duplication: the server never repeats a record
          assert.strictEqual(log.reduce((n, entry) => n + entry.records, 0), want.length)
          assert.strictEqual(yield* sim.maxInFlight, 1)
        }
        assert.isAtMost(yield* sim.maxInFlight, 5)
      }).pipe(Effect.provide(Simulator.layerTest({
        seed,
        pageSize,
        legacyOverrideIndex: semantics,
        records: { assets: 3, users, assignments }
      }))),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "never more than 5 requests in flight in parallel mode, across walks sharing the client",
    { concurrency: FastCheck.integer({ min: 1, max: 12 }), semantics },
    ({ concurrency, semantics }) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const [licenses, users] = yield* runWithTime(
          Effect.all([
            collect(walk("licenses", { mode: "parallel", concurrency })),
            collect(walk("users", { mode: "parallel", concurrency }))
          ], { concurrency: "unbounded" }),
          50
        )
        assert.strictEqual(licenses.records.length, (yield* expected(sim, "licenses")).length)
        assert.strictEqual(users.records.length, (yield* expected(sim, "users")).length)
        assert.isAtMost(yield* sim.maxInFlight, 5)
        assert.isAtLeast(yield* sim.maxInFlight, Math.min(concurrency, 5))
      }).pipe(Effect.provide(Simulator.layerTest(settings({ pageSize: 2, latency: 50, legacyOverrideIndex: semantics })))),
    { fastCheck: { numRuns: 10 } }
  )

  it.effect.prop(
    "retries reuse the same batchToken and overrideIndex",
    {
      kind,
      mode,
      semantics,
      faults: FastCheck.array(
        FastCheck.record({
          fault: FastCheck.constantFrom<Simulator.Fault>(...retryableFaults, { _tag: "TokenlessResponse" }),
          skip: FastCheck.integer({ min: 0, max: 6 })
        }),
        { maxLength: 4 }
      )
    },
    ({ faults, kind, mode, semantics }) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        for (const { fault, skip } of faults) yield* sim.inject(fault, { path: paths[kind], skip })
        const want = yield* expected(sim, kind)
        const { outcome, records } = yield* runWithTime(collect(walk(kind, { mode })))
        const log = yield* sim.log
        assert.deepStrictEqual(records.map(canonical), want.map(canonical))
        assert.strictEqual(outcome.retries, log.filter((entry) => entry.fault !== undefined).length)
        assert.isTrue(faultsRetriedWithSameParams(log, mode === "sequential"))
      }).pipe(Effect.provide(Simulator.layerTest(settings({ pageSize: 6, legacyOverrideIndex: semantics })))),
    // 30 walks with faults: 1 s on an idle machine, 15 s seen on a loaded one (CI, 2 cores)
    { fastCheck: { numRuns: 30 }, timeout: 90_000 }
  )

  it.effect.prop(
    "an incremental walk since the checkpoint converges to the server's state after churn",
    { kind, mode, semantics, seed: FastCheck.integer({ min: 0, max: 1000 }) },
    ({ kind, mode, semantics, seed }) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        // every record, so that a licence returned to the pool shows as Available rather than leaving the selection
        const everything = (options: Legacy.Options = {}): Traversal.Traversal<unknown> =>
          kind === "licenses"
            ? Legacy.licenses({ mode, ...options })
            : Legacy.users({ mode, ...options, filters: { includeRetired: true } })
        const state = new Map<string, string>()
        const upsert = (page: Traversal.Page<unknown>) =>
          Effect.sync(() => page.records.forEach((record) => state.set(keyOf(kind)(record), canonical(record))))
        const full = yield* everything().run(upsert)
        yield* sim.churn("assignments", { inserts: 4, updates: 2, deletes: 3 })
        yield* sim.churn("users", { inserts: 2, updates: 3, deletes: 2 })
        // The server cuts a walk when it starts: the state to converge to is the one when the first batch
        // came (the churn setting goes on writing during the rest of the walk).
        let want: ReadonlyArray<readonly [string, string]> = []
        const incremental = yield* everything({ sinceModifiedToken: full.checkpoint! }).run((page) =>
          Effect.zipRight(
            page.index === 0
              ? Effect.map(sim.legacy.records(kind), (records) => {
                want = records.map((record) => [keyOf(kind)(record), canonical(record)] as const)
              })
              : Effect.void,
            upsert(page)
          )
        )
        assert.isString(incremental.checkpoint)
        assert.isAbove(incremental.records, 0)
        assert.deepStrictEqual([...state].sort(), [...want].sort())
      }).pipe(Effect.provide(Simulator.layerTest({
        seed,
        pageSize: 40,
        legacyOverrideIndex: semantics,
        deltaDeletions: "visible",
        records: { assets: 2, users: 25, assignments: 40 },
        churn: { every: 3, resources: ["assignments", "users"], inserts: 1, updates: 1, deletes: 1 }
      }))),
    { fastCheck: { numRuns: 16 } }
  )

  it.effect.prop(
    "a delta holds every record changed since its token and no unchanged one",
    { kind, mode, seed: FastCheck.integer({ min: 0, max: 1000 }) },
    ({ kind, mode, seed }) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const everything = (options: Legacy.Options = {}): Traversal.Traversal<unknown> =>
          kind === "licenses"
            ? Legacy.licenses({ mode, ...options })
            : Legacy.users({ mode, ...options, filters: { includeRetired: true } })
        const before = new Map<string, string>()
        const full = yield* everything().run((page) =>
          Effect.sync(() => page.records.forEach((record) => before.set(keyOf(kind)(record), canonical(record))))
        )
        yield* sim.churn("assignments", { inserts: 3, updates: 1, deletes: 2 })
        yield* sim.churn("users", { inserts: 1, updates: 2, deletes: 1 })
        yield* sim.churn("assets", { inserts: 1, updates: 1 })
        const changed = new Set(
          (yield* sim.legacy.records(kind))
            .filter((record) => before.get(keyOf(kind)(record)) !== canonical(record))
            .map(keyOf(kind))
        )
        assert.isAbove(changed.size, 0, "the churn changed nothing; the test proves nothing")
        const delta = yield* collect(everything({ sinceModifiedToken: full.checkpoint! }))
        const delivered = delta.records.map(keyOf(kind))
        assert.deepStrictEqual(delivered.filter((key) => !changed.has(key)), [], "unchanged records in the delta")
        assert.deepStrictEqual([...changed].filter((key) => !delivered.includes(key)), [], "changed records missing")
      }).pipe(Effect.provide(Simulator.layerTest({
        seed,
        pageSize: 15,
        records: { assets: 4, users: 40, assignments: 60 }
      }))),
    { fastCheck: { numRuns: 12 } }
  )

  describe("rules", () => {
    it.effect("a response with neither token nor error is retried with the same batchToken", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        yield* sim.inject({ _tag: "TokenlessResponse" }, { path: "/getVPPUsersSrv", skip: 1, times: 2 })
        const { outcome, records } = yield* runWithTime(collect(walk("users")))
        assert.strictEqual(records.length, (yield* expected(sim, "users")).length)
        assert.strictEqual(outcome.retries, 2)
        const log = yield* sim.log
        assert.deepStrictEqual(log.slice(1, 4).map((entry) => entry.fault), ["TokenlessResponse", "TokenlessResponse", undefined])
        assert.isString(log[1]!.params["batchToken"])
        assert.isTrue(log.slice(1, 4).every((entry) => entry.params["batchToken"] === log[1]!.params["batchToken"]))
      }).pipe(Effect.provide(Simulator.layerTest(settings()))))

    it.effect("a run of tokenless responses ends in a ProtocolError", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        yield* sim.inject({ _tag: "TokenlessResponse" }, { path: "/getVPPUsersSrv", skip: 1, times: 10 })
        const error = yield* runWithTime(Effect.flip(walk("users", { maxTokenlessRetries: 2 }).run()))
        assert.strictEqual(error._tag, "ProtocolError")
        assert.strictEqual((yield* sim.log).length, 4)
      }).pipe(Effect.provide(Simulator.layerTest(settings()))))

    it.effect("zero-record batches do not end the walk", () =>
      Effect.gen(function*() {
        // In parallel mode only the requests of the batchToken chain (up to the first batch with records) can
        // meet an extra empty batch: indexed batches are served as they are.
        for (const [mode, skips] of [["sequential", [0, 1, 2]], ["parallel", [0]]] as const) {
          for (const skip of skips) {
            const sim = yield* Simulator.make(settings())
            yield* sim.inject({ _tag: "ZeroRecordBatch" }, { path: "/getVPPLicensesSrv", skip })
            const { outcome, pages, records } = yield* collect(walk("licenses", { mode })).pipe(Effect.provide(clientFor(sim)))
            assert.deepStrictEqual(records.map(canonical), (yield* expected(sim, "licenses")).map(canonical))
            assert.isTrue(pages.slice(0, -1).some((page) => page.records.length === 0), `${mode} ${skip}`)
            assert.isString(outcome.checkpoint)
          }
        }
      }))

    it.effect("the end is the response carrying sinceModifiedToken", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const want = yield* expected(sim, "licenses")
        const { outcome } = yield* collect(walk("licenses"))
        // one request per batch, no more: the walk stopped at the batch with the sinceModifiedToken
        assert.strictEqual((yield* sim.log).length, Math.ceil(want.length / 10))
        assert.strictEqual(outcome.pages, Math.ceil(want.length / 10))
        // and that token is the checkpoint: a walk from it right away has nothing to deliver
        const again = yield* collect(walk("licenses", { sinceModifiedToken: outcome.checkpoint! }))
        assert.strictEqual(again.records.length, 0)
        assert.isString(again.outcome.checkpoint)
      }).pipe(Effect.provide(Simulator.layerTest(settings()))))

    /** A parallel walk of the licences: complete, consistent, and the overrideIndexes it requested. */
    const parallelWalk = Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      const want = yield* expected(sim, "licenses")
      const { outcome, records } = yield* collect(walk("licenses", { mode: "parallel" }))
      assert.deepStrictEqual(records.map(canonical), want.map(canonical))
      assert.strictEqual(outcome.consistency, "consistent")
      const indexes = (yield* sim.log).map((entry) => entry.params["overrideIndex"]).filter((i) => i !== undefined)
      return { batches: Math.ceil(want.length / 10), indexes: indexes.map(Number).sort((a, b) => a - b) }
    })
    const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1)

    it.effect("overrideIndex 1 repeating the first batch loses and duplicates nothing", () =>
      Effect.gen(function*() {
        // first-batch: totalBatchCount = batches, overrideIndex 1..batches, the first of them a repeat
        const { batches, indexes } = yield* parallelWalk
        assert.deepStrictEqual(indexes, oneTo(batches))
      }).pipe(Effect.provide(Simulator.layerTest(settings({ legacyOverrideIndex: "first-batch" })))))

    it.effect("overrideIndex 1 as the next batch loses nothing", () =>
      Effect.gen(function*() {
        // next-batch: totalBatchCount = batches - 1, overrideIndex 1..batches-1 after the first batch
        const { batches, indexes } = yield* parallelWalk
        assert.deepStrictEqual(indexes, oneTo(batches - 1))
      }).pipe(Effect.provide(Simulator.layerTest(settings({ legacyOverrideIndex: "next-batch" })))))

    it.effect("totalBatchCount arrives as a string", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const raw = yield* post(sim, "/getVPPUsersSrv", { includeRetired: 1 })
        assert.strictEqual(typeof raw.body["totalBatchCount"], "string")
        assert.strictEqual(typeof raw.body["totalCount"], "number")
        const { pages } = yield* collect(walk("users"))
        assert.strictEqual(pages[0]!.total, Number(raw.body["totalBatchCount"]))
        assert.isAbove(pages[0]!.total!, 0)
        assert.strictEqual(Schema.decodeUnknownSync(Legacy.TotalBatchCount)("2"), 2)
        assert.strictEqual(Schema.decodeUnknownSync(Legacy.TotalBatchCount)(2), 2)
      }).pipe(Effect.provide(Simulator.layerTest(settings()))))

    it.effect("status -1 bodies are typed errors", () =>
      Effect.gen(function*() {
        const revoked = yield* Effect.flip(walk("users").run()).pipe(Effect.provide(Simulator.layerTest(settings({ revoked: true }))))
        assert.strictEqual(revoked._tag, "AuthError")
        assert.strictEqual((revoked as { reason?: string }).reason, "revoked")

        const sim = yield* Simulator.make(settings())
        const stranger = SToken.make({ secret: "not-this-one", orgName: "Elsewhere", expiresAt: new Date("2030-01-01T00:00:00Z") })
        const wrong = yield* Effect.flip(walk("users").run()).pipe(Effect.provide(clientFor(sim, stranger)))
        assert.strictEqual(wrong._tag, "AuthError")
        assert.strictEqual((wrong as { errorNumber?: number }).errorNumber, 9622)

        const invalid = yield* Effect.flip(Legacy.make(Legacy.licensesService, { pricingParam: "GOLD", adamId: "1" }).run())
          .pipe(Effect.provide(clientFor(sim)))
        assert.strictEqual(invalid._tag, "BadRequestError")
        assert.strictEqual((invalid as { errorNumber?: number }).errorNumber, 9602)
        // all of them came as HTTP 200
        assert.isTrue((yield* sim.log).every((entry) => entry.status === 200 && entry.errorNumber !== undefined))
      }))

    it.effect("9633 restarts the walk", () =>
      Effect.gen(function*() {
        for (const mode of ["sequential", "parallel"] as const) {
          const sim = yield* Simulator.make(settings())
          yield* sim.inject({ _tag: "BatchDataLost" }, { path: "/getVPPLicensesSrv", skip: 2 })
          const { outcome, records } = yield* collect(walk("licenses", { mode })).pipe(Effect.provide(clientFor(sim)))
          assert.deepStrictEqual(records.map(canonical), (yield* expected(sim, "licenses")).map(canonical))
          assert.strictEqual(outcome.passes, 2)
          assert.strictEqual(outcome.consistency, "consistent")
          // the second pass started over: a request without batchToken after the lost one
          const log = yield* sim.log
          const lost = log.findIndex((entry) => entry.errorNumber === 9633)
          assert.isTrue(lost > 0 && log.slice(lost + 1).some((entry) => entry.params["batchToken"] === undefined))
        }
        // batch data the server forgot on its own is the same error
        const sim = yield* Simulator.make(settings())
        let forgotten = false
        const forgetOnce = Effect.suspend(() => forgotten ? Effect.void : (forgotten = true, sim.legacy.forgetBatches))
        const { outcome } = yield* collect(walk("users"), () => forgetOnce).pipe(Effect.provide(clientFor(sim)))
        assert.strictEqual(outcome.passes, 2)
      }))

    it.effect("9633 beyond maxRestarts fails with the typed error", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        yield* sim.inject({ _tag: "BatchDataLost" }, { path: "/getVPPLicensesSrv", skip: 1, times: 100 })
        const error = yield* Effect.flip(walk("licenses", { maxRestarts: 2 }).run())
        assert.strictEqual(error._tag, "BadRequestError")
        assert.strictEqual((error as { errorNumber?: number }).errorNumber, 9633)
        // every request after the first met the fault: the first pass lost its second batch, the two restarts
        // their first one
        assert.deepStrictEqual((yield* sim.log).map((entry) => entry.errorNumber), [undefined, 9633, 9633, 9633])
      }).pipe(Effect.provide(Simulator.layerTest(settings()))))

    it.effect("a sinceModifiedToken refused on the first request of a delta (9602, 9629, 9633) is an unusable checkpoint", () =>
      Effect.gen(function*() {
        const foreign = yield* Simulator.make({ ...settings(), seed: 99 })
        const elsewhere = yield* collect(walk("licenses")).pipe(Effect.provide(clientFor(foreign)))
        const refusals = [
          { errorNumber: 9602, token: "bm90IGEgdG9rZW4=", fault: undefined },
          { errorNumber: 9629, token: elsewhere.outcome.checkpoint!, fault: undefined },
          // batch data behind the token lost: every later request meets it too, so a restart would loop on it
          { errorNumber: 9633, token: undefined, fault: { _tag: "BatchDataLost" } as const }
        ]
        for (const refusal of refusals) {
          for (const mode of ["sequential", "parallel"] as const) {
            const sim = yield* Simulator.make(settings())
            const { outcome } = yield* collect(walk("licenses", { mode })).pipe(Effect.provide(clientFor(sim)))
            yield* sim.churn("assignments", { inserts: 3 })
            yield* sim.clearLog
            if (refusal.fault !== undefined) yield* sim.inject(refusal.fault, { path: "/getVPPLicensesSrv", times: 100 })
            const error = yield* Effect.flip(
              walk("licenses", { mode, sinceModifiedToken: refusal.token ?? outcome.checkpoint! }).run()
            ).pipe(Effect.provide(clientFor(sim)))
            const what = `${refusal.errorNumber} ${mode}`
            assert.strictEqual(error._tag, "CheckpointUnusableError", what)
            assert.strictEqual((error as VppError.CheckpointUnusableError).errorNumber, refusal.errorNumber, what)
            // the refusal it was read from is its cause
            const cause = (error as VppError.CheckpointUnusableError).cause
            assert.isTrue(VppError.isVppError(cause) && cause._tag === "BadRequestError", what)
            assert.include(error.message, "/getVPPLicensesSrv", what)
            // one request: the refused token is not sent again
            assert.deepStrictEqual((yield* sim.log).map((entry) => entry.errorNumber), [refusal.errorNumber], what)
          }
        }
      }))

    it.effect("a 9633 after the first request of a delta restarts the delta, which completes", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const { outcome } = yield* collect(Legacy.licenses())
        yield* sim.churn("assets", { inserts: 2 })
        yield* sim.clearLog
        yield* sim.inject({ _tag: "BatchDataLost" }, { path: "/getVPPLicensesSrv", skip: 1 })
        const delta = yield* collect(Legacy.licenses({ sinceModifiedToken: outcome.checkpoint! }))
        assert.strictEqual(delta.outcome.passes, 2)
        assert.isAbove(delta.records.length, 0)
        const log = yield* sim.log
        assert.deepStrictEqual(log.slice(0, 3).map((entry) => entry.errorNumber), [undefined, 9633, undefined])
        // the restart sent the checkpoint again: the token was fine, only a batch was lost
        assert.strictEqual(log[2]!.params["sinceModifiedToken"], outcome.checkpoint)
      }).pipe(Effect.provide(Simulator.layerTest(settings()))))

    it.effect("includeRetired is sent as an integer", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const retired = yield* collect(Legacy.users({ filters: { includeRetired: true } }))
        const active = yield* collect(Legacy.users({ filters: { includeRetired: false } }))
        const onlyRetired = yield* collect(Legacy.users({ filters: { includeRetiredOnly: true } }))
        const log = yield* sim.log
        assert.deepStrictEqual([...new Set(log.map((entry) => entry.params["includeRetired"]))], ["1", "0", undefined])
        assert.isTrue(active.records.every((u) => u.status !== "Retired"))
        assert.isTrue(onlyRetired.records.length > 0 && onlyRetired.records.every((u) => u.status === "Retired"))
        assert.strictEqual(retired.records.length, active.records.length + onlyRetired.records.length)
        // the server refuses a boolean, as Apple's does
        const refused = yield* post(sim, "/getVPPUsersSrv", { includeRetired: true })
        assert.deepStrictEqual([refused.status, refused.body["status"], refused.body["errorNumber"]], [200, -1, 9602])
      }).pipe(Effect.provide(Simulator.layerTest(settings({ records: { assets: 2, users: 60, assignments: 10 } })))))

    it.effect("every request field of Get Licenses is sent, tokens only where they belong", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const all = (yield* sim.legacy.records("licenses")) as ReadonlyArray<{ adamIdStr: string; pricingParam: "STDQ" | "PLUS"; serialNumber?: string }>
        const device = all.find((l) => l.serialNumber !== undefined)!
        const filters: Legacy.LicenseFilters = {
          adamId: device.adamIdStr,
          pricingParam: device.pricingParam,
          assignedOnly: true,
          deviceAssignedOnly: true,
          userAssignedOnly: false,
          serialNumber: device.serialNumber!
        }
        const { outcome, records } = yield* collect(Legacy.licenses({ filters }))
        assert.deepStrictEqual(records.map((l) => l.serialNumber), [device.serialNumber])
        yield* collect(Legacy.licenses({ filters, sinceModifiedToken: outcome.checkpoint!, mode: "parallel" }))
        const log = yield* sim.log
        assert.deepStrictEqual(log[0]!.params, {
          adamId: device.adamIdStr,
          pricingParam: device.pricingParam,
          assignedOnly: "true",
          deviceAssignedOnly: "true",
          userAssignedOnly: "false",
          serialNumber: device.serialNumber!
        })
        assert.strictEqual(log[1]!.params["sinceModifiedToken"], outcome.checkpoint)
        assert.isUndefined(log[1]!.params["batchToken"])
        assert.isTrue(log.every((entry) => entry.method === "POST" && entry.path === "/getVPPLicensesSrv"))
      }).pipe(Effect.provide(Simulator.layerTest(settings()))))

    it.effect("the simulator answers bad batch requests with status -1 bodies", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const first = yield* post(sim, "/getVPPLicensesSrv", {})
        const batchToken = first.body["batchToken"] as string
        const foreign = (yield* Simulator.make({ ...settings(), seed: 99 }))
        const elsewhere = yield* post(foreign, "/getVPPLicensesSrv", { sToken: Redacted.value(foreign.token.value) })
        const errors = [
          yield* post(sim, "/getVPPLicensesSrv", { batchToken, overrideIndex: 100_000 }),
          yield* post(sim, "/getVPPLicensesSrv", { batchToken: "bm90IGEgdG9rZW4=" }),
          yield* post(sim, "/getVPPLicensesSrv", { batchToken: elsewhere.body["batchToken"] }),
          yield* post(sim, "/getVPPUsersSrv", { batchToken }),
          yield* post(sim, "/getVPPLicensesSrv", { sToken: "wrong" }),
          yield* post(sim, "/getVPPLicensesSrv", { sToken: null })
        ]
        assert.deepStrictEqual(
          errors.map((e) => [e.status, e.body["status"], e.body["errorNumber"]]),
          [[200, -1, 9602], [200, -1, 9602], [200, -1, 9629], [200, -1, 9602], [200, -1, 9622], [200, -1, 9601]]
        )
        assert.isAbove(batchToken.length, 1000)
        yield* sim.legacy.forgetBatches
        assert.strictEqual((yield* post(sim, "/getVPPLicensesSrv", { batchToken })).body["errorNumber"], 9633)
      }).pipe(Effect.provide(Simulator.layerTest(settings()))))

    it.effect("the sToken travels in the body and never reaches the log", () => {
      const bodies: Array<string> = []
      return Effect.gen(function*() {
        const sim = yield* Simulator.make(settings())
        const http = Simulator.makeHttpClient(sim).pipe(HttpClient.tapRequest((request) =>
          Effect.sync(() => {
            if (request.body._tag === "Uint8Array") bodies.push(new TextDecoder().decode(request.body.body))
          })
        ))
        yield* collect(walk("users", { mode: "parallel" })).pipe(Effect.provide(clientFor(sim, sim.token, http)))
        const secret = Redacted.value(sim.token.value)
        assert.isTrue(bodies.length > 1 && bodies.every((body) => JSON.parse(body).sToken === secret))
        assert.notInclude(JSON.stringify(yield* sim.log), secret)
      })
    })
  })
})

/** A VppClient (and the simulator) over `sim`, with `token` (default the simulator's own). */
function clientFor(
  sim: Simulator.Service,
  token: SToken.SToken = sim.token,
  http: HttpClient.HttpClient = Simulator.makeHttpClient(sim)
): Layer.Layer<VppClient.VppClient | Simulator.Simulator> {
  return Layer.merge(
    Layer.effect(
      VppClient.VppClient,
      VppClient.make({ token, baseUrl: Simulator.testBaseUrl, maxRequestsPerSecond: Infinity }).pipe(
        Effect.provideService(HttpClient.HttpClient, http)
      )
    ),
    Layer.succeed(Simulator.Simulator, sim)
  )
}
