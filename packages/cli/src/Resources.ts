/**
 * The resources the CLI lists and syncs, each derived from its descriptor in `@vppkit/core/Resources`: its
 * paginator, its filters and their flags (from the filter schema), its fields (the columns of its table, from
 * the record schema, named as in Apple's JSON), its natural key and how it is synced incrementally.
 *
 * @since 0.1.0
 */
import * as Descriptor from "@vppkit/core/Resource"
import * as CoreResources from "@vppkit/core/Resources"
import type * as Traversal from "@vppkit/core/Traversal"
import * as Either from "effect/Either"

/**
 * The name of a resource (`assets`, `legacy-licenses`).
 *
 * @since 0.1.0
 * @category models
 */
export type Name = string

/**
 * A record as Apple's JSON has it.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonRecord = CoreResources.JsonRecord

/**
 * A field of a record and the column that holds it: `text`, `integer`, `real`, `boolean` (0/1) or `json`
 * (arrays and objects, as JSON text).
 *
 * @since 0.1.0
 * @category models
 */
export type Field = Descriptor.Field

/**
 * A filter: the command-line flag, the name Apple's API gives it, and its type. `integers` and `strings`
 * are array parameters (the flag may repeat).
 *
 * @since 0.1.0
 * @category models
 */
export interface Filter {
  readonly flag: string
  readonly api: string
  readonly type: Descriptor.Filter["type"]
  readonly choices?: ReadonlyArray<string> | undefined
  readonly description: string
}

/**
 * The placeholder of a filter's value in help and usage: its choices, `true|false`, `N` or `TEXT`.
 *
 * @since 0.1.0
 * @category models
 */
export const filterPlaceholder = (filter: Filter): string => {
  if (filter.choices !== undefined) return filter.choices.join("|")
  switch (filter.type) {
    case "boolean":
      return "true|false"
    case "integer":
    case "integers":
      return "N"
    case "string":
    case "strings":
      return "TEXT"
  }
}

/**
 * What a traversal of a resource is asked for.
 *
 * @since 0.1.0
 * @category models
 */
export interface TraversalInput {
  /** Filter values by API name, already checked against {@link Resource.filters}. */
  readonly filters: Readonly<Record<string, unknown>>
  /** Requests in flight at once, 1..5. */
  readonly concurrency: number
  /** The checkpoint of an earlier run: `versionId` (v2) or `sinceModifiedToken` (legacy). */
  readonly since?: string | undefined
  /** Re-traverse a drifted page-index pass up to this many times (page-index only). */
  readonly retraverse?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Resource {
  /** What everything here is derived from. */
  readonly descriptor: Descriptor.Any
  readonly name: Name
  /** The SQL table: the name with `-` replaced by `_`. */
  readonly table: string
  readonly family: Descriptor.Family
  readonly endpoint: string
  readonly description: string
  /** The JSON field of the checkpoint file, or `undefined` when the API has no incremental query for it. */
  readonly checkpointField: string | undefined
  readonly filters: ReadonlyArray<Filter>
  /** The filters a sync uses: the whole data set, as the API defines it (retired entries included). */
  readonly syncFilters: Readonly<Record<string, unknown>>
  readonly fields: ReadonlyArray<Field>
  /** The fields a table shows by default (narrow enough for 80 columns). */
  readonly briefFields: ReadonlyArray<Field>
  /** How the natural key is made, for the README. */
  readonly keyDescription: string
  /** The natural key of a record (JSON shape). */
  readonly key: (record: JsonRecord) => string
  readonly traverse: (input: TraversalInput) => Traversal.Traversal<JsonRecord>
}

/** `adamId` → `adam-id`. */
const flagOf = (name: string): string => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)

/**
 * The CLI's view of a resource descriptor: its table, flags, columns and a traversal of Apple's JSON records.
 * Legacy services are walked in parallel batches when more than one request may be in flight.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDescriptor = (descriptor: Descriptor.Any): Resource => {
  const fields = Descriptor.columns(descriptor)
  const brief = descriptor.briefFields === undefined
    ? fields.slice(0, 6)
    : descriptor.briefFields.flatMap((name) => fields.filter((field) => field.name === name))
  return {
    descriptor,
    name: descriptor.name,
    table: descriptor.name.replace(/-/g, "_"),
    family: descriptor.family,
    endpoint: descriptor.family === "legacy" ? `POST ${descriptor.path.slice(1)} (v1)` : `GET ${descriptor.path}`,
    description: descriptor.description,
    checkpointField: descriptor.delta?.checkpoint,
    filters: Descriptor.filters(descriptor).map((filter) => ({
      flag: flagOf(filter.name),
      api: filter.name,
      type: filter.type,
      ...(filter.choices !== undefined ? { choices: filter.choices } : {}),
      description: filter.description
    })),
    syncFilters: descriptor.syncFilters,
    fields,
    briefFields: brief,
    keyDescription: descriptor.keyDescription,
    key: (record) => descriptor.key(record),
    traverse: (input) =>
      CoreResources.traverseJson(descriptor, {
        filters: input.filters,
        concurrency: input.concurrency,
        since: input.since,
        retraverse: input.retraverse,
        ...(descriptor.family === "legacy" ? { mode: input.concurrency > 1 ? "parallel" : "sequential" } : {})
      })
  }
}

const resources: ReadonlyArray<Resource> = CoreResources.all.map(fromDescriptor)

/**
 * The names of every resource, in sync order.
 *
 * @since 0.1.0
 * @category models
 */
export const names: ReadonlyArray<Name> = resources.map((resource) => resource.name)

/**
 * Every resource, in {@link names} order.
 *
 * @since 0.1.0
 * @category resources
 */
export const all: ReadonlyArray<Resource> = resources

/**
 * The resource of a name, or a message that lists the valid names.
 *
 * @since 0.1.0
 * @category resources
 */
export const byName = (name: string): Either.Either<Resource, string> => {
  const found = resources.find((resource) => resource.name === name)
  return found !== undefined
    ? Either.right(found)
    : Either.left(`unknown resource "${name}": use one of ${names.join(", ")}`)
}

/**
 * Checks raw flag values (each flag's values as given, repeated flags in order) against a resource's
 * filters and converts them to the API's types. A flag the resource does not have is an error that says
 * which resources do have it.
 *
 * @since 0.1.0
 * @category filters
 */
export const parseFilters = (
  resource: Resource,
  raw: Readonly<Record<string, ReadonlyArray<string>>>
): Either.Either<Record<string, unknown>, string> => {
  const result: Record<string, unknown> = {}
  for (const [flag, values] of Object.entries(raw)) {
    if (values.length === 0) continue
    const filter = resource.filters.find((f) => f.flag === flag)
    if (filter === undefined) {
      const owners = resources.filter((r) => r.filters.some((f) => f.flag === flag)).map((r) => r.name)
      return Either.left(`--${flag} does not apply to ${resource.name} (it filters ${owners.join(", ")})`)
    }
    const many = filter.type === "integers" || filter.type === "strings"
    if (!many && values.length > 1) return Either.left(`--${flag} can be given once for ${resource.name}`)
    const converted: Array<unknown> = []
    for (const value of values) {
      const parsed = parseValue(filter, value)
      if (Either.isLeft(parsed)) return Either.left(`--${flag} ${JSON.stringify(value)}: ${parsed.left}`)
      converted.push(parsed.right)
    }
    result[filter.api] = many ? converted : converted[0]
  }
  return Either.right(result)
}

const parseValue = (filter: Filter, value: string): Either.Either<unknown, string> => {
  switch (filter.type) {
    case "boolean":
      return value === "true" ? Either.right(true) : value === "false" ? Either.right(false) : Either.left("expected true or false")
    case "integer":
    case "integers":
      return /^-?\d+$/.test(value) && Number.isSafeInteger(Number(value))
        ? Either.right(Number(value))
        : Either.left("expected a whole number")
    case "string":
    case "strings":
      if (value.length === 0) return Either.left("expected a non-empty value")
      if (filter.choices !== undefined && !filter.choices.includes(value)) {
        return Either.left(`expected one of ${filter.choices.join(", ")}`)
      }
      return Either.right(value)
  }
}

/**
 * Every filter flag of any resource (a flag shared by several resources appears once).
 *
 * @since 0.1.0
 * @category filters
 */
export const allFilterFlags: ReadonlyArray<Filter> = resources
  .flatMap((resource) => resource.filters)
  .filter((filter, i, every) => every.findIndex((f) => f.flag === filter.flag) === i)
