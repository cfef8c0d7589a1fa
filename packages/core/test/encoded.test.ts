import { assert, describe, it } from "@effect/vitest"
import * as Assignment from "@vppkit/core/Assignment"
import * as Asset from "@vppkit/core/Asset"
import * as Legacy from "@vppkit/core/Legacy"
import * as Subscription from "@vppkit/core/Subscription"
import * as Traversal from "@vppkit/core/Traversal"
import * as User from "@vppkit/core/User"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { encoded, encodesAsDecoded } from "../src/internal/encoded.js"

/** A traversal of one page holding `records`. */
const onePage = <A>(records: ReadonlyArray<A>): Traversal.Traversal<A, never, never> =>
  Traversal.make((onPage) =>
    Effect.as(onPage({ records, index: 0, total: 1, versionId: "v1" }), {
      checkpoint: "v1",
      consistency: "consistent",
      pages: 1,
      records: records.length,
      retries: 0,
      passes: 1
    })
  )

/** Every record a traversal delivers, through `records`, `pages` and `run`. */
const deliveries = <A, E>(traversal: Traversal.Traversal<A, E, never>) =>
  Effect.gen(function*() {
    const viaRecords = Chunk.toReadonlyArray(yield* Stream.runCollect(traversal.records))
    const viaPages = Chunk.toReadonlyArray(yield* Stream.runCollect(traversal.pages)).flatMap((page) => page.records)
    const viaRun: Array<A> = []
    yield* traversal.run((page) => Effect.sync(() => void viaRun.push(...page.records)))
    return [viaRecords, viaPages, viaRun]
  })

class Dated extends Schema.Class<Dated>("Dated")({ at: Schema.Date }) {}

describe("encoded", () => {
  it("the record schemas need no encoding: their encoded side is their type side", () => {
    for (
      const schema of [
        Asset.Asset,
        Assignment.Assignment,
        User.User,
        Subscription.Subscription,
        Subscription.SubscriptionAssignment,
        Subscription.SubscriptionAdmin,
        Legacy.VppLicense,
        Legacy.VppUser
      ]
    ) assert.isTrue(encodesAsDecoded(schema as Schema.Schema.AnyNoContext), String(schema.ast))
  })

  it("a schema with a transformation or a refinement anywhere is encoded", () => {
    const transformed: ReadonlyArray<Schema.Schema.AnyNoContext> = [
      Schema.Struct({ n: Schema.NumberFromString }),
      Schema.Struct({ items: Schema.Array(Schema.Struct({ n: Schema.NumberFromString })) }),
      Schema.Struct({ a: Schema.optionalWith(Schema.String, { default: () => "" }) }),
      Schema.Struct({ a: Schema.String.pipe(Schema.propertySignature, Schema.fromKey("b")) }),
      Schema.Struct({ a: Schema.optionalWith(Schema.String, { nullable: true }) }),
      Schema.Struct({ a: Schema.String.pipe(Schema.minLength(1)) }),
      Legacy.TotalBatchCount,
      Dated
    ]
    for (const schema of transformed) assert.isFalse(encodesAsDecoded(schema), String(schema.ast))
  })

  it.effect("records of a schema with a transformation come out encoded", () =>
    Effect.gen(function*() {
      const schema = Schema.Struct({ id: Schema.NumberFromString, tags: Schema.optional(Schema.Array(Schema.String)) })
      const decoded = Schema.decodeUnknownSync(Schema.Array(schema))([{ id: "1", tags: ["a"] }, { id: "2" }])
      for (const records of yield* deliveries(encoded(onePage(decoded), schema))) {
        assert.deepStrictEqual(records, [{ id: "1", tags: ["a"] }, { id: "2" }])
      }
      const at = new Date("2030-01-02T03:04:05.000Z")
      for (const records of yield* deliveries(encoded(onePage([new Dated({ at })]), Dated))) {
        assert.deepStrictEqual(records, [{ at: "2030-01-02T03:04:05.000Z" }])
      }
    }))

  it.effect("records of a schema without one are passed on as they are", () =>
    Effect.gen(function*() {
      const decoded = Schema.decodeUnknownSync(Schema.Array(Assignment.Assignment))([
        { adamId: "1", pricingParam: "STDQ", clientUserId: "u1", extra: "dropped when decoded" },
        { adamId: "2", serialNumber: "S2" }
      ])
      for (const records of yield* deliveries(encoded(onePage(decoded), Assignment.Assignment))) {
        assert.strictEqual(records.length, 2)
        records.forEach((record, i) => assert.strictEqual(record, decoded[i]))
        assert.deepStrictEqual(records, Schema.encodeSync(Schema.Array(Assignment.Assignment))(decoded))
      }
    }))
})
