/**
 * Get Assignments (`GET /v2/assignments`): records and query filters.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { PricingParam, UserStatus } from "./Common.js"
import * as Resource from "./Resource.js"

/**
 * A licence assigned to a user (`clientUserId`) or a device (`serialNumber`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Assignment = Schema.Struct({
  adamId: Schema.String,
  pricingParam: Schema.optionalWith(PricingParam, { exact: true }),
  clientUserId: Schema.optionalWith(Schema.String, { exact: true }),
  serialNumber: Schema.optionalWith(Schema.String, { exact: true }),
  idHash: Schema.optionalWith(Schema.String, { exact: true }),
  userStatus: Schema.optionalWith(UserStatus, { exact: true })
}).annotations({ identifier: "Assignment" })

/**
 * @since 0.1.0
 * @category models
 */
export interface Assignment extends Schema.Schema.Type<typeof Assignment> {}

/**
 * The query filters of Get Assignments (`sinceVersionId` is the incremental query, not a filter).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AssignmentFilters = Schema.Struct({
  adamId: Schema.optional(Schema.String.annotations({ description: "the product's adamId" })),
  pricingParam: Schema.optional(PricingParam.annotations({ description: "STDQ (standard) or PLUS (high quality)" })),
  clientUserId: Schema.optional(Schema.String.annotations({ description: "assignments of this user" })),
  serialNumber: Schema.optional(Schema.String.annotations({ description: "assignments of this device" })),
  excludeInactiveUsers: Schema.optional(
    Schema.Boolean.annotations({ description: "leave out assignments of retired users" })
  ),
  includeUserState: Schema.optional(
    Schema.Boolean.annotations({ description: "add each assigned user's idHash and userStatus" })
  )
})

/**
 * @since 0.1.0
 * @category models
 */
export interface AssignmentFilters extends Schema.Schema.Type<typeof AssignmentFilters> {}

/**
 * The natural key of an assignment: (`adamId`, `pricingParam`, `clientUserId` or `serialNumber`).
 *
 * @since 0.1.0
 * @category keys
 */
export const key = (assignment: {
  readonly adamId: string
  readonly pricingParam?: string | undefined
  readonly clientUserId?: string | undefined
  readonly serialNumber?: string | undefined
}): string =>
  assignment.clientUserId !== undefined
    ? `${assignment.adamId}:${assignment.pricingParam ?? ""}:user:${assignment.clientUserId}`
    : `${assignment.adamId}:${assignment.pricingParam ?? ""}:device:${assignment.serialNumber ?? ""}`

/**
 * Get Assignments (`GET /v2/assignments`), paged by page index, incremental with `sinceVersionId`.
 *
 * @since 0.1.0
 * @category resources
 */
export const resource: Resource.Resource<
  Assignment,
  typeof Assignment.Encoded,
  AssignmentFilters,
  typeof AssignmentFilters.Encoded
> = Resource.make({
  name: "assignments",
  description: "licences assigned to users or devices",
  family: "page-index",
  path: "/v2/assignments",
  field: "assignments",
  record: Assignment,
  filters: AssignmentFilters,
  syncFilters: {},
  key,
  keyDescription: "`adamId`:`pricingParam`:user:`clientUserId`, or …:device:`serialNumber` for a device assignment",
    briefFields: ["adamId", "pricingParam", "clientUserId", "serialNumber"],
  delta: { param: "sinceVersionId", checkpoint: "versionId" }
})
