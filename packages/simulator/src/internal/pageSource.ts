import * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { Organisation, PageResource } from "./organisation.js"
import { InvalidArgument, type Query, select, type Selection } from "./pageIndex.js"
import { ResourceStore } from "./store.js"

/**
 * A page-index endpoint's data as the serving sees it: the descriptor it answers for (path, records field,
 * incremental query), the store of its records (key order, versions, tombstones) and how a query selects and
 * renders them.
 */
export interface PageSource {
  readonly descriptor: Resource.Any
  readonly store: ResourceStore<any>
  readonly select: (query: Query) => Selection<any>
}

const modelled: ReadonlySet<string> = new Set<PageResource>(["assets", "assignments", "users"])

/**
 * The page-index resources of `Resources.all`, each over the organisation's model of it (its filters, its
 * rendering). A page-index descriptor without a model is a programming error: thrown.
 */
export const modelledSources = (organisation: Organisation): ReadonlyArray<PageSource> =>
  Resources.all.filter((descriptor) => descriptor.family === "page-index").map((descriptor) => {
    if (!modelled.has(descriptor.name)) {
      throw new TypeError(`the simulator has no model of the page-index resource ${descriptor.name}`)
    }
    const resource = descriptor.name as PageResource
    return { descriptor, store: organisation.store(resource), select: (query) => select(organisation, resource, query) }
  })

/**
 * A resource served from its descriptor and records alone (the simulator's `served` setting).
 *
 * @since 0.1.0
 */
export interface Served<A = any> {
  readonly resource: Resource.Resource<A, any, any, any>
  /** Its records (the record schema's type side); kept by the descriptor's `key`, the first of a key wins. */
  readonly records: ReadonlyArray<A>
}

const matches = (value: unknown, accepted: ReadonlySet<string>): boolean =>
  Array.isArray(value)
    ? value.some((element) => accepted.has(String(element)))
    : value !== undefined && value !== null && accepted.has(String(value))

/** A filter's query values as the filter schema's value (9602 when they cannot be one). */
const valueOf = (filter: Resource.Filter, values: ReadonlyArray<string>): unknown => {
  const many = filter.type === "strings" || filter.type === "integers"
  if (values.length === 0 || (!many && values.length > 1)) throw new InvalidArgument(filter.name)
  const converted = values.map((value) => {
    if (filter.type === "boolean") {
      if (value !== "true" && value !== "false") throw new InvalidArgument(filter.name)
      return value === "true"
    }
    if (filter.type === "integer" || filter.type === "integers") {
      if (!/^-?\d+$/.test(value)) throw new InvalidArgument(filter.name)
      return Number(value)
    }
    return value
  })
  return many ? converted : converted[0]
}

/**
 * A source from a descriptor and records alone (page-index, or cursor: internal/routes.ts serves it so). Rendering is the record schema's encoding; a filter
 * of the descriptor's filter schema selects the records whose field of the same name, encoded, equals the
 * query value (an array filter: is one of its values; an array field: holds one of them). A filter without a
 * record field of its name cannot be served generically: asking for it is 9602, like a malformed value.
 */
export const servedSource = (served: Served): PageSource => {
  const descriptor = served.resource
  if (descriptor.family === "legacy") {
    throw new TypeError(`${descriptor.name}: the simulator serves page-index and cursor resources from a descriptor, not legacy`)
  }
  if (descriptor.family === "cursor" && descriptor.delta !== undefined) {
    throw new TypeError(`${descriptor.name}: a cursor resource with an incremental query is not served from a descriptor`)
  }
  if (descriptor.also !== undefined) {
    throw new TypeError(`${descriptor.name}: a second records array (also) is not served from a descriptor`)
  }
  const encode = Schema.encodeSync(descriptor.record) as (record: unknown) => Record<string, unknown>
  const store = new ResourceStore<unknown>((record) => descriptor.key(record))
  store.load(served.records)
  const fields = new Set(Resource.columns(descriptor).map((field) => field.name))
  const filters = Resource.filters(descriptor)
  const checkFilters = Schema.validateEither(descriptor.filters as Schema.Schema<unknown, unknown>)
  return {
    descriptor,
    store,
    select: (query) => {
      const active = filters.filter((filter) => query.has(filter.name)).map((filter) => {
        const values = query.get(filter.name)!
        // The values must make a value of the filter schema (its choices, its refinements), as the client sends.
        if (Either.isLeft(checkFilters({ [filter.name]: valueOf(filter, values) }))) throw new InvalidArgument(filter.name)
        if (!fields.has(filter.name)) throw new InvalidArgument(filter.name)
        return { name: filter.name, values, accepted: new Set(values) }
      })
      return {
        cacheKey: active.map(({ name, values }) => `${name}=${values.join(",")}`).join("&"),
        filter: (record) => {
          if (active.length === 0) return true
          const encoded = encode(record)
          return active.every(({ accepted, name }) => matches(encoded[name], accepted))
        },
        render: ({ record }) => encode(record)
      }
    }
  }
}
