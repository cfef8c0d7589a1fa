import { assert, describe, it } from "@effect/vitest"
import * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Simulator from "../src/Simulator.js"

/** Resources served from a descriptor and records alone, and the routes derived from `Resources.all`. */

const Gadget = Schema.Struct({
  gadgetId: Schema.String,
  kind: Schema.Literal("a", "b", "c"),
  size: Schema.Int,
  shiny: Schema.Boolean,
  labels: Schema.Array(Schema.String)
})
type Gadget = typeof Gadget.Type

const GadgetFilters = Schema.Struct({
  kind: Schema.optional(Schema.Array(Schema.Literal("a", "b", "c"))),
  shiny: Schema.optional(Schema.Boolean),
  labels: Schema.optional(Schema.String),
  size: Schema.optional(Schema.Int),
  owner: Schema.optional(Schema.String)
})

const describeGadgets = (delta: boolean, path = "/v2/gadgets") =>
  Resource.make({
    name: "gadgets",
    description: "made-up gadgets",
    family: "page-index",
    path,
    field: "gadgets",
    record: Gadget,
    filters: GadgetFilters,
    syncFilters: {},
    key: (gadget) => gadget.gadgetId,
    keyDescription: "`gadgetId`",
    ...(delta ? { delta: { param: "sinceVersionId", checkpoint: "versionId" } } : {})
  })

const gadgets = describeGadgets(true)

const gadget = (i: number): Gadget => ({
  gadgetId: `g${String(i).padStart(4, "0")}`,
  kind: (["a", "b", "c"] as const)[i % 3]!,
  size: i,
  shiny: i % 2 === 0,
  labels: i % 5 === 0 ? ["five", "x"] : ["x"]
})

const request = (sim: Simulator.Service, path: string, params: Record<string, string> = {}, method = "GET") =>
  Effect.map(
    sim.handle({
      method,
      path: `/mdm${path}`,
      query: new URLSearchParams(params),
      headers: { authorization: `Bearer ${Redacted.value(sim.token.value)}` },
      body: method === "POST" ? JSON.stringify({ sToken: Redacted.value(sim.token.value) }) : ""
    }),
    (response) => ({ status: response.status, body: JSON.parse(response.body) as Record<string, any> })
  )

/** Every record of a served resource by walking nextPageIndex from page 0, with the pages' totalPages. */
const walk = (sim: Simulator.Service, params: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const records: Array<Gadget> = []
    const totals: Array<number> = []
    let index: number | undefined = 0
    while (index !== undefined) {
      const { body, status }: { body: Record<string, any>; status: number } = yield* request(sim, "/v2/gadgets", {
        ...params,
        pageIndex: String(index)
      })
      assert.strictEqual(status, 200, JSON.stringify(body))
      records.push(...body["gadgets"])
      totals.push(body["totalPages"])
      index = body["nextPageIndex"]
    }
    return { records, totals }
  })

describe("Simulator routes", () => {
  it.effect("serve every resource of Resources.all at its descriptor's path, in its records field", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ records: { assets: 3, users: 4, assignments: 5 } })
      for (const descriptor of Resources.all) {
        const { body, status } = yield* request(sim, descriptor.path, {}, descriptor.family === "legacy" ? "POST" : "GET")
        assert.strictEqual(status, 200, `${descriptor.name}: ${JSON.stringify(body)}`)
        assert.isTrue(Array.isArray(body[descriptor.field]), `${descriptor.name}: ${descriptor.field}`)
      }
      assert.strictEqual((yield* request(sim, "/v2/gadgets")).status, 404)
    }))
})

describe("Simulator served resources", () => {
  it.effect.prop(
    "a walk of a served page-index resource delivers every record once, in key order, for any count and page size",
    { count: FastCheck.integer({ min: 0, max: 60 }), pageSize: FastCheck.integer({ min: 1, max: 25 }) },
    ({ count, pageSize }) =>
      Effect.gen(function*() {
        const records = Array.from({ length: count }, (_, i) => gadget(count - 1 - i))
        const sim = yield* Simulator.make({ pageSize, served: [{ resource: gadgets, records }] })
        const { records: walked, totals } = yield* walk(sim)
        assert.deepStrictEqual(walked, [...records].reverse())
        assert.deepStrictEqual(totals, totals.map(() => Math.max(1, Math.ceil(count / pageSize))))
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect("applies filters generically: scalar equality, array filters as one of, array fields holding a value", () =>
    Effect.gen(function*() {
      const records = Array.from({ length: 30 }, (_, i) => gadget(i))
      const sim = yield* Simulator.make({ pageSize: 4, served: [{ resource: gadgets, records }] })
      const select = (params: Record<string, string>) => Effect.map(walk(sim, params), ({ records }) => records.map((g) => g.gadgetId))
      const ids = (keep: (g: Gadget) => boolean) => records.filter(keep).map((g) => g.gadgetId)
      assert.deepStrictEqual(yield* select({ kind: "a,c" }), ids((g) => g.kind !== "b"))
      assert.deepStrictEqual(yield* select({ shiny: "true", kind: "b" }), ids((g) => g.shiny && g.kind === "b"))
      assert.deepStrictEqual(yield* select({ labels: "five" }), ids((g) => g.labels.includes("five")))
      assert.deepStrictEqual(yield* select({ size: "7" }), ["g0007"])
      for (const params of [{ shiny: "yes" }, { size: "big" }, { kind: "d" }, { owner: "x" }]) {
        const { body, status } = yield* request(sim, "/v2/gadgets", params)
        assert.deepStrictEqual([status, body["errorNumber"]], [400, 9602], JSON.stringify(params))
      }
    }))

  it.effect("serves deltas from the descriptor's incremental parameter, and writes shift live pages", () =>
    Effect.gen(function*() {
      const records = Array.from({ length: 20 }, (_, i) => gadget(i * 2))
      const sim = yield* Simulator.make({ pageSize: 5, served: [{ resource: gadgets, records }] })
      const before = (yield* request(sim, "/v2/gadgets")).body["versionId"] as string
      assert.strictEqual(before, yield* sim.served.versionId(gadgets))
      yield* sim.served.write(gadgets, { upsert: [gadget(1), { ...gadget(4), size: 99 }], remove: ["g0010"] })
      const after = yield* sim.served.versionId(gadgets)
      assert.notStrictEqual(after, before)
      const delta = yield* walk(sim, { sinceVersionId: before })
      assert.deepStrictEqual(delta.records.map((g) => g.gadgetId), ["g0001", "g0004"])
      assert.deepStrictEqual(delta.records, (yield* sim.served.changedSince(gadgets, before)) as ReadonlyArray<Gadget>)
      assert.deepStrictEqual((yield* walk(sim, { sinceVersionId: after })).records, [])
      const page0 = (yield* request(sim, "/v2/gadgets")).body["gadgets"] as ReadonlyArray<Gadget>
      assert.deepStrictEqual(page0.map((g) => g.gadgetId), ["g0000", "g0001", "g0002", "g0004", "g0006"])
      assert.strictEqual((yield* sim.served.records(gadgets)).length, 20)
      const unknown = yield* request(sim, "/v2/gadgets", { sinceVersionId: "not-a-version" })
      assert.deepStrictEqual([unknown.status, unknown.body["errorNumber"]], [400, 9721])
      const assetsVersion = (yield* request(sim, "/v2/assignments")).body["versionId"] as string
      const other = yield* request(sim, "/v2/gadgets", { sinceVersionId: assetsVersion })
      assert.deepStrictEqual([other.status, other.body["errorNumber"]], [400, 9721])
    }))

  it.effect("refuses a checkpoint for a resource without an incremental query (9602)", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ served: [{ resource: describeGadgets(false), records: [gadget(1)] }] })
      const version = (yield* request(sim, "/v2/gadgets")).body["versionId"] as string
      const { body, status } = yield* request(sim, "/v2/gadgets", { sinceVersionId: version })
      assert.deepStrictEqual([status, body["errorNumber"]], [400, 9602])
    }))

  it.effect("checks the token and injects faults on a served path like on Apple's", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ served: [{ resource: gadgets, records: [gadget(1)] }] })
      yield* sim.inject({ _tag: "Unavailable", retryAfter: { seconds: 1 } }, { path: "/v2/gadgets" })
      assert.strictEqual((yield* request(sim, "/v2/gadgets")).status, 503)
      assert.strictEqual((yield* request(sim, "/v2/gadgets")).status, 200)
      const anonymous = yield* sim.handle({ method: "GET", path: "/mdm/v2/gadgets", query: new URLSearchParams(), headers: {}, body: "" })
      assert.strictEqual(anonymous.status, 401)
      const log = yield* sim.log
      assert.deepStrictEqual(log.map((entry) => [entry.path, entry.status]), [["/v2/gadgets", 503], ["/v2/gadgets", 200], ["/v2/gadgets", 401]])
    }))

  it.effect("serves a cursor resource from its descriptor: keyset cursors over live data, filters, 9812", () =>
    Effect.gen(function*() {
      const cursorGadgets = { ...describeGadgets(false, "/v2/gadgets/cursored"), family: "cursor" as const }
      const records = Array.from({ length: 23 }, (_, i) => gadget(i))
      const sim = yield* Simulator.make({ pageSize: 4, served: [{ resource: cursorGadgets, records }] })
      const read = (params: Record<string, string>) =>
        Effect.gen(function*() {
          const seen: Array<Gadget> = []
          let cursor: string | undefined
          let pages = 0
          do {
            const { body, status }: { body: Record<string, any>; status: number } = yield* request(
              sim,
              "/v2/gadgets/cursored",
              cursor === undefined ? params : { ...params, cursor }
            )
            assert.strictEqual(status, 200, JSON.stringify(body))
            assert.strictEqual(body["versionId"], yield* sim.served.versionId(cursorGadgets))
            seen.push(...body["gadgets"])
            cursor = body["nextCursor"]
            // A write behind the cursor after the first page: the records after it are still served once.
            if (pages++ === 0) yield* sim.served.write(cursorGadgets, { upsert: [gadget(100)], remove: ["g0001"] })
          } while (cursor !== undefined)
          return { seen, pages }
        })
      const all = yield* read({})
      assert.deepStrictEqual(all.seen.map((g) => g.gadgetId), [...records.map((g) => g.gadgetId), "g0100"])
      assert.strictEqual(all.pages, 6)
      const shiny = yield* read({ shiny: "true" })
      const current = (yield* sim.served.records(cursorGadgets)) as ReadonlyArray<Gadget>
      assert.deepStrictEqual(shiny.seen, current.filter((g) => g.shiny))
      const refused = yield* request(sim, "/v2/gadgets/cursored", { cursor: "bm90LWEtY3Vyc29y" })
      assert.deepStrictEqual([refused.status, refused.body["errorNumber"]], [400, 9812])
    }))

  it.effect("refuses, as a defect, a served resource of another family or at a path or name already served", () =>
    Effect.gen(function*() {
      const legacy = { ...gadgets, family: "legacy" as const }
      const cursorWithDelta = { ...gadgets, family: "cursor" as const }
      const taken = describeGadgets(true, "/v2/users")
      const named = { ...gadgets, name: "users", path: "/v2/other" }
      for (const resource of [legacy, cursorWithDelta, taken, named]) {
        const exit = yield* Effect.exit(Simulator.make({ served: [{ resource, records: [] }] }))
        assert.isTrue(Exit.isFailure(exit) && !Exit.isInterrupted(exit), resource.path)
      }
      const sim = yield* Simulator.make()
      assert.isTrue(Exit.isFailure(yield* Effect.exit(sim.served.records(Resources.all[0]!))))
    }))
})
