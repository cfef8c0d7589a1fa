/**
 * Subscriptions (`GET /v2/subscriptions`, `/v2/subscriptions/assignments`, `/v2/subscriptions/admins`):
 * records, query filters and natural keys. The cursor traversals over them are in `Cursor`.
 *
 * Unlike assets, subscriptions carry their `adamId`s as JSON **integers** (int64).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { oneOf, UserStatus } from "./Common.js"
import * as Resource from "./Resource.js"

/**
 * Licences of one kind: those that renew at the end of the period and those that expire.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SubscriptionCountsBreakdown = Schema.Struct({
  renewing: Schema.Number,
  expiring: Schema.Number
}).annotations({ identifier: "SubscriptionCountsBreakdown" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionCountsBreakdown extends Schema.Schema.Type<typeof SubscriptionCountsBreakdown> {}

/**
 * A subscription's licence counts. Apple's invariant:
 * `assigned.renewing + assigned.expiring + available.renewing + available.expiring = total.renewing + total.expiring`
 * (zero-count subscriptions appear too).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SubscriptionCounts = Schema.Struct({
  assigned: SubscriptionCountsBreakdown,
  available: SubscriptionCountsBreakdown,
  total: SubscriptionCountsBreakdown
}).annotations({ identifier: "SubscriptionCounts" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionCounts extends Schema.Schema.Type<typeof SubscriptionCounts> {}

/**
 * @since 0.1.0
 * @category schemas
 */
export const SubscriptionStatus = oneOf("ACTIVE", "INACTIVE", "PAUSED")

/**
 * A subscription the organisation holds (Apple's `ResponseSubscription`). `parentAdamId` "can be `null`, so
 * don't require it"; the natural key is `adamId`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Subscription = Schema.Struct({
  adamId: Schema.Number,
  parentAdamId: Schema.optionalWith(Schema.NullOr(Schema.Number), { exact: true }),
  status: Schema.optionalWith(SubscriptionStatus, { exact: true }),
  /** `YYYY-MM-DD`. */
  periodEndDate: Schema.optionalWith(Schema.String, { exact: true }),
  counts: Schema.optionalWith(SubscriptionCounts, { exact: true })
}).annotations({ identifier: "Subscription" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Subscription extends Schema.Schema.Type<typeof Subscription> {}

/**
 * A subscription assigned to a user (Apple's `ResponseSubscriptionAssignment`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SubscriptionAssignment = Schema.Struct({
  adamId: Schema.Number,
  clientUserId: Schema.String,
  renewing: Schema.optionalWith(Schema.Boolean, { exact: true })
}).annotations({ identifier: "SubscriptionAssignment" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionAssignment extends Schema.Schema.Type<typeof SubscriptionAssignment> {}

/**
 * An administrator of a subscription (Apple's `ResponseSubscriptionAdmin`); `userStatus` only with
 * `includeUserState=true`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SubscriptionAdmin = Schema.Struct({
  adamId: Schema.Number,
  clientUserId: Schema.String,
  idHash: Schema.optionalWith(Schema.String, { exact: true }),
  userStatus: Schema.optionalWith(UserStatus, { exact: true })
}).annotations({ identifier: "SubscriptionAdmin" })

/**
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionAdmin extends Schema.Schema.Type<typeof SubscriptionAdmin> {}

const adamIds = (description: string) => Schema.optional(Schema.Array(Schema.Int).annotations({ description }))

/**
 * The filters of Get Subscriptions. Each is an array parameter: a record matches when its value is one of
 * those given (an empty array is the same as no filter).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SubscriptionFilters = Schema.Struct({
  parentAdamId: adamIds("subscriptions of this parent product (repeatable)"),
  adamId: adamIds("this subscription (repeatable)")
})

/**
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionFilters extends Schema.Schema.Type<typeof SubscriptionFilters> {}

/**
 * The filters of Get Subscription Assignments (array parameters).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AssignmentFilters = Schema.Struct({
  parentAdamId: adamIds("of this parent product (repeatable)"),
  adamId: adamIds("of this subscription (repeatable)"),
  clientUserId: Schema.optional(Schema.Array(Schema.String).annotations({ description: "of this user (repeatable)" }))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface AssignmentFilters extends Schema.Schema.Type<typeof AssignmentFilters> {}

/**
 * The filters of Get Subscription Administrators; with `includeUserState: true` each administrator carries its
 * `userStatus`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AdminFilters = Schema.Struct({
  adamId: adamIds("of this subscription (repeatable)"),
  includeUserState: Schema.optional(Schema.Boolean.annotations({ description: "add each administrator's userStatus" }))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface AdminFilters extends Schema.Schema.Type<typeof AdminFilters> {}

/**
 * The natural key of a subscription.
 *
 * @since 0.1.0
 * @category keys
 */
export const key = (subscription: { readonly adamId: number }): string => String(subscription.adamId)

/**
 * The natural key of a subscription assignment or administrator: (`adamId`, `clientUserId`).
 *
 * @since 0.1.0
 * @category keys
 */
export const userKey = (record: { readonly adamId: number; readonly clientUserId: string }): string =>
  `${record.adamId}:${record.clientUserId}`

/**
 * Get Subscriptions (`GET /v2/subscriptions`), paged by cursor.
 *
 * @since 0.1.0
 * @category resources
 */
export const resource: Resource.Resource<
  Subscription,
  typeof Subscription.Encoded,
  SubscriptionFilters,
  typeof SubscriptionFilters.Encoded
> = Resource.make({
  name: "subscriptions",
  description: "subscriptions with their licence counts",
  family: "cursor",
  path: "/v2/subscriptions",
  field: "subscriptions",
  record: Subscription,
  filters: SubscriptionFilters,
  syncFilters: {},
  key,
  keyDescription: "`adamId`",
  briefFields: ["adamId", "parentAdamId", "status", "periodEndDate"]
})

/**
 * Get Subscription Assignments (`GET /v2/subscriptions/assignments`), paged by cursor.
 *
 * @since 0.1.0
 * @category resources
 */
export const assignmentsResource: Resource.Resource<
  SubscriptionAssignment,
  typeof SubscriptionAssignment.Encoded,
  AssignmentFilters,
  typeof AssignmentFilters.Encoded
> = Resource.make({
  name: "subscription-assignments",
  description: "subscriptions assigned to users",
  family: "cursor",
  path: "/v2/subscriptions/assignments",
  field: "assignments",
  record: SubscriptionAssignment,
  filters: AssignmentFilters,
  syncFilters: {},
  key: userKey,
  keyDescription: "`adamId`:`clientUserId`",
  briefFields: ["adamId", "clientUserId", "renewing"]
})

/**
 * Get Subscription Administrators (`GET /v2/subscriptions/admins`), paged by cursor.
 *
 * @since 0.1.0
 * @category resources
 */
export const adminsResource: Resource.Resource<
  SubscriptionAdmin,
  typeof SubscriptionAdmin.Encoded,
  AdminFilters,
  typeof AdminFilters.Encoded
> = Resource.make({
  name: "subscription-admins",
  description: "administrators of subscriptions",
  family: "cursor",
  path: "/v2/subscriptions/admins",
  field: "admins",
  record: SubscriptionAdmin,
  filters: AdminFilters,
  syncFilters: {},
  key: userKey,
  keyDescription: "`adamId`:`clientUserId`",
  briefFields: ["adamId", "clientUserId", "userStatus"]
})
