import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"

/**
 * Decoding compiled from a schema's AST, for the client's hot path (issue 17): the same accept/reject and the
 * same output as `Schema.decodeUnknown` with the default parse options, without the `Either` per field and
 * the bookkeeping Schema's general parser allocates. The schema stays the single source of truth: the
 * compiled function is derived from its AST once, and the nodes it does not know are decoded by Schema's own
 * parser for that node. A failure is never reported from here: on any rejection the input is decoded again
 * with `Schema.decodeUnknown`, so that errors (their paths and messages) are Schema's own.
 *
 * Compiled natively, following `ParseResult`'s parser for each node (effect 3.22):
 * - `TypeLiteral` without index signatures, with at least one property signature: a non-null, non-array object;
 *   each property in the schema's order (an absent optional key is left out, an absent required key is decoded
 *   from `undefined`, as Schema does); excess properties dropped; a new object;
 * - `TupleType` that is an array (`Schema.Array`: no elements, one rest type): a new array of the decoded items;
 * - `Union` of natively compiled members none of which has a literal-valued required property (so Schema tries
 *   the members in order and answers the first that decodes);
 * - `StringKeyword`, `NumberKeyword`, `BooleanKeyword`, `UndefinedKeyword`, `UnknownKeyword`, `AnyKeyword`,
 *   `Literal`, `Enums`: the value itself when it matches.
 *
 * Everything else (refinements, transformations, classes, declarations, suspensions, template literals, nodes
 * with a `parseOptions` or `decodingFallback` annotation, unions over any of them) is decoded by
 * `ParseResult.decodeUnknownEither` of that node: Schema's parser, whose output the compiled parent takes as
 * Schema's parent would. Should such a node answer anything but a plain synchronous success or failure (an
 * effect, or a `Forbidden` issue: something only the effectful decoder can run), the whole input goes to
 * `Schema.decodeUnknown`.
 */

/** What a compiled node answers for input it rejects. */
export const invalid: unique symbol = Symbol.for("@vppkit/core/internal/decoder/invalid")

/** A compiled node: the decoded value, or {@link invalid}. */
export type Compiled = (input: unknown) => unknown

/** Thrown by a node that Schema's parser could only decode as an effect: the whole input takes the slow path. */
const bail: unique symbol = Symbol.for("@vppkit/core/internal/decoder/bail")

/**
 * `copy`: every struct and array of the output is new, as Schema builds it. `json`: for input that `JSON.parse`
 * has just made and that nothing else holds, a plain object or array of the input that already is what Schema
 * would build (its keys those of the output, in the schema's order; each value decoding to itself) is answered as
 * it is, not copied: the same output, without a second copy of every record (issue 17).
 */
type Mode = "copy" | "json"

const caches: Record<Mode, WeakMap<AST.AST, Compiled>> = { copy: new WeakMap(), json: new WeakMap() }

/**
 * The compiled decoder of an AST, made once per AST node: the decoded value (equal to what
 * `Schema.decodeUnknown` gives) or {@link invalid} when the input does not decode.
 */
export const compile = (ast: AST.AST): Compiled => compileTop(ast, "copy")

/**
 * {@link compile} for a value fresh from `JSON.parse` that nothing else holds: the same accept/reject and an equal
 * output (the same keys in the same order), in which the parts of the input that already are Schema's output are
 * the input's own objects and arrays.
 */
export const compileJson = (ast: AST.AST): Compiled => compileTop(ast, "json")

const compileTop = (ast: AST.AST, mode: Mode): Compiled => {
  const cached = caches[mode].get(ast)
  if (cached !== undefined) return cached
  const node = compileNode(ast, mode)
  const top: Compiled = (input) => {
    try {
      return node(input)
    } catch (error) {
      if (error === bail) return invalid
      throw error
    }
  }
  caches[mode].set(ast, top)
  return top
}

/**
 * `Schema.decodeUnknown(schema)` through the compiled decoder: the compiled one decides for valid input; input
 * it rejects is decoded by `Schema.decodeUnknown`, so the failure is Schema's own `ParseError`.
 */
export const decodeUnknown = <A, I>(
  schema: Schema.Schema<A, I, never>
): (input: unknown) => Effect.Effect<A, ParseResult.ParseError> => {
  const compiled = compile(schema.ast)
  const slow = Schema.decodeUnknown(schema)
  return (input) => {
    const value = compiled(input)
    return value === invalid ? slow(input) : Effect.succeed(value as A)
  }
}

/**
 * {@link decodeUnknown} for a body the client has just parsed with `JSON.parse` (see {@link compileJson}): the same
 * values, errors and accept/reject.
 */
export const decodeJson = <A, I>(
  schema: Schema.Schema<A, I, never>
): (json: unknown) => Effect.Effect<A, ParseResult.ParseError> => {
  const compiled = compileJson(schema.ast)
  return (json) => {
    const value = compiled(json)
    return value === invalid ? Schema.decodeUnknown(schema)(json) : Effect.succeed(value as A)
  }
}

/** {@link decodeUnknown} as an `Either` (tests and the bench). */
export const decodeUnknownEither = <A, I>(
  schema: Schema.Schema<A, I, never>
): (input: unknown) => Either.Either<A, ParseResult.ParseError> => {
  const compiled = compile(schema.ast)
  const slow = Schema.decodeUnknownEither(schema)
  return (input) => {
    const value = compiled(input)
    return value === invalid ? slow(input) : Either.right(value as A)
  }
}

/** Whether `ast` is compiled natively (not handed to Schema's parser): for tests that the hot path stays fast. */
export const isNative = (ast: AST.AST): boolean => native(ast, "copy") !== undefined

const hasOwn = Object.prototype.hasOwnProperty

const compileNode = (ast: AST.AST, mode: Mode): Compiled => native(ast, mode) ?? fallback(ast)

/** Schema's own parser for a node, as a compiled node. */
const fallback = (ast: AST.AST): Compiled => {
  const parse = ParseResult.decodeUnknownEither(Schema.make(ast))
  return (input) => {
    const result = parse(input)
    if (!Either.isEither(result)) throw bail
    if (Either.isRight(result)) return result.right
    if (needsEffects(result.left)) throw bail
    return invalid
  }
}

/** Whether an issue holds a `Forbidden` one: a decoding that needs the effectful decoder. */
const needsEffects = (issue: ParseResult.ParseIssue): boolean => {
  switch (issue._tag) {
    case "Forbidden":
      return true
    case "Type":
    case "Missing":
    case "Unexpected":
      return false
    case "Pointer":
    case "Refinement":
    case "Transformation":
      return needsEffects(issue.issue)
    case "Composite":
      return Array.isArray(issue.issues)
        ? issue.issues.some(needsEffects)
        : needsEffects(issue.issues as ParseResult.ParseIssue)
  }
}

/** Whether a node carries an annotation that changes how Schema's parser runs it. */
const annotatedParsing = (ast: AST.AST): boolean =>
  Option.isSome(AST.getParseOptionsAnnotation(ast)) || Option.isSome(AST.getDecodingFallbackAnnotation(ast))

const natives: Record<Mode, WeakMap<AST.AST, Compiled | null>> = { copy: new WeakMap(), json: new WeakMap() }

/** The native compilation of a node, or `undefined` when Schema's parser decodes it. */
const native = (ast: AST.AST, mode: Mode): Compiled | undefined => {
  const known = natives[mode].get(ast)
  if (known !== undefined) return known ?? undefined
  const compiled = annotatedParsing(ast) ? undefined : nativeNode(ast, mode)
  natives[mode].set(ast, compiled ?? null)
  return compiled
}

const nativeNode = (ast: AST.AST, mode: Mode): Compiled | undefined => {
  switch (ast._tag) {
    case "StringKeyword":
      return (input) => typeof input === "string" ? input : invalid
    case "NumberKeyword":
      return (input) => typeof input === "number" ? input : invalid
    case "BooleanKeyword":
      return (input) => typeof input === "boolean" ? input : invalid
    case "UndefinedKeyword":
      return (input) => input === undefined ? input : invalid
    case "UnknownKeyword":
    case "AnyKeyword":
      return (input) => input
    case "Literal": {
      const literal = ast.literal
      return (input) => input === literal ? input : invalid
    }
    case "Enums": {
      const values = ast.enums.map(([, value]) => value)
      return (input) => {
        for (let i = 0; i < values.length; i++) if (values[i] === input) return input
        return invalid
      }
    }
    case "TypeLiteral":
      return typeLiteral(ast, mode)
    case "TupleType":
      return array(ast, mode)
    case "Union":
      return union(ast, mode)
    default:
      return undefined
  }
}

const typeLiteral = (ast: AST.TypeLiteral, mode: Mode): Compiled | undefined => {
  // An empty struct is Schema's "not nullable" check; index signatures are Schema's alone.
  if (ast.indexSignatures.length > 0 || ast.propertySignatures.length === 0) return undefined
  if (ast.propertySignatures.some((ps) => typeof ps.name !== "string")) return undefined
  const names = ast.propertySignatures.map((ps) => ps.name as string)
  const optional = ast.propertySignatures.map((ps) => ps.isOptional)
  const fields = ast.propertySignatures.map((ps) => compileNode(ps.type, mode))
  const n = names.length
  /** Whether a plain object's keys are, in order, those Schema's output will have: no other, none missing. */
  const keysAsOutput = (record: object): boolean => {
    if (Object.getPrototypeOf(record) !== Object.prototype) return false
    let i = 0
    for (const key in record) {
      while (i < n && names[i] !== key) {
        // A required key absent here (or further on: out of order) is in the output here.
        if (!optional[i]) return false
        i++
      }
      // A key the schema does not have, or out of the schema's order.
      if (i === n) return false
      i++
    }
    for (; i < n; i++) if (!optional[i]) return false
    return true
  }
  return (input) => {
    if (typeof input !== "object" || input === null || Array.isArray(input)) return invalid
    const record = input as Record<string, unknown>
    // In `json` mode the input is the output as long as every field decodes to itself; the first that does
    // not starts the copy, with the fields before it.
    let output: Record<string, unknown> | undefined = mode === "json" && keysAsOutput(record) ? undefined : {}
    for (let i = 0; i < n; i++) {
      const name = names[i]!
      // As Schema: an absent optional key is left out; an absent required one is decoded from `undefined`.
      if (optional[i] && !hasOwn.call(record, name)) continue
      const given = record[name]
      const value = fields[i]!(given)
      if (value === invalid) return invalid
      if (output === undefined) {
        if (value === given) continue
        output = {}
        for (let j = 0; j < i; j++) if (hasOwn.call(record, names[j]!)) output[names[j]!] = record[names[j]!]
      }
      output[name] = value
    }
    return output ?? record
  }
}

const array = (ast: AST.TupleType, mode: Mode): Compiled | undefined => {
  if (ast.elements.length > 0 || ast.rest.length !== 1) return undefined
  const item = compileNode(ast.rest[0]!.type, mode)
  return (input) => {
    if (!Array.isArray(input)) return invalid
    const n = input.length
    // In `json` mode the input array is the output as long as every item decodes to itself.
    let output: Array<unknown> | undefined = mode === "json" ? undefined : new Array(n)
    for (let i = 0; i < n; i++) {
      const given: unknown = input[i]
      const value = item(given)
      if (value === invalid) return invalid
      if (output === undefined) {
        if (value === given) continue
        output = input.slice(0, i)
      }
      output[i] = value
    }
    return output ?? input
  }
}

const union = (ast: AST.Union, mode: Mode): Compiled | undefined => {
  const members: Array<Compiled> = []
  for (const member of ast.types) {
    // A member with a literal-valued required property makes Schema pick candidates by that literal first.
    if (hasLiteralKey(member)) return undefined
    const compiled = native(member, mode)
    if (compiled === undefined) return undefined
    members.push(compiled)
  }
  const n = members.length
  return (input) => {
    for (let i = 0; i < n; i++) {
      const value = members[i]!(input)
      if (value !== invalid) return value
    }
    return invalid
  }
}

/** Whether Schema's union parser would file a member under a literal key (its `getLiterals`), conservatively. */
const hasLiteralKey = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "TypeLiteral":
      return ast.propertySignatures.some((ps) => !ps.isOptional && AST.isLiteral(AST.encodedAST(ps.type)))
    case "TupleType":
      return ast.elements.some((e) => !e.isOptional && AST.isLiteral(AST.encodedAST(e.type)))
    case "Refinement":
    case "Suspend":
    case "Transformation":
    case "Declaration":
      return true
    default:
      return false
  }
}
