/**
 * A resource of Apple's API described once: its path, pagination family, records field(s), record schema,
 * filter schema, natural key and incremental query. Everything else is derived from the descriptor: the
 * paginators (`Resources.traverse`), the simulator's routes, the CLI's flags and help, and the store's
 * columns ({@link columns}), so adding an endpoint is adding a descriptor.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import type { UrlParams } from "./VppClient.js"

/**
 * How Apple pages the endpoint: `page-index` (v2 `pageIndex`/`totalPages`), `cursor` (v2 `nextCursor`) or
 * `legacy` (v1 batches with `batchToken` / `overrideIndex`).
 *
 * @since 0.1.0
 * @category models
 */
export type Family = "page-index" | "cursor" | "legacy"

/**
 * The incremental query of a resource: the request parameter that takes a checkpoint and the response field
 * that gives the next one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delta {
  /** `sinceVersionId` (v2) or `sinceModifiedToken` (legacy). */
  readonly param: string
  /** `versionId` (v2) or `sinceModifiedToken` (legacy). */
  readonly checkpoint: string
}

/**
 * A second records array of a page whose records are delivered as the resource's, after the page's others
 * (Get Assets' `unlimitedAssets`).
 *
 * @since 0.1.0
 * @category models
 */
export interface AlsoRecords<A, B = any> {
  readonly field: string
  readonly record: Schema.Schema<B, any>
  readonly toRecord: (record: B) => A
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Resource<A, I = A, F = any, FI = any> {
  /** The name users type (`assets`, `legacy-licenses`). */
  readonly name: string
  /** One line for help: what the records are. */
  readonly description: string
  readonly family: Family
  /** The path after the base URL: `/v2/assets`, `/getVPPLicensesSrv`. */
  readonly path: string
  /** The records array of the response. */
  readonly field: string
  /** The schema of one record. */
  readonly record: Schema.Schema<A, I>
  /** A second records array delivered as this resource's records (page-index only). */
  readonly also?: AlsoRecords<A> | undefined
  /**
   * The query filters: a struct of optional fields, each named as Apple's API names it, with a `description`
   * annotation. Its encoded side is what is sent (query parameters, or the legacy request body).
   */
  readonly filters: Schema.Schema<F, FI>
  /** The filters a sync asks for: the whole data set as the API defines it (retired entries included). */
  readonly syncFilters: F
  /** The natural key of a record. */
  readonly key: (record: A) => string
  /** How the natural key is made, for the README and help. */
  readonly keyDescription: string
  /** The incremental query, when Apple has one for this resource. */
  readonly delta?: Delta | undefined
  /** The fields people look for first, for a narrow table (default: the first six). */
  readonly briefFields?: ReadonlyArray<string> | undefined
}

/**
 * A resource of any record and filter types.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any extends Resource<any, any, any, any> {}

/**
 * The record type of a resource.
 *
 * @since 0.1.0
 * @category models
 */
export type Record<R> = R extends Resource<infer A, any, any, any> ? A : never

/**
 * The filters type of a resource.
 *
 * @since 0.1.0
 * @category models
 */
export type Filters<R> = R extends Resource<any, any, infer F, any> ? F : never

/**
 * Describes a resource (the identity function, for inference).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I, F, FI>(resource: Resource<A, I, F, FI>): Resource<A, I, F, FI> => resource

/**
 * A column of a resource's table: a field of the record as Apple's JSON has it, and how it is stored: `text`,
 * `integer`, `real`, `boolean` (0/1) or `json` (arrays and objects, as JSON text).
 *
 * @since 0.1.0
 * @category models
 */
export interface Field {
  readonly name: string
  readonly type: "text" | "integer" | "real" | "boolean" | "json"
}

/** The AST without `null`/`undefined` members, refinements and suspensions. */
const unwrap = (ast: AST.AST): AST.AST => {
  switch (ast._tag) {
    case "Refinement":
      return unwrap(ast.from)
    case "Suspend":
      return unwrap(ast.f())
    case "Union": {
      const members = ast.types.filter((member) => !AST.isUndefinedKeyword(member) && !isNullLiteral(member))
      return members.length === 1 ? unwrap(members[0]!) : AST.Union.make(members.map(unwrap))
    }
    default:
      return ast
  }
}

const isNullLiteral = (ast: AST.AST): boolean => AST.isLiteral(ast) && ast.literal === null

/** Whether a refinement on the way down is an integer check (`Schema.Int` and its kin). */
const isInteger = (ast: AST.AST): boolean => {
  if (ast._tag === "Refinement") {
    const id = Option.getOrUndefined(AST.getSchemaIdAnnotation(ast))
    return id === Schema.IntSchemaId || isInteger(ast.from)
  }
  if (ast._tag === "Suspend") return isInteger(ast.f())
  if (ast._tag === "Union") return ast.types.some(isInteger)
  return false
}

/** The kind of value an AST holds, once `null`/`undefined` are set aside. */
type Kind = "string" | "number" | "integer" | "boolean" | "strings" | "numbers" | "json"

const kindOf = (ast: AST.AST): Kind => {
  const bare = unwrap(ast)
  switch (bare._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return "string"
    case "NumberKeyword":
      return isInteger(ast) ? "integer" : "number"
    case "BooleanKeyword":
      return "boolean"
    case "Literal":
      return typeof bare.literal === "string"
        ? "string"
        : typeof bare.literal === "number"
        ? "number"
        : typeof bare.literal === "boolean"
        ? "boolean"
        : "json"
    case "Enums":
      return bare.enums.every(([, value]) => typeof value === "string") ? "string" : "number"
    case "Union": {
      const kinds = new Set(bare.types.map(kindOf))
      return kinds.size === 1 ? [...kinds][0]! : "json"
    }
    case "TupleType": {
      if (bare.elements.length === 0 && bare.rest.length === 1) {
        const element = kindOf(bare.rest[0]!.type)
        return element === "string" ? "strings" : element === "number" || element === "integer" ? "numbers" : "json"
      }
      return "json"
    }
    default:
      return "json"
  }
}

/** The choices of a string enumeration or union of string literals, if the AST is one. */
const choicesOf = (ast: AST.AST): ReadonlyArray<string> | undefined => {
  const bare = unwrap(ast)
  if (bare._tag === "Enums") return bare.enums.map(([, value]) => String(value))
  if (bare._tag === "Literal" && typeof bare.literal === "string") return [bare.literal]
  if (bare._tag === "Union" && bare.types.every((t) => AST.isLiteral(t) && typeof t.literal === "string")) {
    return bare.types.map((t) => String((t as AST.Literal).literal))
  }
  return undefined
}

/** The property signatures of a struct schema's side (the type side of a transformation or refinement). */
const propertiesOf = (ast: AST.AST): ReadonlyArray<AST.PropertySignature> => {
  switch (ast._tag) {
    case "TypeLiteral":
      return ast.propertySignatures
    case "Refinement":
      return propertiesOf(ast.from)
    case "Suspend":
      return propertiesOf(ast.f())
    case "Transformation":
      return propertiesOf(ast.to)
    default:
      throw new TypeError(`a resource's record and filters must be struct schemas, not ${ast._tag}`)
  }
}

const columnType = (ast: AST.AST): Field["type"] => {
  switch (kindOf(ast)) {
    case "string":
      return "text"
    case "integer":
      return "integer"
    // Apple's numbers are counts and ids: whole numbers. A field that can hold fractions says so with a
    // `vppkit/column: "real"` annotation.
    case "number":
      return realAnnotation(ast) ? "real" : "integer"
    case "boolean":
      return "boolean"
    default:
      return "json"
  }
}

/**
 * The annotation that stores a number field as `real` (fractions) instead of `integer`.
 *
 * @since 0.1.0
 * @category annotations
 */
export const RealColumnId: unique symbol = Symbol.for("@vppkit/core/Resource/RealColumn")

const realAnnotation = (ast: AST.AST): boolean => ast.annotations[RealColumnId] === true

const fieldsCache = new WeakMap<Any, ReadonlyArray<Field>>()

/**
 * The columns of a resource's table: one per field of the record schema as Apple's JSON has it (its encoded
 * side), in the schema's order, typed from the schema: strings and string enumerations are `text`, numbers
 * `integer` (`real` when annotated with {@link RealColumnId}), booleans `boolean`, arrays and objects `json`.
 *
 * @since 0.1.0
 * @category derivations
 */
export const columns = (resource: Any): ReadonlyArray<Field> => {
  let fields = fieldsCache.get(resource)
  if (fields === undefined) {
    fields = propertiesOf(AST.encodedAST(resource.record.ast)).flatMap((property) =>
      typeof property.name === "string" ? [{ name: property.name, type: columnType(property.type) }] : []
    )
    fieldsCache.set(resource, fields)
  }
  return fields
}

/**
 * A filter of a resource: the name Apple's API gives it, its kind, its choices (a string enumeration), and the
 * `description` annotation of its schema field. `integers` and `strings` are array parameters (repeatable).
 *
 * @since 0.1.0
 * @category models
 */
export interface Filter {
  readonly name: string
  readonly type: "string" | "boolean" | "integer" | "integers" | "strings"
  readonly choices?: ReadonlyArray<string> | undefined
  readonly description: string
}

const filterType = (ast: AST.AST, name: string): Filter["type"] => {
  switch (kindOf(ast)) {
    case "string":
      return "string"
    case "boolean":
      return "boolean"
    case "integer":
    case "number":
      return "integer"
    case "strings":
      return "strings"
    case "numbers":
      return "integers"
    default:
      throw new TypeError(`filter ${name}: a filter is a string, a boolean, a number or an array of them`)
  }
}

/** The `description` annotation of a property, of its type, or of its type's one member besides `undefined`. */
const descriptionOf = (property: AST.Annotated, ast: AST.AST): Option.Option<string> =>
  AST.getDescriptionAnnotation(property).pipe(
    Option.orElse(() => AST.getDescriptionAnnotation(ast)),
    Option.orElse(() => {
      if (ast._tag !== "Union") return Option.none()
      const members = ast.types.filter((member) => !AST.isUndefinedKeyword(member))
      return members.length === 1 ? AST.getDescriptionAnnotation(members[0]!) : Option.none()
    })
  )

const filtersCache = new WeakMap<Any, ReadonlyArray<Filter>>()

/**
 * The filters of a resource, from its filter schema's type side, in the schema's order.
 *
 * @since 0.1.0
 * @category derivations
 */
export const filters = (resource: Any): ReadonlyArray<Filter> => {
  let found = filtersCache.get(resource)
  if (found === undefined) {
    found = propertiesOf(AST.typeAST(resource.filters.ast)).flatMap((property) => {
      if (typeof property.name !== "string") return []
      const description = Option.getOrElse(descriptionOf(property, property.type), () => "")
      const choices = choicesOf(property.type)
      return [{
        name: property.name,
        type: filterType(property.type, property.name),
        ...(choices !== undefined ? { choices } : {}),
        description
      }]
    })
    filtersCache.set(resource, found)
  }
  return found
}

/**
 * The request parameters of filter values: the filter schema's encoded side, with absent filters left out.
 *
 * @since 0.1.0
 * @category derivations
 */
export const encodeFilters = <F>(resource: Resource<any, any, F, any>, values: F): UrlParams => {
  const encoded = Schema.encodeSync(resource.filters)(values) as UrlParams
  const params: globalThis.Record<string, UrlParams[string]> = {}
  for (const [name, value] of Object.entries(encoded)) if (value !== undefined) params[name] = value
  return params
}
