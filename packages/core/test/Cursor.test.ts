import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Cursor from "../src/Cursor.js"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Subscription from "../src/Subscription.js"
import type * as Traversal from "../src/Traversal.js"
import * as VppClient from "../src/VppClient.js"
import { canonical, collect, faultsRetriedWithSameParams, retryableFaults, runWithTime, send } from "./support/traversal.js"

const traversals: Record<Simulator.SubscriptionResource, () => Traversal.Traversal<unknown>> = {
  subscriptions: () => Cursor.subscriptions(),
  subscriptionAssignments: () => Cursor.subscriptionAssignments(),
  subscriptionAdmins: () => Cursor.subscriptionAdmins()
}

const paths: Record<Simulator.SubscriptionResource, string> = {
  subscriptions: "/v2/subscriptions",
  subscriptionAssignments: "/v2/subscriptions/assignments",
  subscriptionAdmins: "/v2/subscriptions/admins"
}

const resource = FastCheck.constantFrom<Simulator.SubscriptionResource>(
  "subscriptions",
  "subscriptionAssignments",
  "subscriptionAdmins"
)

const settingsFor = (seed: number, pageSize: number, count: number): Simulator.Settings => ({
  seed,
  pageSize,
  records: { assets: 2, users: 40, assignments: 5 },
  subscriptions: { subscriptions: Math.max(1, Math.ceil(count / 3)), assignments: count, admins: count }
})

/** A client whose HttpClient records the query parameters of every request, as sent. */
const layerRecordingParams = (settings: Simulator.Settings, sent: Array<ReadonlyArray<readonly [string, string]>>) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const sim = yield* Simulator.make(settings)
    const http = Simulator.makeHttpClient(sim).pipe(
      HttpClient.tapRequest((request) => Effect.sync(() => sent.push(request.urlParams)))
    )
    const client = yield* VppClient.make({ token: sim.token, baseUrl: Simulator.testBaseUrl, maxRequestsPerSecond: Infinity }).pipe(
      Effect.provideService(HttpClient.HttpClient, http)
    )
    return Layer.merge(Layer.succeed(VppClient.VppClient, client), Layer.succeed(Simulator.Simulator, sim))
  }))

describe("Cursor", () => {
  it.effect.prop(
    "a traversal terminates and delivers every record exactly once, in order, without churn",
    {
      resource,
      count: FastCheck.integer({ min: 0, max: 60 }),
      pageSize: FastCheck.integer({ min: 1, max: 25 }),
      seed: FastCheck.integer({ min: 0, max: 1000 })
    },
    ({ count, pageSize, resource, seed }) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const expected = yield* sim.subscriptions.records(resource)
        const { outcome, pages, records } = yield* collect(traversals[resource]())
        assert.deepStrictEqual(records.map(canonical), expected.map(canonical))
        assert.strictEqual(outcome.records, expected.length)
        assert.strictEqual(outcome.pages, Math.max(1, Math.ceil(expected.length / pageSize)))
        assert.strictEqual(outcome.consistency, "consistent")
        assert.strictEqual(outcome.checkpoint, yield* sim.subscriptions.versionId(resource))
        assert.isTrue(pages.every((page, i) => page.index === i && page.versionId === outcome.checkpoint))
        // strictly sequential: one request at a time, the first without a cursor, each later one with a new cursor
        const log = yield* sim.log
        assert.strictEqual(yield* sim.maxInFlight, 1)
        assert.isUndefined(log[0]!.params["cursor"])
        const cursors = log.slice(1).map((entry) => entry.params["cursor"])
        assert.isTrue(cursors.every((cursor) => cursor !== undefined))
        assert.strictEqual(new Set(cursors).size, cursors.length)
      }).pipe(Effect.provide(Simulator.layerTest(settingsFor(seed, pageSize, count)))),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "retries reuse the same cursor",
    {
      resource,
      pageSize: FastCheck.integer({ min: 1, max: 6 }),
      faults: FastCheck.array(
        FastCheck.record({ fault: FastCheck.constantFrom(...retryableFaults), skip: FastCheck.integer({ min: 0, max: 8 }) }),
        { maxLength: 4 }
      )
    },
    ({ faults, pageSize, resource }) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        for (const { fault, skip } of faults) yield* sim.inject(fault, { path: paths[resource], skip })
        const expected = yield* sim.subscriptions.records(resource)
        const { outcome, records } = yield* runWithTime(collect(traversals[resource]()))
        const log = yield* sim.log
        const faulted = log.filter((entry) => entry.fault !== undefined).length
        assert.deepStrictEqual(records.map(canonical), expected.map(canonical))
        assert.strictEqual(outcome.retries, faulted)
        assert.isTrue(faultsRetriedWithSameParams(log, true))
      }).pipe(Effect.provide(Simulator.layerTest(settingsFor(3, pageSize, 20)))),
    { fastCheck: { numRuns: 25 } }
  )

  it.effect("a nextCursor that was already followed fails the traversal with a ProtocolError", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      yield* sim.inject({ _tag: "RepeatedCursor" }, { path: "/v2/subscriptions", skip: 2 })
      const error = yield* Effect.flip(Cursor.subscriptions().run())
      assert.strictEqual(error._tag, "ProtocolError")
      // no loop: the traversal stopped at the response that repeated the cursor
      assert.strictEqual((yield* sim.log).length, 3)
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 2, subscriptions: { subscriptions: 12 } }))))

  it.effect("an invalidated cursor (9812) fails the traversal with an InvalidCursorError", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      const error = yield* Effect.flip(Cursor.subscriptions().run(() => sim.subscriptions.invalidateCursors))
      assert.strictEqual(error._tag, "InvalidCursorError")
      assert.strictEqual((error as { errorNumber?: number }).errorNumber, 9812)
      // not retried: Apple's cursors cannot be repaired
      assert.deepStrictEqual((yield* sim.log).map((entry) => [entry.status, entry.errorNumber]), [[200, undefined], [400, 9812]])
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 3, subscriptions: { subscriptions: 12 } }))))

  it.effect("a cursor is only valid for its endpoint and filters", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      const get = (path: string, params: Record<string, string>) =>
        Effect.map(send(sim, { method: "GET", path, params }), ({ body, status }) => [status, body] as const)
      const [, first] = yield* get("/v2/subscriptions", {})
      const cursor = first.nextCursor as string
      assert.isString(cursor)
      assert.strictEqual((yield* get("/v2/subscriptions", { cursor }))[0], 200)
      for (const [path, params] of [["/v2/subscriptions/admins", { cursor }], ["/v2/subscriptions", { cursor, adamId: "1" }], ["/v2/subscriptions", { cursor: "garbage" }]] as const) {
        const [status, body] = yield* get(path, params)
        assert.deepStrictEqual([status, body.errorNumber], [400, 9812])
      }
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 3 }))))

  it.effect("an expired cursor (9812) fails the traversal with an InvalidCursorError", () =>
    Effect.gen(function*() {
      const outcome = yield* Cursor.subscriptionAssignments().run(() => TestClock.adjust("30 seconds"))
      assert.strictEqual(outcome.pages, 4)
      const error = yield* Effect.flip(Cursor.subscriptionAssignments().run(() => TestClock.adjust("2 minutes")))
      assert.strictEqual(error._tag, "InvalidCursorError")
    }).pipe(Effect.provide(
      Simulator.layerTest({ pageSize: 10, cursorTtl: "1 minute", subscriptions: { subscriptions: 10, assignments: 40 } })
    )))

  it.effect("filters are sent as arrays (repeated keys) and select the records", () => {
    const sent: Array<ReadonlyArray<readonly [string, string]>> = []
    return Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      const all = (yield* sim.subscriptions.records("subscriptionAssignments")) as ReadonlyArray<{ adamId: number; clientUserId: string }>
      const adamIds = [...new Set(all.map((a) => a.adamId))].slice(0, 2)
      const clientUserIds = [...new Set(all.map((a) => a.clientUserId))].slice(0, 3)
      const { records } = yield* collect(Cursor.subscriptionAssignments({ filters: { adamId: adamIds, clientUserId: clientUserIds } }))
      const expected = all.filter((a) => adamIds.includes(a.adamId) && clientUserIds.includes(a.clientUserId))
      assert.deepStrictEqual(records.map(canonical), expected.map(canonical))
      assert.deepStrictEqual(sent[0]!.filter(([key]) => key === "adamId").map(([, value]) => Number(value)), adamIds)
      assert.deepStrictEqual(sent[0]!.filter(([key]) => key === "clientUserId").map(([, value]) => value), clientUserIds)

      const subscriptions = (yield* sim.subscriptions.records("subscriptions")) as ReadonlyArray<{ parentAdamId: number | null }>
      const parents = [...new Set(subscriptions.map((s) => s.parentAdamId).filter((p): p is number => p !== null))].slice(0, 2)
      const byParent = yield* collect(Cursor.subscriptions({ filters: { parentAdamId: parents } }))
      assert.deepStrictEqual(
        byParent.records.map(canonical),
        subscriptions.filter((s) => s.parentAdamId !== null && parents.includes(s.parentAdamId)).map(canonical)
      )
      assert.deepStrictEqual(sent.at(-1)!.filter(([key]) => key === "parentAdamId").map(([, value]) => Number(value)), parents)
    }).pipe(Effect.provide(layerRecordingParams({ pageSize: 4, subscriptions: { subscriptions: 20, assignments: 60 } }, sent)))
  })

  it.effect("includeUserState adds each administrator's userStatus", () =>
    Effect.gen(function*() {
      const plain = yield* collect(Cursor.subscriptionAdmins())
      const withState = yield* collect(Cursor.subscriptionAdmins({ filters: { includeUserState: true } }))
      assert.isTrue(plain.records.length > 0)
      assert.isTrue(plain.records.every((admin) => admin.userStatus === undefined))
      assert.isTrue(withState.records.every((admin) => admin.userStatus !== undefined))
      const log = yield* Effect.flatMap(Simulator.Simulator, (sim) => sim.log)
      assert.strictEqual(log.at(-1)!.params["includeUserState"], "true")
    }).pipe(Effect.provide(Simulator.layerTest({ subscriptions: { admins: 8 } }))))

  it.effect("the checkpoint is the last versionId; versionIds that differ make the run drifted", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      const { outcome, pages } = yield* collect(
        Cursor.subscriptions(),
        (page) => page.index === 1 ? sim.subscriptions.churn("subscriptions", { inserts: 2, updates: 1 }) : Effect.void
      )
      assert.strictEqual(outcome.consistency, "drifted")
      assert.notStrictEqual(pages[0]!.versionId, pages.at(-1)!.versionId)
      assert.strictEqual(outcome.checkpoint, pages.at(-1)!.versionId)
      assert.strictEqual(outcome.checkpoint, yield* sim.subscriptions.versionId("subscriptions"))
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 3, subscriptions: { subscriptions: 15 } }))))

  it.effect("subscriptions decode with integer adamIds, nullable parents and counts that add up", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.Simulator
      yield* sim.subscriptions.churn("subscriptionAssignments", { inserts: 10, updates: 5, deletes: 5 })
      yield* sim.subscriptions.churn("subscriptions", { inserts: 3, updates: 3, deletes: 3 })
      const { records } = yield* collect(Cursor.subscriptions())
      const isSubscription = Schema.is(Subscription.Subscription)
      assert.isTrue(records.every((s) => isSubscription(s) && Number.isInteger(s.adamId)))
      assert.isTrue(records.some((s) => s.parentAdamId === null))
      assert.isTrue(records.some((s) => s.counts!.total.renewing + s.counts!.total.expiring === 0))
      for (const { counts } of records) {
        const { assigned, available, total } = counts!
        assert.strictEqual(
          assigned.renewing + assigned.expiring + available.renewing + available.expiring,
          total.renewing + total.expiring
        )
        assert.isTrue([assigned, available, total].every((b) => b.renewing >= 0 && b.expiring >= 0))
      }
      // assigned counts follow the assignments
      const assignments = yield* collect(Cursor.subscriptionAssignments())
      for (const s of records) {
        const held = assignments.records.filter((a) => a.adamId === s.adamId)
        assert.strictEqual(s.counts!.assigned.renewing, held.filter((a) => a.renewing === true).length)
        assert.strictEqual(s.counts!.assigned.expiring, held.filter((a) => a.renewing === false).length)
      }
    }).pipe(Effect.provide(Simulator.layerTest({ pageSize: 7, subscriptions: { subscriptions: 20, assignments: 50 } }))))

  it.effect("an invalid filter value is a typed BadRequestError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Cursor.make(Cursor.subscriptionsEndpoint, { adamId: ["not-a-number"] }).run()
      )
      assert.strictEqual(error._tag, "BadRequestError")
    }).pipe(Effect.provide(Simulator.layerTest())))
})
