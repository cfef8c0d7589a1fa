import { assert, describe, it } from "@effect/vitest"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Asset from "../src/Asset.js"
import * as Assignment from "../src/Assignment.js"
import * as Cursor from "../src/Cursor.js"
import * as Decoder from "../src/internal/decoder.js"
import * as Legacy from "../src/Legacy.js"
import * as Page from "../src/Page.js"
import type * as Resource from "../src/Resource.js"
import * as Resources from "../src/Resources.js"
import * as SToken from "../src/SToken.js"
import * as VppClient from "../src/VppClient.js"
import type * as VppError from "../src/VppError.js"
import * as ScriptedHttp from "./utils/scriptedHttp.js"

/** The response envelope the client decodes for a resource: its family's, over its record schema. */
const envelopeOf = (resource: Resource.Any): Schema.Schema<any, any> => {
  switch (resource.family) {
    case "page-index":
      return Page.envelope(resource.field, resource.record, resource.also)
    case "cursor":
      return Cursor.envelope(resource.field, resource.record)
    case "legacy":
      return Legacy.envelope(resource.field, resource.record)
  }
}

/** Every schema the client's hot path decodes: each descriptor's records, its `also` records and its envelope. */
const schemas: ReadonlyArray<readonly [string, Schema.Schema<any, any>]> = Resources.all.flatMap((resource) => [
  [`${resource.name} record`, resource.record] as const,
  ...(resource.also === undefined ? [] : [[`${resource.name} ${resource.also.field} record`, resource.also.record] as const]),
  [`${resource.name} envelope`, envelopeOf(resource)] as const
])

type Json = unknown
type Segment = string | number

/** Every path into a JSON value (the root included), objects' keys and arrays' indexes. */
const pathsOf = (value: Json, at: ReadonlyArray<Segment> = []): Array<ReadonlyArray<Segment>> => {
  const paths: Array<ReadonlyArray<Segment>> = [at]
  if (Array.isArray(value)) value.forEach((item, i) => paths.push(...pathsOf(item, [...at, i])))
  else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) paths.push(...pathsOf(item, [...at, key]))
  }
  return paths
}

type Mutation =
  | { readonly _tag: "Delete" }
  | { readonly _tag: "Replace"; readonly value: Json }
  | { readonly _tag: "Extra"; readonly key: string; readonly value: Json }

/** Wrong values of every JSON type (and `undefined`, which a missing key reads as). */
const replacement = FastCheck.oneof(
  FastCheck.constantFrom<Json>(null, undefined, 0, -1, 1.5, "", "x", "STDQ", "Retired", true, false, [], {}, [1], { a: 1 }),
  FastCheck.jsonValue()
)

const mutation: FastCheck.Arbitrary<Mutation> = FastCheck.oneof(
  FastCheck.constant<Mutation>({ _tag: "Delete" }),
  replacement.map((value): Mutation => ({ _tag: "Replace", value })),
  FastCheck.record({
    key: FastCheck.oneof(FastCheck.constantFrom("extra", "adamId", "toString", "constructor"), FastCheck.string()),
    value: replacement
  }).map(({ key, value }): Mutation => ({ _tag: "Extra", key, value }))
)

/** One more field in an object, one more item in an array (JSON has no named properties on arrays). */
const addExtra = (target: Json, extra: { readonly key: string; readonly value: Json }): void => {
  if (Array.isArray(target)) target.push(extra.value)
  else if (typeof target === "object" && target !== null) (target as Record<string, Json>)[extra.key] = extra.value
}

/** A copy of `value` with `mutation` applied at `path` (deleting the root replaces it by `undefined`). */
const mutate = (value: Json, path: ReadonlyArray<Segment>, mutation: Mutation): Json => {
  const copy = structuredClone(value)
  if (path.length === 0) {
    switch (mutation._tag) {
      case "Delete":
        return undefined
      case "Replace":
        return mutation.value
      case "Extra":
        addExtra(copy, mutation)
        return copy
    }
  }
  let parent = copy as Record<Segment, Json>
  for (const segment of path.slice(0, -1)) parent = parent[segment] as Record<Segment, Json>
  const last = path[path.length - 1]!
  switch (mutation._tag) {
    case "Delete":
      if (Array.isArray(parent)) parent.splice(last as number, 1)
      else delete parent[last]
      break
    case "Replace":
      parent[last] = mutation.value
      break
    case "Extra": {
      const target = parent[last]
      if (typeof target === "object" && target !== null) addExtra(target, mutation)
      else parent[last] = { [mutation.key]: mutation.value }
    }
  }
  return copy
}

/** The keys of a value and of everything in it, in order: equal outputs must also print alike. */
const keyOrder = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(keyOrder)
    : typeof value === "object" && value !== null
    ? Object.entries(value).map(([key, item]) => [key, keyOrder(item)])
    : null

/** The compiled decoder agrees with `Schema.decodeUnknown` on `input`: accept/reject, output, key order, error. */
const agree = (schema: Schema.Schema<any, any>, input: unknown): boolean => {
  const expected = Schema.decodeUnknownEither(schema)(input)
  const compiled = Decoder.compile(schema.ast)(input)
  assert.strictEqual(compiled !== Decoder.invalid, Either.isRight(expected), "the same accept/reject")
  const actual = Decoder.decodeUnknownEither(schema)(input)
  if (Either.isRight(expected)) {
    assert.isTrue(Either.isRight(actual))
    if (Either.isRight(actual)) {
      assert.deepStrictEqual(actual.right, expected.right)
      assert.deepStrictEqual(keyOrder(actual.right), keyOrder(expected.right))
    }
  } else {
    assert.isTrue(Either.isLeft(actual))
    if (Either.isLeft(actual)) {
      assert.strictEqual(actual.left.message, expected.left.message)
      assert.deepStrictEqual(
        ParseResult.ArrayFormatter.formatErrorSync(actual.left),
        ParseResult.ArrayFormatter.formatErrorSync(expected.left)
      )
    }
  }
  // For JSON (what the client decodes): the JSON mode agrees too, whether or not it keeps the input's own objects.
  const text = JSON.stringify(input) as string | undefined
  if (text !== undefined) {
    const json: unknown = JSON.parse(text)
    const fromJson = Schema.decodeUnknownEither(schema)(JSON.parse(text))
    const kept = Decoder.compileJson(schema.ast)(json)
    assert.strictEqual(kept !== Decoder.invalid, Either.isRight(fromJson), "the same accept/reject from JSON")
    if (Either.isRight(fromJson) && kept !== Decoder.invalid) {
      assert.deepStrictEqual(kept, fromJson.right)
      assert.deepStrictEqual(keyOrder(kept), keyOrder(fromJson.right))
    }
    assert.strictEqual(JSON.stringify(json), text, "the input is left as it was")
  }
  return Either.isRight(expected)
}

describe("the compiled decoder", () => {
  it("compiles every record schema natively (no record goes through Schema's parser)", () => {
    for (const resource of Resources.all) {
      assert.isTrue(Decoder.isNative(resource.record.ast), resource.name)
      if (resource.also !== undefined) assert.isTrue(Decoder.isNative(resource.also.record.ast), resource.name)
      assert.isTrue(Decoder.isNative(envelopeOf(resource).ast), `${resource.name} envelope`)
    }
  })

  for (const [name, schema] of schemas) {
    // Valid values: the schema's own arbitrary, encoded (what Apple sends), in and out of JSON.
    const valid = Arbitrary.make(schema).map((value) => Schema.encodeSync(schema)(value) as Json)

    it.prop(`${name}: valid input decodes to the same value`, [valid], ([input]) => {
      assert.isTrue(agree(schema, input))
      // Through JSON (an infinite count becomes null there: then refused by both).
      agree(schema, JSON.parse(JSON.stringify(input)))
    })

    const mutated = valid.chain((input) =>
      FastCheck.array(FastCheck.tuple(FastCheck.constantFrom(...pathsOf(input)), mutation), { minLength: 1, maxLength: 3 })
        .map((mutations) => {
          let value = input
          for (const [path, change] of mutations) {
            try {
              value = mutate(value, path, change)
            } catch {
              // the path no longer exists after an earlier mutation
            }
          }
          return value
        })
    )

    it.prop(
      `${name}: mutated input (a field deleted, replaced by a wrong type or null, extra fields, nested) is accepted or refused alike`,
      [mutated],
      ([input]) => {
        agree(schema, input)
      }
    )

    it(`${name}: the mutations give both valid and invalid input`, () => {
      const decided = FastCheck.sample(mutated, { numRuns: 300, seed: 17 }).map((input) => agree(schema, input))
      assert.isTrue(decided.includes(true) && decided.includes(false))
    })
  }

  it.prop("anything at all is accepted or refused alike", [FastCheck.anything()], ([input]) => {
    for (const [, schema] of schemas) agree(schema, input)
  })

  it("refuses, as Schema does, what a mutation test might miss", () => {
    const cases: ReadonlyArray<readonly [Schema.Schema<any, any>, unknown]> = [
      [Assignment.Assignment, { adamId: "1", pricingParam: undefined }],
      [Assignment.Assignment, { adamId: "1", pricingParam: "GOLD" }],
      [Assignment.Assignment, [{ adamId: "1" }]],
      [Assignment.Assignment, Object.create({ adamId: "1" })],
      [Asset.Asset, { adamId: "1", pricingParam: "STDQ", supportedPlatforms: ["iOS", 3] }],
      [Page.envelope("assets", Asset.Asset), { currentPageIndex: 0, totalPages: 1, versionId: "v", assets: undefined }],
      [Page.envelope("assets", Asset.Asset), { currentPageIndex: 0, totalPages: 1, versionId: "v", mdmInfo: { id: 1 } }],
      [Legacy.envelope("licenses", Legacy.VppLicense), { totalBatchCount: "-1" }],
      [Legacy.envelope("licenses", Legacy.VppLicense), { totalBatchCount: "2", licenses: [{ licenseId: "1" }] }]
    ]
    const decided = cases.map(([schema, input]) => agree(schema, input))
    // An object whose prototype holds the field: Schema reads it there too.
    assert.deepStrictEqual(decided, [false, false, false, true, false, true, false, false, false])
    // Schema's transformations run where the decoder hands a node to it: the string count becomes a number.
    const legacy = Decoder.decodeUnknownEither(Legacy.envelope("licenses", Legacy.VppLicense))({ totalBatchCount: "2" })
    assert.deepStrictEqual(Either.map(legacy, (body) => body.totalBatchCount), Either.right(2))
  })
})

describe("the compiled decoder on JSON", () => {
  it.effect("keeps a page's records as JSON.parse made them when they are already Schema's output", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ records: { assignments: 50 } })
      const records = yield* simulator.records("assignments")
      const schema = Page.envelope("assignments", Assignment.Assignment)
      const text = JSON.stringify({ currentPageIndex: 0, totalPages: 1, versionId: "v1", assignments: records })
      const json = JSON.parse(text) as { readonly assignments: ReadonlyArray<unknown> }
      const decoded = Decoder.compileJson(schema.ast)(json) as { readonly assignments: ReadonlyArray<unknown> }
      assert.strictEqual(decoded.assignments, json.assignments)
      assert.deepStrictEqual<unknown>(decoded, Schema.decodeUnknownSync(schema)(JSON.parse(text)))
    }))

  it("copies what is not Schema's output yet: an extra key, another order, a required key missing", () => {
    const decode = Decoder.compileJson(Schema.Array(Assignment.Assignment).ast)
    const same = { adamId: "1", pricingParam: "STDQ", serialNumber: "S" }
    const cases: ReadonlyArray<unknown> = [
      { adamId: "1", pricingParam: "STDQ", extra: true },
      { serialNumber: "S", adamId: "1" },
      { adamId: "1", nested: { adamId: "2" } }
    ]
    for (const input of cases) {
      const json = JSON.parse(JSON.stringify([same, input])) as ReadonlyArray<unknown>
      const decoded = decode(json) as ReadonlyArray<unknown>
      const expected = Schema.decodeUnknownSync(Schema.Array(Assignment.Assignment))(json)
      assert.notStrictEqual(decoded, json)
      assert.strictEqual(decoded[0], json[0])
      assert.notStrictEqual(decoded[1], json[1])
      assert.deepStrictEqual(keyOrder(decoded), keyOrder(expected))
    }
    // A required key missing is refused, as Schema does.
    assert.strictEqual(decode(JSON.parse(`[{"pricingParam":"STDQ"}]`)), Decoder.invalid)
  })
})

const token = SToken.make({ secret: "DECODER-TEST", orgName: "Decoder", expiresAt: new Date("2031-01-01T00:00:00Z") })

describe("a bad field in a real page", () => {
  it.effect("fails the traversal with a DecodeError naming its path", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ records: { assignments: 1000 } })
      const records = (yield* simulator.records("assignments")) as ReadonlyArray<Record<string, unknown>>
      assert.strictEqual(records.length, 1000)
      const page = (assignments: ReadonlyArray<unknown>) => ({
        body: { currentPageIndex: 0, totalPages: 1, versionId: "v1", assignments }
      })
      const run = (assignments: ReadonlyArray<unknown>) =>
        Resources.traverse(Assignment.resource).records.pipe(
          Stream.runCollect,
          Effect.provide(VppClient.layer({ token, baseUrl: "https://vpp.test/mdm", maxRequestsPerSecond: Infinity })),
          Effect.provide(ScriptedHttp.make([page(assignments)]).layer)
        )

      // The page as the simulator serves it decodes to the same records.
      const ok = yield* run(records)
      assert.deepStrictEqual([...ok], records)

      const bad = records.map((record, i) => i === 737 ? { ...record, userStatus: "Gone" } : record)
      const error = yield* Effect.flip(run(bad))
      assert.strictEqual(error._tag, "DecodeError")
      const decodeError = error as VppError.DecodeError
      assert.strictEqual(decodeError.kind, "schema")
      assert.strictEqual(decodeError.path, "$.assignments[737].userStatus")
      assert.include(decodeError.reason, "Gone")
    }))
})
