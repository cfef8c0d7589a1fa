/**
 * Get Users (`GET /v2/users`): records and query filters.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { UserStatus } from "./Common.js"

/**
 * A user registered by the device management service. The same `clientUserId` can appear several times:
 * at most one active entry plus any number of retired ones.
 *
 * @since 0.1.0
 * @category schemas
 */
export const User = Schema.Struct({
  clientUserId: Schema.String,
  email: Schema.optionalWith(Schema.String, { exact: true }),
  idHash: Schema.optionalWith(Schema.String, { exact: true }),
  inviteCode: Schema.optionalWith(Schema.String, { exact: true }),
  status: Schema.optionalWith(UserStatus, { exact: true })
}).annotations({ identifier: "User" })

/**
 * @since 0.1.0
 * @category models
 */
export interface User extends Schema.Schema.Type<typeof User> {}

/**
 * The query filters of Get Users (`sinceVersionId` is the paginator's incremental option).
 *
 * @since 0.1.0
 * @category models
 */
export interface UserFilters {
  readonly clientUserId?: string
  readonly activeOnly?: boolean
  readonly retiredOnly?: boolean
}
