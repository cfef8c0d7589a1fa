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
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

const RequestFields = {
  /** The endpoint path, without query string. */
  endpoint: Schema.String
}

/**
 * Why an {@link AuthError} happened.
 *
 * @since 0.1.0
 * @category models
 */
export const AuthReason = Schema.Literal("expired", "revoked", "invalid", "login-required", "forbidden")

/**
 * The token is missing, expired (9621), revoked (9625), invalid (9622, 9722), or not allowed (9637, 9647).
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthError extends Schema.TaggedError<AuthError>("@vppkit/core/AuthError")("AuthError", {
  ...RequestFields,
  reason: AuthReason,
  status: Schema.Number,
  errorNumber: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    const what = {
      expired: "the sToken has expired: download a new one from Apple School/Business Manager",
      revoked: "the sToken has been revoked: download a new one from Apple School/Business Manager",
      invalid: this.errorNumber === 9722
        ? "the sToken is invalid: the server could not read it from the Authorization header (is the token file complete?)"
        : "the sToken is invalid: the server does not recognise it (is it the current token file of this location?)",
      "login-required": "the server requires a login (no usable sToken was sent)",
      forbidden: "the sToken is not allowed to perform this operation"
    }[this.reason]
    return `${what} (${describe(this.status, this.errorNumber)} from ${this.endpoint})`
  }
}

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
export class RateLimitedError extends Schema.TaggedError<RateLimitedError>("@vppkit/core/RateLimitedError")(
  "RateLimitedError",
  {
    ...RequestFields,
    status: Schema.Number,
    errorNumber: Schema.optional(Schema.Number),
    ...RetryAfterFields
  }
) {
  override get message(): string {
    return `rate limited by the server (${describe(this.status, this.errorNumber)} from ${this.endpoint})${
      retryAtText(this.retryAt)
    }`
  }
}

/**
 * The service failed or is temporarily unavailable (500/9603, 502, 503/9729, 504, maintenance 9644).
 * `retryAfterMillis` and `retryAt` are the server's `Retry-After`, when sent; as with {@link RateLimitedError},
 * one longer than what is left of the retry budget fails at once.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnavailableError extends Schema.TaggedError<UnavailableError>("@vppkit/core/UnavailableError")(
  "UnavailableError",
  {
    ...RequestFields,
    status: Schema.Number,
    errorNumber: Schema.optional(Schema.Number),
    ...RetryAfterFields
  }
) {
  override get message(): string {
    return `the service is unavailable (${describe(this.status, this.errorNumber)} from ${this.endpoint})${
      retryAtText(this.retryAt)
    }`
  }
}

/**
 * The server refused the request as malformed or not applicable (9602, 9650, …).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequestError extends Schema.TaggedError<BadRequestError>("@vppkit/core/BadRequestError")(
  "BadRequestError",
  {
    ...RequestFields,
    status: Schema.Number,
    errorNumber: Schema.optional(Schema.Number),
    errorMessage: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    const text = this.errorMessage === undefined ? "" : `: ${this.errorMessage}`
    return `the server rejected the request (${describe(this.status, this.errorNumber)} from ${this.endpoint})${text}`
  }
}

/**
 * The `sinceVersionId` (9721) or `sinceModifiedToken` (9602, 9629 or 9633 on the first request of a legacy delta)
 * is no longer accepted: a full traversal is needed.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointUnusableError
  extends Schema.TaggedError<CheckpointUnusableError>("@vppkit/core/CheckpointUnusableError")(
    "CheckpointUnusableError",
    {
      ...RequestFields,
      status: Schema.Number,
      errorNumber: Schema.optional(Schema.Number)
    }
  )
{
  override get message(): string {
    return `the checkpoint is no longer accepted by the server (${
      describe(this.status, this.errorNumber)
    } from ${this.endpoint}): run a full sync`
  }
}

/**
 * The server rejected a subscription cursor (9812, "The provided cursor is invalid."): it expired or was
 * invalidated. Cursors are opaque and positional, so the only remedy is a new traversal from the start.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCursorError extends Schema.TaggedError<InvalidCursorError>("@vppkit/core/InvalidCursorError")(
  "InvalidCursorError",
  {
    ...RequestFields,
    status: Schema.Number,
    errorNumber: Schema.optional(Schema.Number)
  }
) {
  override get message(): string {
    return `the cursor is no longer accepted by the server (${
      describe(this.status, this.errorNumber)
    } from ${this.endpoint}): start the traversal again`
  }
}

/**
 * The request could not be sent or its response not received (DNS, connection refused or reset).
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>("@vppkit/core/TransportError")(
  "TransportError",
  {
    ...RequestFields,
    reason: Schema.String,
    /** The system error code of the failure, when the platform reported one (`ECONNREFUSED`, `ECONNRESET`, …). */
    code: Schema.optional(Schema.String)
  }
) {
  override get message(): string {
    return `could not reach the server at ${this.endpoint}: ${this.reason}`
  }
}

/**
 * No complete response arrived within the per-request timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutError extends Schema.TaggedError<TimeoutError>("@vppkit/core/TimeoutError")("TimeoutError", {
  ...RequestFields,
  timeoutMillis: Schema.Number
}) {
  override get message(): string {
    return `no response from ${this.endpoint} within ${this.timeoutMillis} ms`
  }
}

/**
 * The response body is not JSON (`kind: "json"`, retried: usually a truncated body) or does not match the
 * documented shape (`kind: "schema"`, with the path of the first problem).
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Schema.TaggedError<DecodeError>("@vppkit/core/DecodeError")("DecodeError", {
  ...RequestFields,
  kind: Schema.Literal("json", "schema"),
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return this.kind === "json"
      ? `the response from ${this.endpoint} is not valid JSON: ${this.reason}`
      : `the response from ${this.endpoint} does not match the expected shape at ${this.path}: ${this.reason}`
  }
}

/**
 * The server broke a rule of its pagination protocol (a repeated cursor, a traversal past its safety bound, …).
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Schema.TaggedError<ProtocolError>("@vppkit/core/ProtocolError")(
  "ProtocolError",
  {
    ...RequestFields,
    reason: Schema.String
  }
) {
  override get message(): string {
    return `protocol violation by ${this.endpoint}: ${this.reason}`
  }
}

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
 * @since 0.1.0
 * @category predicates
 */
export const isVppError = (u: unknown): u is VppError =>
  Predicate.isTagged(u, "AuthError") || Predicate.isTagged(u, "RateLimitedError") ||
  Predicate.isTagged(u, "UnavailableError") || Predicate.isTagged(u, "BadRequestError") ||
  Predicate.isTagged(u, "CheckpointUnusableError") || Predicate.isTagged(u, "InvalidCursorError") ||
  Predicate.isTagged(u, "TransportError") ||
  Predicate.isTagged(u, "TimeoutError") || Predicate.isTagged(u, "DecodeError") ||
  Predicate.isTagged(u, "ProtocolError")

const describe = (status: number, errorNumber: number | undefined): string =>
  errorNumber === undefined ? `HTTP ${status}` : `HTTP ${status}, error ${errorNumber}`
