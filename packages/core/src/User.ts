/**
 * Get Users (`GET /v2/users`): records and query filters.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { UserStatus } from "./Common.js"
import * as Resource from "./Resource.js"

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
 * The query filters of Get Users (`sinceVersionId` is the incremental query, not a filter).
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserFilters = Schema.Struct({
  clientUserId: Schema.optional(Schema.String.annotations({ description: "this user's entries" })),
  activeOnly: Schema.optional(Schema.Boolean.annotations({ description: "only users that are not retired" })),
  retiredOnly: Schema.optional(Schema.Boolean.annotations({ description: "only retired users" }))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface UserFilters extends Schema.Schema.Type<typeof UserFilters> {}

/**
 * The natural key of a v2 user entry. Apple allows zero or more Retired entries and at most one other entry
 * per `clientUserId`: the non-retired entry is keyed by `clientUserId` alone, a retired one by `clientUserId`
 * and its `idHash`, `email` and `inviteCode` (retired entries that agree on all of them cannot be told apart).
 * The separator is U+001F (PostgreSQL refuses NUL in text).
 *
 * @since 0.1.0
 * @category keys
 */
export const key = (user: {
  readonly clientUserId: string
  readonly status?: string | undefined
  readonly idHash?: string | undefined
  readonly email?: string | undefined
  readonly inviteCode?: string | undefined
}): string =>
  user.status === "Retired"
    ? `${user.clientUserId}\u001fretired:${user.idHash ?? ""}|${user.email ?? ""}|${user.inviteCode ?? ""}`
    : user.clientUserId

/**
 * Get Users (`GET /v2/users`), paged by page index, incremental with `sinceVersionId`.
 *
 * @since 0.1.0
 * @category resources
 */
export const resource: Resource.Resource<User, typeof User.Encoded, UserFilters, typeof UserFilters.Encoded> = Resource
  .make({
    name: "users",
    description: "users the organisation invited, with their status",
    family: "page-index",
    path: "/v2/users",
    field: "users",
    record: User,
    filters: UserFilters,
    syncFilters: {},
    key,
    keyDescription:
      "`clientUserId` for the entry that is not retired (Apple allows at most one); a Retired entry (there can be several per `clientUserId`) adds its `idHash`, `email` and `inviteCode`",
    briefFields: ["clientUserId", "email", "status"],
    delta: { param: "sinceVersionId", checkpoint: "versionId" }
  })
