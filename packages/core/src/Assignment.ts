/**
 * Get Assignments (`GET /v2/assignments`): records and query filters.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { PricingParam, UserStatus } from "./Common.js"

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
 * The query filters of Get Assignments (`sinceVersionId` is the paginator's incremental option).
 *
 * @since 0.1.0
 * @category models
 */
export interface AssignmentFilters {
  readonly adamId?: string
  readonly clientUserId?: string
  readonly serialNumber?: string
  readonly pricingParam?: PricingParam
  readonly excludeInactiveUsers?: boolean
  readonly includeUserState?: boolean
}

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
