import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import * as Common from "../src/Common.js"

const values = ["Registered", "Associated", "Retired", "Deleted"] as const
const asLiteral = Schema.Literal(...values)
const asOneOf = Common.oneOf(...values)

// The type is the union of the values, as with Schema.Literal.
const sameType: typeof asLiteral.Type = null as unknown as typeof asOneOf.Type
const sameEncoded: typeof asOneOf.Encoded = null as unknown as typeof asLiteral.Encoded
void sameType
void sameEncoded

describe("Common.oneOf", () => {
  it.prop("decodes exactly what Schema.Literal of the same values decodes", [
    FastCheck.oneof(FastCheck.constantFrom(...values), FastCheck.string(), FastCheck.anything())
  ], ([input]) => {
    const expected = Schema.decodeUnknownEither(asLiteral)(input)
    const actual = Schema.decodeUnknownEither(asOneOf)(input)
    assert.strictEqual(Either.isRight(actual), Either.isRight(expected))
    if (Either.isRight(actual)) assert.strictEqual(actual.right, input)
  })

  it("names the values it expects when it refuses one", () => {
    const refused = Schema.decodeUnknownEither(Common.PricingParam)("GOLD")
    assert.isTrue(Either.isLeft(refused))
    if (Either.isLeft(refused)) {
      assert.include(refused.left.message, "STDQ")
      assert.include(refused.left.message, "PLUS")
      assert.include(refused.left.message, "GOLD")
    }
  })
})
