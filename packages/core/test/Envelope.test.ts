import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Assignment from "../src/Assignment.js"
import * as Cursor from "../src/Cursor.js"
import * as Legacy from "../src/Legacy.js"
import * as Page from "../src/Page.js"
import * as SToken from "../src/SToken.js"
import * as VppClient from "../src/VppClient.js"
import { collect, runWithTime } from "./support/traversal.js"
import * as ScriptedHttp from "./utils/scriptedHttp.js"

/** A record schema that counts how many times its records are checked. */
const counting = () => {
  let checks = 0
  const record = Schema.Struct({
    id: Schema.String.pipe(Schema.filter(() => {
      checks++
      return true
    }))
  })
  return { record, checks: () => checks }
}

const items = [{ id: "a" }, { id: "b" }, { id: "c" }]
const pageFields = { currentPageIndex: 0, totalPages: 1, versionId: "v1" }

const token = SToken.make({ secret: "ENVELOPE-TEST", orgName: "Envelope", expiresAt: new Date("2031-01-01T00:00:00Z") })
const scripted = (replies: ReadonlyArray<ScriptedHttp.Reply>) => {
  const http = ScriptedHttp.make(replies)
  return {
    http,
    provide: <A, E>(effect: Effect.Effect<A, E, VppClient.VppClient>) =>
      effect.pipe(
        Effect.provide(VppClient.layer({ token, baseUrl: "https://vpp.test/mdm", maxRequestsPerSecond: Infinity })),
        Effect.provide(http.layer)
      )
  }
}

describe("envelopes", () => {
  // A struct with a transformation of its own (a default, a renamed key, a `nullable` field) is decoded in
  // two passes, the second checking every record again: the envelopes have none.
  it("each envelope checks each record once", () => {
    const page = counting()
    const body = Schema.decodeUnknownSync(Page.envelope("items", page.record))({ ...pageFields, items })
    assert.deepStrictEqual(Page.fromEnvelope("items", body).records, items)
    assert.strictEqual(page.checks(), 3)

    const cursor = counting()
    Schema.decodeUnknownSync(Cursor.envelope("items", cursor.record))({ nextCursor: null, versionId: "v1", items })
    assert.strictEqual(cursor.checks(), 3)

    const legacy = counting()
    Schema.decodeUnknownSync(Legacy.envelope("items", legacy.record))({ status: 0, batchToken: null, sinceModifiedToken: "s", items })
    assert.strictEqual(legacy.checks(), 3)
  })

  it("a page without its records array has no records", () => {
    const body = Schema.decodeUnknownSync(Page.envelope("assignments", Assignment.Assignment))(pageFields)
    const page = Page.fromEnvelope<Assignment.Assignment>("assignments", body)
    assert.deepStrictEqual(page.records, [])
    assert.strictEqual(page.versionId, "v1")
  })

  it("records keep only the schema's fields, and a wrong type fails the page", () => {
    const envelope = Page.envelope("assignments", Assignment.Assignment)
    const body = Schema.decodeUnknownSync(envelope)({
      ...pageFields,
      assignments: [{ adamId: "1", pricingParam: "STDQ", serialNumber: "S1", extra: true }]
    })
    assert.deepStrictEqual(Page.fromEnvelope("assignments", body).records, [
      { adamId: "1", pricingParam: "STDQ", serialNumber: "S1" }
    ])
    assert.isTrue(Schema.decodeUnknownEither(envelope)({ ...pageFields, assignments: [{ adamId: 1 }] })._tag === "Left")
  })

  it.effect("cursor: a null nextCursor ends the traversal; a response without its array has no records", () =>
    Effect.gen(function*() {
      const assignment = { adamId: 1, clientUserId: "u1", renewing: true }
      const { http, provide } = scripted([
        { body: { nextCursor: "c1", versionId: "v1", assignments: [assignment] } },
        { body: { nextCursor: null, versionId: "v1" } }
      ])
      const { outcome, pages, records } = yield* provide(collect(Cursor.subscriptionAssignments()))
      assert.deepStrictEqual(records, [assignment])
      assert.deepStrictEqual(pages.map((page) => page.records.length), [1, 0])
      assert.strictEqual(outcome.consistency, "consistent")
      assert.strictEqual(outcome.checkpoint, "v1")
      assert.deepStrictEqual(http.requests().map((request) => request.params.get("cursor")), [null, "c1"])
    }))

  it.effect("legacy: tokens sent as null count as absent", () =>
    Effect.gen(function*() {
      const license = { licenseIdStr: "L1", adamId: 5, status: "Associated" } as const
      const { http, provide } = scripted([
        // Neither token: the same request again.
        { body: { status: 0, batchToken: null, sinceModifiedToken: null, licenses: [license] } },
        { body: { status: 0, batchToken: "b1", sinceModifiedToken: null, licenses: [license] } },
        { body: { status: 0, batchToken: null, sinceModifiedToken: "smt" } }
      ])
      const { outcome, records } = yield* provide(runWithTime(collect(Legacy.licenses())))
      assert.deepStrictEqual(records, [license])
      assert.strictEqual(outcome.checkpoint, "smt")
      assert.strictEqual(outcome.pages, 2)
      assert.strictEqual(outcome.retries, 1)
      const bodies = http.requests().map((request) => JSON.parse(request.body) as { readonly batchToken?: string })
      assert.deepStrictEqual(bodies.map((body) => body.batchToken), [undefined, undefined, "b1"])
    }))
})
