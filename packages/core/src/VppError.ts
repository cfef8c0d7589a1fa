/**
 * The typed errors of vppkit, grouped by what a caller does about them.
 *
 * | class | what to do |
 * | --- | --- |
 * | {@link AuthError} | get a new token (expired, revoked, invalid, not permitted) |
 * | {@link RateLimitedError} | slow down; retried automatically |
 * | {@link UnavailableError} | wait; retried automatically |
 * | {@link TransportError} / {@link TimeoutError} | network trouble; retried automatically |
 * | {@link BadRequestError} | fix the request (the `errorNumber` says what) |
 * | {@link CheckpointUnusableError} | the stored checkpoint (`versionId`, `sinceModifiedToken`) is no longer accepted: run a full traversal |
 * | {@link InvalidCursorError} | the cursor was rejected (9812): start the cursor traversal again |
 * | {@link DecodeError} | Apple answered something the schema does not describe |
 * | {@link ProtocolError} | Apple broke a pagination rule (a repeated cursor, a runaway traversal) |
 * | {@link DriftedError} | the data changed while a stream read it: records may be missing or repeated; read again |
 *
 * {@link DriftedError} is not a request error (not in {@link VppError}): only a traversal's `records` and `pages`
 * streams fail with it, after the last record of a drifted pass (see `Traversal.allowDrift`).
 *
 * No error carries the sToken: messages are built from status codes, error numbers and paths only.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * The mark of every {@link VppError}, as Effect marks its own errors (see {@link isVppError}).
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@vppkit/core/VppError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/** What every request error holds: the endpoint, and the failure it comes from, when there is one. */
const RequestFields = {
  /** The endpoint path, without query string. */
  endpoint: Schema.String,
  /**
   * The failure this error stands for, as it was (a platform or system error, a `ParseError`, the error a
   * refusal was read from), when there is one. Never a request: the sToken travels in requests.
   */
  cause: Schema.optional(Schema.Defect)
}

/** The fields of an error Apple answered with: the HTTP status, and Apple's `errorNumber` when it sent one. */
const ReplyFields = {
  status: Schema.Number,
  errorNumber: Schema.optional(Schema.Number)
}

/**
 * The class of a request error: a `Schema.TaggedError` with the {@link RequestFields}, the {@link TypeId} and a
 * `message` made from its fields.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestErrorClass<Self, Tag extends string, Fields extends Schema.Struct.Fields> =
  & Schema.Class<
    Self,
    { readonly _tag: Schema.tag<Tag> } & typeof RequestFields & Fields,
    Schema.Struct.Encoded<{ readonly _tag: Schema.tag<Tag> } & typeof RequestFields & Fields>,
    Schema.Struct.Context<Fields>,
    Schema.Struct.Constructor<typeof RequestFields & Fields>,
    {},
    Cause.YieldableError & { readonly [TypeId]: TypeId }
  >
  & { readonly _tag: Tag }

/**
 * Describes a request error once: its tag (the identifier is `@vppkit/core/<tag>`), its fields besides the
 * {@link RequestFields}, and how its `message` reads them.
 */
const RequestError = <Self>() =>
<Tag extends string, Fields extends Schema.Struct.Fields>(
  tag: Tag,
  fields: Fields,
  message: (error: Schema.Struct.Type<typeof RequestFields & Fields>) => string
): RequestErrorClass<Self, Tag, Fields> => {
  const Base = (Schema.TaggedError as any)(`@vppkit/core/${tag}`)(tag, { ...RequestFields, ...fields })
  class RequestError extends Base {}
  Object.defineProperty(RequestError.prototype, TypeId, { value: TypeId })
  Object.defineProperty(RequestError.prototype, "message", {
    get(this: Schema.Struct.Type<typeof RequestFields & Fields>) {
      return message(this)
    },
    configurable: true
  })
  return RequestError as any
}

/** `(HTTP 503, error 9729 from /v2/assets)`: what Apple answered, and where. */
const answered = (error: { readonly status: number; readonly errorNumber?: number | undefined; readonly endpoint: string }) =>
  `(${describe(error.status, error.errorNumber)} from ${error.endpoint})`

/**
 * Why an {@link AuthError} happened.
 *
 * @since 0.1.0
 * @category models
 */
export const AuthReason = Schema.Literal("expired", "revoked", "invalid", "login-required", "forbidden")

const authText = {
  expired: "the sToken has expired: download a new one from Apple School/Business Manager",
  revoked: "the sToken has been revoked: download a new one from Apple School/Business Manager",
  invalid: "the sToken is invalid: the server does not recognise it (is it the current token file of this location?)",
  "login-required": "the server requires a login (no usable sToken was sent)",
  forbidden: "the sToken is not allowed to perform this operation"
}

/**
 * The token is missing, expired (9621), revoked (9625), invalid (9622, 9722), or not allowed (9637, 9647).
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthError extends RequestError<AuthError>()(
  "AuthError",
  { ...ReplyFields, reason: AuthReason },
  (error) =>
    `${
      error.reason === "invalid" && error.errorNumber === 9722
        ? "the sToken is invalid: the server could not read it from the Authorization header (is the token file complete?)"
        : authText[error.reason]
    } ${answered(error)}`
) {}

const RetryAfterFields = {
  /** The server's `Retry-After` as milliseconds from its response, when sent. */
  retryAfterMillis: Schema.optional(Schema.Number),
  /** When the server's `Retry-After` says a request may be sent again, when sent. */
  retryAt: Schema.optional(Schema.DateFromSelf)
}

const retryAtText = (retryAt: Date | undefined): string =>
  retryAt === undefined ? "" : `: the server asks to retry after ${retryAt.toISOString()}`

/**
 * Too many requests (HTTP 429 / 9646). `retryAfterMillis` and `retryAt` are the server's `Retry-After`, when
 * sent. A `Retry-After` longer than what is left of the retry budget is not waited for: the request fails at
 * once with this error, and `retryAt` says when to try again.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimitedError extends RequestError<RateLimitedError>()(
  "RateLimitedError",
  { ...ReplyFields, ...RetryAfterFields },
  (error) => `rate limited by the server ${answered(error)}${retryAtText(error.retryAt)}`
) {}

/**
 * The service failed or is temporarily unavailable (500/9603, 502, 503/9729, 504, maintenance 9644).
 * `retryAfterMillis` and `retryAt` are the server's `Retry-After`, when sent; as with {@link RateLimitedError},
 * one longer than what is left of the retry budget fails at once.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnavailableError extends RequestError<UnavailableError>()(
  "UnavailableError",
  { ...ReplyFields, ...RetryAfterFields },
  (error) => `the service is unavailable ${answered(error)}${retryAtText(error.retryAt)}`
) {}

/**
 * The server refused the request as malformed or not applicable (9602, 9650, …).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequestError extends RequestError<BadRequestError>()(
  "BadRequestError",
  { ...ReplyFields, errorMessage: Schema.optional(Schema.String) },
  (error) =>
    `the server rejected the request ${answered(error)}${error.errorMessage === undefined ? "" : `: ${error.errorMessage}`}`
) {}

/**
 * The `sinceVersionId` (9721) or `sinceModifiedToken` (9602, 9629 or 9633 on the first request of a legacy delta)
 * is no longer accepted: a full traversal is needed. For a legacy delta, `cause` is the refusal it was read from.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointUnusableError extends RequestError<CheckpointUnusableError>()(
  "CheckpointUnusableError",
  ReplyFields,
  (error) => `the checkpoint is no longer accepted by the server ${answered(error)}: run a full sync`
) {}

/**
 * The server rejected a subscription cursor (9812, "The provided cursor is invalid."): it expired or was
 * invalidated. Cursors are opaque and positional, so the only remedy is a new traversal from the start.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCursorError extends RequestError<InvalidCursorError>()(
  "InvalidCursorError",
  ReplyFields,
  (error) => `the cursor is no longer accepted by the server ${answered(error)}: start the traversal again`
) {}

/**
 * The request could not be sent or its response not received (DNS, connection refused or reset). `cause` is
 * the platform's underlying failure (e.g. undici's `fetch failed` with Node's `ECONNREFUSED` error inside).
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends RequestError<TransportError>()(
  "TransportError",
  {
    reason: Schema.String,
    /** The system error code of the failure, when the platform reported one (`ECONNREFUSED`, `ECONNRESET`, …). */
    code: Schema.optional(Schema.String)
  },
  (error) => `could not reach the server at ${error.endpoint}: ${error.reason}`
) {}

/**
 * No complete response arrived within the per-request timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutError extends RequestError<TimeoutError>()(
  "TimeoutError",
  { timeoutMillis: Schema.Number },
  (error) => `no response from ${error.endpoint} within ${error.timeoutMillis} ms`
) {}

/**
 * The response body is not JSON (`kind: "json"`, retried: usually a truncated body) or does not match the
 * documented shape (`kind: "schema"`, with the path of the first problem). `cause` is the `SyntaxError` of
 * `JSON.parse` or the Schema `ParseError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends RequestError<DecodeError>()(
  "DecodeError",
  { kind: Schema.Literal("json", "schema"), path: Schema.String, reason: Schema.String },
  (error) =>
    error.kind === "json"
      ? `the response from ${error.endpoint} is not valid JSON: ${error.reason}`
      : `the response from ${error.endpoint} does not match the expected shape at ${error.path}: ${error.reason}`
) {}

/**
 * The server broke a rule of its pagination protocol (a repeated cursor, a traversal past its safety bound, …).
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends RequestError<ProtocolError>()(
  "ProtocolError",
  { reason: Schema.String },
  (error) => `protocol violation by ${error.endpoint}: ${error.reason}`
) {}

/**
 * The schema of a traversal's outcome (`Traversal.Outcome`), as {@link DriftedError} carries it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OutcomeSchema = Schema.Struct({
  checkpoint: Schema.UndefinedOr(Schema.String),
  consistency: Schema.Literal("consistent", "drifted"),
  pages: Schema.Number,
  records: Schema.Number,
  retries: Schema.Number,
  passes: Schema.Number,
  tokenExpiresAt: Schema.optionalWith(Schema.DateFromSelf, { exact: true })
})

/**
 * A traversal's `records` or `pages` stream read a drifted pass: its pages reported different `versionId`s (or
 * the legacy walk saw a record change under it), so records may be missing (a deletion shifted live pages) or
 * repeated. The stream fails with it after the last record of that pass, so a consumer cannot take an
 * incomplete set for a complete one. `outcome` is the pass's outcome (its checkpoint, counts and passes).
 *
 * What to do: read again (PageIndex's `drift: { retraverse: n }` re-reads until a pass is consistent), or, when
 * a partial set is acceptable, opt out with `Traversal.allowDrift`; `run` returns the outcome without failing.
 *
 * @since 0.1.0
 * @category errors
 */
export class DriftedError extends Schema.TaggedError<DriftedError>("@vppkit/core/DriftedError")("DriftedError", {
  outcome: OutcomeSchema
}) {
  override get message(): string {
    const { outcome } = this
    const passes = outcome.passes > 1 ? ` in each of ${outcome.passes} passes` : ""
    return `the data changed while it was read${passes} (${outcome.records} records from ${outcome.pages} pages): ` +
      "records may be missing or repeated; read again for a complete set"
  }
}

/**
 * Every error a request or a paginator can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type VppError =
  | AuthError
  | RateLimitedError
  | UnavailableError
  | BadRequestError
  | CheckpointUnusableError
  | InvalidCursorError
  | TransportError
  | TimeoutError
  | DecodeError
  | ProtocolError

/**
 * Whether retrying the same request may succeed: rate limits, unavailability, transport trouble,
 * timeouts, and bodies that are not JSON at all.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: VppError): boolean => {
  switch (error._tag) {
    case "RateLimitedError":
    case "UnavailableError":
    case "TransportError":
    case "TimeoutError":
      return true
    case "DecodeError":
      return error.kind === "json"
    default:
      return false
  }
}

/**
 * Whether a value is a {@link VppError} (any request error; not a {@link DriftedError}), by its {@link TypeId}.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isVppError = (u: unknown): u is VppError => Predicate.hasProperty(u, TypeId)

const describe = (status: number, errorNumber: number | undefined): string =>
  errorNumber === undefined ? `HTTP ${status}` : `HTTP ${status}, error ${errorNumber}`
