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

/**
 * The filters of Get Subscriptions. Each is an array parameter: a record matches when its value is one of
 * those given.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionFilters {
  readonly parentAdamId?: ReadonlyArray<number>
  readonly adamId?: ReadonlyArray<number>
}

/**
 * The filters of Get Subscription Assignments (array parameters).
 *
 * @since 0.1.0
 * @category models
 */
export interface AssignmentFilters {
  readonly parentAdamId?: ReadonlyArray<number>
  readonly adamId?: ReadonlyArray<number>
  readonly clientUserId?: ReadonlyArray<string>
}

/**
 * The filters of Get Subscription Administrators.
 *
 * @since 0.1.0
 * @category models
 */
export interface AdminFilters {
  readonly adamId?: ReadonlyArray<number>
  /** When `true`, each administrator carries its `userStatus`. */
  readonly includeUserState?: boolean
}

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
