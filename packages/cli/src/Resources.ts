/**
 * The resources the CLI lists and syncs: for each, its paginator, its filters, its fields (the columns of
 * its table, named as in Apple's JSON), its natural key and how it is synced incrementally.
 *
 * @since 0.1.0
 */
import * as Asset from "@vppkit/core/Asset"
import * as Assignment from "@vppkit/core/Assignment"
import * as Cursor from "@vppkit/core/Cursor"
import * as Legacy from "@vppkit/core/Legacy"
import * as PageIndex from "@vppkit/core/PageIndex"
import * as Subscription from "@vppkit/core/Subscription"
import type * as Traversal from "@vppkit/core/Traversal"
import * as User from "@vppkit/core/User"
import * as Either from "effect/Either"
import { encoded } from "./internal/encoded.js"

/**
 * @since 0.1.0
 * @category models
 */
export const names = [
  "assets",
  "assignments",
  "users",
  "subscriptions",
  "subscription-assignments",
  "subscription-admins",
  "legacy-licenses",
  "legacy-users"
] as const

/**
 * @since 0.1.0
 * @category models
 */
export type Name = typeof names[number]

/**
 * A record as Apple's JSON has it.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonRecord = { readonly [field: string]: unknown }

/**
 * A field of a record and the column that holds it: `text`, `integer`, `real`, `boolean` (0/1) or `json`
 * (arrays and objects, as JSON text).
 *
 * @since 0.1.0
 * @category models
 */
export interface Field {
  readonly name: string
  readonly type: "text" | "integer" | "real" | "boolean" | "json"
}

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
  readonly type: "string" | "boolean" | "integer" | "integers" | "strings"
  readonly choices?: ReadonlyArray<string>
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
  readonly name: Name
  /** The SQLite table: the name with `-` replaced by `_`. */
  readonly table: string
  readonly family: "page-index" | "cursor" | "legacy"
  readonly endpoint: string
  readonly description: string
  /** The JSON field of the checkpoint file, or `undefined` when the API has no incremental query for it. */
  readonly checkpointField: "versionId" | "sinceModifiedToken" | undefined
  readonly filters: ReadonlyArray<Filter>
  /** The filters a sync uses: the whole data set, as the API defines it (retired entries included). */
  readonly syncFilters: Readonly<Record<string, unknown>>
  readonly fields: ReadonlyArray<Field>
  /** How the natural key is made, for the README. */
  readonly keyDescription: string
  /** The natural key of a record (JSON shape). */
  readonly key: (record: JsonRecord) => string
  readonly traverse: (input: TraversalInput) => Traversal.Traversal<JsonRecord>
}

const str = (record: JsonRecord, field: string): string => {
  const value = record[field]
  return value === undefined || value === null ? "" : String(value)
}

const pageIndexOptions = (input: TraversalInput): PageIndex.Options => ({
  concurrency: input.concurrency,
  ...(input.retraverse !== undefined && input.retraverse > 0 ? { drift: { retraverse: input.retraverse } } : {})
})

const legacyOptions = (input: TraversalInput): Legacy.Options => ({
  concurrency: input.concurrency,
  mode: input.concurrency > 1 ? "parallel" : "sequential",
  ...(input.since !== undefined ? { sinceModifiedToken: input.since } : {})
})

const boolean = (flag: string, api: string, description: string): Filter => ({ flag, api, type: "boolean", description })
const text = (flag: string, api: string, description: string, choices?: ReadonlyArray<string>): Filter =>
  choices === undefined ? { flag, api, type: "string", description } : { flag, api, type: "string", description, choices }
const integer = (flag: string, api: string, description: string): Filter => ({ flag, api, type: "integer", description })

const pricingParam = text("pricing-param", "pricingParam", "STDQ (standard) or PLUS (high quality)", ["STDQ", "PLUS"])

/**
 * The natural key of a v2 user entry. Apple allows zero or more Retired entries and at most one other entry
 * per `clientUserId`: the non-retired entry is keyed by `clientUserId` alone, a retired one by `clientUserId`
 * and its `idHash`, `email` and `inviteCode` (retired entries that agree on all of them cannot be told apart).
 * The separator is U+001F (PostgreSQL refuses NUL in text).
 *
 * @since 0.1.0
 * @category keys
 */
export const userKey = (record: JsonRecord): string =>
  record["status"] === "Retired"
    ? `${str(record, "clientUserId")}\u001fretired:${str(record, "idHash")}|${str(record, "email")}|${str(record, "inviteCode")}`
    : str(record, "clientUserId")

const resources: ReadonlyArray<Resource> = [
  {
    name: "assets",
    table: "assets",
    family: "page-index",
    endpoint: "GET /v2/assets",
    description: "apps and books the organisation holds licences for, with their counts",
    checkpointField: undefined,
    filters: [
      text("adam-id", "adamId", "the product's adamId"),
      pricingParam,
      text("product-type", "productType", "App or Book", ["App", "Book"]),
      boolean("revocable", "revocable", "only revocable (true) or irrevocable (false) assets"),
      boolean("device-assignable", "deviceAssignable", "only assets that can (true) or cannot (false) go to devices"),
      integer("min-available-count", "minAvailableCount", "at least this many available licences"),
      integer("max-available-count", "maxAvailableCount", "at most this many available licences"),
      integer("min-assigned-count", "minAssignedCount", "at least this many assigned licences"),
      integer("max-assigned-count", "maxAssignedCount", "at most this many assigned licences"),
      boolean(
        "unlimited",
        "unlimited",
        "true: unlimited free assets too, marked unlimited; false: leave them out (default: listed with totalCount 2147483647)"
      )
    ],
    // Unlimited free assets as Apple marks them (their own array, no counts), not as a totalCount of 2147483647.
    syncFilters: { unlimited: true },
    fields: [
      { name: "adamId", type: "text" },
      { name: "pricingParam", type: "text" },
      { name: "productType", type: "text" },
      { name: "assignedCount", type: "integer" },
      { name: "availableCount", type: "integer" },
      { name: "retiredCount", type: "integer" },
      { name: "totalCount", type: "integer" },
      { name: "deviceAssignable", type: "boolean" },
      { name: "revocable", type: "boolean" },
      { name: "supportedPlatforms", type: "json" },
      // vppkit's, not Apple's: true for a record of Apple's unlimitedAssets array (absent otherwise)
      { name: "unlimited", type: "boolean" }
    ],
    keyDescription: "`adamId`:`pricingParam`",
    key: (record) => Asset.key({ adamId: str(record, "adamId"), pricingParam: str(record, "pricingParam") }),
    traverse: (input) =>
      encoded(PageIndex.assets({ ...pageIndexOptions(input), filters: input.filters as Asset.AssetFilters }), Asset.Asset)
  },
  {
    name: "assignments",
    table: "assignments",
    family: "page-index",
    endpoint: "GET /v2/assignments",
    description: "licences assigned to users or devices",
    checkpointField: "versionId",
    filters: [
      text("adam-id", "adamId", "the product's adamId"),
      pricingParam,
      text("client-user-id", "clientUserId", "assignments of this user"),
      text("serial-number", "serialNumber", "assignments of this device"),
      boolean("exclude-inactive-users", "excludeInactiveUsers", "leave out assignments of retired users"),
      boolean("include-user-state", "includeUserState", "add each assigned user's idHash and userStatus")
    ],
    syncFilters: {},
    fields: [
      { name: "adamId", type: "text" },
      { name: "pricingParam", type: "text" },
      { name: "clientUserId", type: "text" },
      { name: "serialNumber", type: "text" },
      { name: "idHash", type: "text" },
      { name: "userStatus", type: "text" }
    ],
    keyDescription: "`adamId`:`pricingParam`:user:`clientUserId`, or …:device:`serialNumber` for a device assignment",
    key: (record) => Assignment.key(record as unknown as Assignment.Assignment),
    traverse: (input) =>
      encoded(
        PageIndex.assignments({
          ...pageIndexOptions(input),
          filters: input.filters as Assignment.AssignmentFilters,
          ...(input.since !== undefined ? { sinceVersionId: input.since } : {})
        }),
        Assignment.Assignment
      )
  },
  {
    name: "users",
    table: "users",
    family: "page-index",
    endpoint: "GET /v2/users",
    description: "users the organisation invited, with their status",
    checkpointField: "versionId",
    filters: [
      text("client-user-id", "clientUserId", "this user's entries"),
      boolean("active-only", "activeOnly", "only users that are not retired"),
      boolean("retired-only", "retiredOnly", "only retired users")
    ],
    syncFilters: {},
    fields: [
      { name: "clientUserId", type: "text" },
      { name: "email", type: "text" },
      { name: "idHash", type: "text" },
      { name: "inviteCode", type: "text" },
      { name: "status", type: "text" }
    ],
    keyDescription:
      "`clientUserId` for the entry that is not retired (Apple allows at most one); a Retired entry (there can be several per `clientUserId`) adds its `idHash`, `email` and `inviteCode`",
    key: userKey,
    traverse: (input) =>
      encoded(
        PageIndex.users({
          ...pageIndexOptions(input),
          filters: input.filters as User.UserFilters,
          ...(input.since !== undefined ? { sinceVersionId: input.since } : {})
        }),
        User.User
      )
  },
  {
    name: "subscriptions",
    table: "subscriptions",
    family: "cursor",
    endpoint: "GET /v2/subscriptions",
    description: "subscriptions with their licence counts",
    checkpointField: undefined,
    filters: [
      { flag: "parent-adam-id", api: "parentAdamId", type: "integers", description: "subscriptions of this parent product (repeatable)" },
      { flag: "adam-id", api: "adamId", type: "integers", description: "this subscription (repeatable)" }
    ],
    syncFilters: {},
    fields: [
      { name: "adamId", type: "integer" },
      { name: "parentAdamId", type: "integer" },
      { name: "status", type: "text" },
      { name: "periodEndDate", type: "text" },
      { name: "counts", type: "json" }
    ],
    keyDescription: "`adamId`",
    key: (record) => str(record, "adamId"),
    traverse: (input) =>
      encoded(Cursor.subscriptions(input.filters as Subscription.SubscriptionFilters), Subscription.Subscription)
  },
  {
    name: "subscription-assignments",
    table: "subscription_assignments",
    family: "cursor",
    endpoint: "GET /v2/subscriptions/assignments",
    description: "subscriptions assigned to users",
    checkpointField: undefined,
    filters: [
      { flag: "parent-adam-id", api: "parentAdamId", type: "integers", description: "of this parent product (repeatable)" },
      { flag: "adam-id", api: "adamId", type: "integers", description: "of this subscription (repeatable)" },
      { flag: "client-user-id", api: "clientUserId", type: "strings", description: "of this user (repeatable)" }
    ],
    syncFilters: {},
    fields: [
      { name: "adamId", type: "integer" },
      { name: "clientUserId", type: "text" },
      { name: "renewing", type: "boolean" }
    ],
    keyDescription: "`adamId`:`clientUserId`",
    key: (record) => `${str(record, "adamId")}:${str(record, "clientUserId")}`,
    traverse: (input) =>
      encoded(
        Cursor.subscriptionAssignments(input.filters as Subscription.AssignmentFilters),
        Subscription.SubscriptionAssignment
      )
  },
  {
    name: "subscription-admins",
    table: "subscription_admins",
    family: "cursor",
    endpoint: "GET /v2/subscriptions/admins",
    description: "administrators of subscriptions",
    checkpointField: undefined,
    filters: [
      { flag: "adam-id", api: "adamId", type: "integers", description: "of this subscription (repeatable)" },
      boolean("include-user-state", "includeUserState", "add each administrator's userStatus")
    ],
    syncFilters: {},
    fields: [
      { name: "adamId", type: "integer" },
      { name: "clientUserId", type: "text" },
      { name: "idHash", type: "text" },
      { name: "userStatus", type: "text" }
    ],
    keyDescription: "`adamId`:`clientUserId`",
    key: (record) => `${str(record, "adamId")}:${str(record, "clientUserId")}`,
    traverse: (input) =>
      encoded(Cursor.subscriptionAdmins(input.filters as Subscription.AdminFilters), Subscription.SubscriptionAdmin)
  },
  {
    name: "legacy-licenses",
    table: "legacy_licenses",
    family: "legacy",
    endpoint: "POST getVPPLicensesSrv (v1)",
    description: "every licence, from the legacy v1 service",
    checkpointField: "sinceModifiedToken",
    filters: [
      text("adam-id", "adamId", "licences of this product"),
      pricingParam,
      boolean("assigned-only", "assignedOnly", "only assigned licences (Apple: faster)"),
      boolean("user-assigned-only", "userAssignedOnly", "only licences assigned to users"),
      boolean("device-assigned-only", "deviceAssignedOnly", "only licences assigned to devices"),
      text("serial-number", "serialNumber", "licences of this device")
    ],
    syncFilters: {},
    fields: [
      { name: "licenseId", type: "integer" },
      { name: "licenseIdStr", type: "text" },
      { name: "adamId", type: "integer" },
      { name: "adamIdStr", type: "text" },
      { name: "pricingParam", type: "text" },
      { name: "productTypeId", type: "integer" },
      { name: "productTypeName", type: "text" },
      { name: "isIrrevocable", type: "boolean" },
      { name: "status", type: "text" },
      { name: "clientUserIdStr", type: "text" },
      { name: "userId", type: "integer" },
      { name: "userIdStr", type: "text" },
      { name: "itsIdHash", type: "text" },
      { name: "serialNumber", type: "text" }
    ],
    keyDescription: "`licenseIdStr` (or `licenseId`)",
    key: (record) => Legacy.licenseKey(record as Legacy.VppLicense),
    traverse: (input) =>
      encoded(Legacy.licenses(input.filters as Legacy.LicenseFilters, legacyOptions(input)), Legacy.VppLicense)
  },
  {
    name: "legacy-users",
    table: "legacy_users",
    family: "legacy",
    endpoint: "POST getVPPUsersSrv (v1)",
    description: "every user entry, from the legacy v1 service",
    checkpointField: "sinceModifiedToken",
    filters: [
      boolean("include-retired", "includeRetired", "include retired users"),
      boolean("include-retired-only", "includeRetiredOnly", "only retired users")
    ],
    syncFilters: { includeRetired: true },
    fields: [
      { name: "userId", type: "integer" },
      { name: "clientUserIdStr", type: "text" },
      { name: "email", type: "text" },
      { name: "status", type: "text" },
      { name: "itsIdHash", type: "text" },
      { name: "inviteCode", type: "text" },
      { name: "inviteUrl", type: "text" },
      { name: "licenses", type: "json" }
    ],
    keyDescription: "`userId` (a `clientUserIdStr` repeats across retired entries)",
    key: (record) => Legacy.userKey(record as Legacy.VppUser),
    traverse: (input) => encoded(Legacy.users(input.filters as Legacy.UserFilters, legacyOptions(input)), Legacy.VppUser)
  }
]

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
