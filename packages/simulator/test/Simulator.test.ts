import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as TestClock from "effect/TestClock"
import * as Redacted from "effect/Redacted"
import * as Simulator from "../src/Simulator.js"

interface RawPage {
  readonly [field: string]: unknown
  readonly currentPageIndex: number
  readonly nextPageIndex?: number
  readonly totalPages: number
  readonly versionId: string
  readonly size: number
}

const request = (sim: Simulator.Service, path: string, params: Record<string, string> = {}) =>
  sim.handle({
    method: "GET",
    path: `/mdm${path}`,
    query: new URLSearchParams(params),
    headers: { authorization: `Bearer ${Redacted.value(sim.token.value)}` },
    body: ""
  })

const page = (sim: Simulator.Service, path: string, params: Record<string, string> = {}) =>
  Effect.map(request(sim, path, params), (response) => {
    assert.strictEqual(response.status, 200, response.body)
    return JSON.parse(response.body) as RawPage
  })

/** Walks nextPageIndex from page 0 and returns every record of every page. */
const walk = (sim: Simulator.Service, resource: Simulator.PageResource, params: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const records: Array<unknown> = []
    let index: number | undefined = 0
    const pages: Array<RawPage> = []
    while (index !== undefined) {
      const body: RawPage = yield* page(sim, `/v2/${resource}`, { ...params, pageIndex: String(index) })
      pages.push(body)
      records.push(...(body[resource] as Array<unknown>))
      index = body.nextPageIndex
    }
    return { records, pages }
  })

describe("Simulator", () => {
  it.effect.prop(
    "page listing covers every record exactly once without writes, for any page size and count",
    {
      resource: FastCheck.constantFrom<Simulator.PageResource>("assets", "assignments", "users"),
      count: FastCheck.integer({ min: 0, max: 400 }),
      pageSize: FastCheck.integer({ min: 1, max: 120 }),
      seed: FastCheck.integer({ min: 0, max: 1000 }),
      emptyTotalPages: FastCheck.constantFrom<0 | 1>(0, 1)
    },
    ({ count, emptyTotalPages, pageSize, resource, seed }) =>
      Effect.gen(function*() {
        const sim = yield* Simulator.make({
          seed,
          pageSize,
          emptyTotalPages,
          records: { assets: resource === "assets" ? count : 5, users: resource === "users" ? count : 20, assignments: resource === "assignments" ? count : 10 }
        })
        const expected = yield* sim.records(resource)
        const { pages, records } = yield* walk(sim, resource)
        assert.deepStrictEqual(records, expected)
        assert.strictEqual(pages[0]!.totalPages, expected.length === 0 ? emptyTotalPages : Math.ceil(expected.length / pageSize))
        assert.isTrue(pages.every((p, i) => p.currentPageIndex === i && p.size === (p[resource] as Array<unknown>).length))
        assert.strictEqual(new Set(pages.map((p) => p.versionId)).size, 1)
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect("generates the requested counts with distinct natural keys", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ records: { assets: 30, users: 200, assignments: 2000 } })
      const assignments = (yield* sim.records("assignments")) as ReadonlyArray<Simulator.AssignmentRecord>
      const users = (yield* sim.records("users")) as ReadonlyArray<{ clientUserId: string; status: string }>
      assert.strictEqual(assignments.length, 2000)
      assert.strictEqual((yield* sim.records("assets")).length, 30)
      const keys = new Set(assignments.map((a) => `${a.adamId}:${a.pricingParam}:${a.clientUserId ?? ""}:${a.serialNumber ?? ""}`))
      assert.strictEqual(keys.size, 2000)
      assert.isTrue(assignments.some((a) => a.clientUserId !== undefined) && assignments.some((a) => a.serialNumber !== undefined))
      // at most one active entry per clientUserId, and some clientUserIds repeat across retired entries
      const active = users.filter((u) => u.status !== "Retired").map((u) => u.clientUserId)
      assert.strictEqual(new Set(active).size, active.length)
      assert.isTrue(new Set(users.map((u) => u.clientUserId)).size < users.length)
    }))

  it.effect("is deterministic for a seed", () =>
    Effect.gen(function*() {
      const a = yield* Simulator.make({ seed: 7 })
      const b = yield* Simulator.make({ seed: 7 })
      const c = yield* Simulator.make({ seed: 8 })
      assert.deepStrictEqual(yield* a.records("assignments"), yield* b.records("assignments"))
      assert.notDeepEqual(yield* a.records("assignments"), yield* c.records("assignments"))
    }))

  it.effect("changes versionId on every write and serves sinceVersionId deltas", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ pageSize: 50, records: { assignments: 300 } })
      const before = yield* page(sim, "/v2/assignments")
      yield* sim.churn("assignments", { inserts: 3, updates: 2, deletes: 4 })
      const after = yield* page(sim, "/v2/assignments")
      assert.notStrictEqual(before.versionId, after.versionId)
      const delta = yield* walk(sim, "assignments", { sinceVersionId: before.versionId })
      // inserts and updates are visible; deletions are not by default
      assert.strictEqual(delta.records.length, 5)
      const none = yield* page(sim, "/v2/assignments", { sinceVersionId: after.versionId })
      assert.strictEqual(none.size, 0)
      assert.isUndefined(none.nextPageIndex)
      const bad = yield* request(sim, "/v2/assignments", { sinceVersionId: "not-a-version" })
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(JSON.parse(bad.body).errorNumber, 9721)
      const assets = yield* request(sim, "/v2/assets", { sinceVersionId: before.versionId })
      assert.strictEqual(assets.status, 400)
    }))

  it.effect("shows deletions in deltas when set to", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ deltaDeletions: "visible", records: { users: 50 } })
      const before = yield* page(sim, "/v2/users")
      yield* sim.churn("users", { deletes: 2 })
      const delta = yield* page(sim, "/v2/users", { sinceVersionId: before.versionId })
      assert.strictEqual(delta.size, 2)
      assert.isTrue((delta["users"] as Array<{ status: string }>).every((u) => u.status === "Retired"))
    }))

  it.effect("retiring every active user terminates, also when a re-created user was retired again", () =>
    Effect.gen(function*() {
      // Seed 9999 re-creates a retired user whose new entry is retired as well: it must not count as active.
      const sim = yield* Simulator.make({ seed: 9999, records: { assets: 5, users: 6, assignments: 20 } })
      const statuses = ((yield* sim.records("users")) as ReadonlyArray<{ clientUserId: string; status: string }>)
      const retiredTwice = statuses.filter((u) => u.status === "Retired").map((u) => u.clientUserId)
      assert.isBelow(new Set(retiredTwice).size, retiredTwice.length)
      yield* sim.churn("users", { deletes: 10, updates: 3 })
      const users = (yield* sim.records("users")) as ReadonlyArray<{ status: string }>
      assert.isTrue(users.every((u) => u.status === "Retired"))
    }))

  it.effect("answers an out-of-range page with 9650 and filters by query", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ pageSize: 10, records: { assets: 25 } })
      const out = yield* request(sim, "/v2/assets", { pageIndex: "3" })
      assert.strictEqual(out.status, 400)
      assert.strictEqual(JSON.parse(out.body).errorNumber, 9650)
      const books = yield* walk(sim, "assets", { productType: "Book" })
      const all = (yield* sim.records("assets")) as ReadonlyArray<{ productType: string }>
      assert.strictEqual(books.records.length, all.filter((a) => a.productType === "Book").length)
      const invalid = yield* request(sim, "/v2/assets", { revocable: "yes" })
      assert.strictEqual(JSON.parse(invalid.body).errorNumber, 9602)
    }))

  it.effect("shifts live pages under churn, and serves snapshots when set to", () =>
    Effect.gen(function*() {
      for (const pages of ["live", "snapshot"] as const) {
        const sim = yield* Simulator.make({ pages, pageSize: 20, records: { assignments: 200 }, churn: { every: 2, inserts: 15, deletes: 10 } })
        const { records } = yield* walk(sim, "assignments")
        const keys = records.map((r) => JSON.stringify(r))
        if (pages === "snapshot") assert.strictEqual(new Set(keys).size, 200)
        else assert.notStrictEqual(keys.length, 200)
      }
    }))

  it.effect("rejects bad tokens the configured way", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ invalidTokenStatus: 200 })
      const wrong = yield* sim.handle({ method: "GET", path: "/mdm/v2/users", query: new URLSearchParams(), headers: { authorization: "Bearer nope" }, body: "" })
      assert.strictEqual(wrong.status, 200)
      assert.strictEqual(JSON.parse(wrong.body).errorNumber, 9622)
      const missing = yield* sim.handle({ method: "GET", path: "/mdm/v2/users", query: new URLSearchParams(), headers: {}, body: "" })
      assert.strictEqual(JSON.parse(missing.body).errorNumber, 9722)
      const expired = yield* Simulator.make({ tokenExpiresAt: new Date(0) })
      yield* TestClock.adjust(1000)
      assert.strictEqual(JSON.parse((yield* request(expired, "/v2/users")).body).errorNumber, 9621)
    }))

  it.effect("injects scripted faults and logs every request without the token", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ pageSize: 10, records: { assignments: 50 } })
      yield* sim.inject({ _tag: "RateLimited", retryAfter: { seconds: 3 } }, { path: "/v2/assignments", pageIndex: 2 })
      yield* sim.inject({ _tag: "Unavailable", retryAfter: { seconds: 90, format: "http-date" } }, { path: "/v2/assignments", pageIndex: 1 })
      assert.strictEqual(yield* sim.pendingFaults, 2)
      const p1 = yield* request(sim, "/v2/assignments", { pageIndex: "1" })
      assert.strictEqual(p1.status, 503)
      assert.strictEqual(yield* sim.pendingFaults, 1)
      assert.strictEqual(new Date(p1.headers["retry-after"]!).getTime(), 90_000)
      const p2 = yield* request(sim, "/v2/assignments", { pageIndex: "2" })
      assert.strictEqual(p2.status, 429)
      assert.strictEqual(p2.headers["retry-after"], "3")
      assert.strictEqual(yield* sim.pendingFaults, 0)
      assert.strictEqual((yield* request(sim, "/v2/assignments", { pageIndex: "2" })).status, 200)
      yield* sim.inject({ _tag: "InternalError" }, { path: "/v2/users", times: 3 })
      assert.strictEqual(yield* sim.pendingFaults, 3)
      const log = yield* sim.log
      assert.deepStrictEqual(log.map((e) => [e.pageIndex, e.status, e.fault]), [[1, 503, "Unavailable"], [2, 429, "RateLimited"], [2, 200, undefined]])
      assert.notInclude(JSON.stringify(log), Redacted.value(sim.token.value))
    }))

  it.effect("enforces a request rate when set to", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ maxRequestsPerSecond: 3, rateLimitRetryAfter: 1 })
      const statuses: Array<number> = []
      for (let i = 0; i < 4; i++) statuses.push((yield* request(sim, "/v2/assets")).status)
      yield* TestClock.adjust(1000)
      statuses.push((yield* request(sim, "/v2/assets")).status)
      assert.deepStrictEqual(statuses, [200, 200, 200, 429, 200])
    }))

  it.effect("tracks requests in flight under latency", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ latency: 100 })
      const fiber = yield* Effect.fork(Effect.all(Array.from({ length: 7 }, () => request(sim, "/v2/assets")), { concurrency: "unbounded" }))
      yield* TestClock.adjust(100)
      yield* fiber.await
      assert.strictEqual(yield* sim.maxInFlight, 7)
    }))

  it.layer(Simulator.layerTest({ records: { assignments: 5 } }))("in-memory HttpClient", (it) => {
    it.effect("serves the simulator through HttpClient", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        const client = yield* HttpClient.HttpClient
        const response = yield* client.get(`${Simulator.testBaseUrl}/v2/assignments`, {
          headers: { authorization: `Bearer ${Redacted.value(sim.token.value)}` }
        })
        const body = (yield* response.json) as RawPage
        assert.strictEqual((body["assignments"] as Array<unknown>).length, 5)
      }))
  })
})


describe("Simulator tokens of one library", () => {
  const get = (sim: Simulator.Service, token: string, path: string) =>
    sim.handle({
      method: "GET",
      path: `/mdm${path}`,
      query: new URLSearchParams(),
      headers: { authorization: `Bearer ${token}` },
      body: ""
    })

  it.effect("accepts each of its tokens, and every one sees the library's one uId; another simulator's token is refused", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ seed: 7, tokens: 2 })
      const other = yield* Simulator.make({ seed: 8 })
      assert.strictEqual(sim.tokens.length, 2)
      assert.strictEqual(sim.tokens[0], sim.token)
      const [first, second] = sim.tokens.map((token) => Redacted.value(token.value))
      assert.notStrictEqual(first, second)
      const uIds = new Set<unknown>()
      for (const token of [first!, second!]) {
        const response = yield* get(sim, token, "/v2/client/config")
        assert.strictEqual(response.status, 200, response.body)
        uIds.add(JSON.parse(response.body).uId)
        const assets = yield* get(sim, token, "/v2/assets")
        assert.strictEqual(assets.status, 200, assets.body)
        uIds.add(JSON.parse(assets.body).uId)
      }
      assert.strictEqual(uIds.size, 1)
      assert.deepStrictEqual([...uIds], [sim.uId])
      assert.notStrictEqual(other.uId, sim.uId)
      const refused = yield* get(sim, Redacted.value(other.token.value), "/v2/assets")
      assert.strictEqual(refused.status, 401)
      const legacy = yield* sim.handle({
        method: "POST",
        path: "/mdm/getVPPUsersSrv",
        query: new URLSearchParams(),
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ sToken: second })
      })
      assert.strictEqual(JSON.parse(legacy.body).status, 0, legacy.body)
    }))
})
