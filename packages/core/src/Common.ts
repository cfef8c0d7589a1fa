/**
 * Fields and value sets shared by the v2 records and response envelopes.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A set of string values, as in a record field that takes one of several words: the type is the union of the
 * values, as with `Schema.Literal(...values)`. Decoding checks membership once (`Schema.Enums`), where a
 * `Schema.Literal` of several values is a union whose parser allocates per value it checks — about a third of
 * a record's decoding garbage for an assignment (two such fields), at a million records a sync.
 *
 * @since 0.1.0
 * @category constructors
 */
export const oneOf = <const Values extends ReadonlyArray<string>>(
  ...values: Values
): Schema.Enums<{ readonly [Value in Values[number]]: Value }> =>
  Schema.Enums(Object.fromEntries(values.map((value) => [value, value])) as { readonly [Value in Values[number]]: Value })

/**
 * `STDQ` (standard quantity) or `PLUS` (Plus quality).
 *
 * @since 0.1.0
 * @category schemas
 */
export const PricingParam = oneOf("STDQ", "PLUS")

/**
 * @since 0.1.0
 * @category models
 */
export type PricingParam = typeof PricingParam.Type

/**
 * The state of a user (and of the user behind an assignment).
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserStatus = oneOf("Registered", "Associated", "Retired", "Deleted")

/**
 * @since 0.1.0
 * @category models
 */
export type UserStatus = typeof UserStatus.Type

/**
 * Set by the device management service through Client Config; Apple sends it absent or `null` when unset.
 *
 * @since 0.1.0
 * @category schemas
 */
export class MdmInfo extends Schema.Class<MdmInfo>("@vppkit/core/MdmInfo")({
  id: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  metadata: Schema.optional(Schema.String)
}) {}

/**
 * Fields present on most v2 responses.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ResponseMetadataFields = {
  tokenExpirationDate: Schema.optional(Schema.String),
  uId: Schema.optional(Schema.String),
  mdmInfo: Schema.optional(Schema.NullOr(MdmInfo))
}

/**
 * Apple's v2 synchronous error body (also sent, for 9622, inside HTTP 200 responses).
 *
 * @since 0.1.0
 * @category schemas
 */
export class ErrorResponse extends Schema.Class<ErrorResponse>("@vppkit/core/ErrorResponse")({
  errorNumber: Schema.Number,
  errorMessage: Schema.optional(Schema.String),
  errorInfo: Schema.optional(Schema.Struct({
    assets: Schema.optional(Schema.Array(Schema.Struct({
      adamId: Schema.optional(Schema.String),
      pricingParam: Schema.optional(Schema.String)
    }))),
    clientUserIds: Schema.optional(Schema.Array(Schema.String)),
    serialNumbers: Schema.optional(Schema.Array(Schema.String))
  }))
}) {}
