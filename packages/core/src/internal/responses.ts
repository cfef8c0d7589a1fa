import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import { parseRetryAfter } from "../RetryPolicy.js"
import * as VppError from "../VppError.js"

/** The parts of an HTTP response that decide its outcome. */
export interface RawResponse {
  readonly endpoint: string
  readonly status: number
  readonly retryAfter: string | undefined
  readonly text: string
  readonly now: number
}

const authReasons: Record<number, typeof VppError.AuthReason.Type> = {
  9601: "login-required",
  9621: "expired",
  9622: "invalid",
  9625: "revoked",
  9637: "forbidden",
  9647: "forbidden",
  9722: "invalid"
}

const unavailableNumbers = new Set([9603, 9608, 9644, 9729])

/**
 * The response transform of the client edge: Apple's JSON body of a response, or a failure with the
 * {@link VppError.VppError} the response stands for (see {@link classify}).
 */
export const toJson = (
  endpoint: string,
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<unknown, VppError.VppError | HttpClientError.ResponseError> =>
  Effect.flatMap(bodyText(response), (text) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      classify({ endpoint, status: response.status, retryAfter: response.headers["retry-after"], text, now })))

/**
 * The response's body as text. The platform's `response.text` memoizes the read (`Effect.cached`, run with
 * `Effect.runSync`: a fiber, a semaphore, a `Deferred` and clock reads per response), which cost the client
 * about as much CPU per page as everything else around its exchange (issue 17; BENCHMARKS.md). The client
 * reads each body once, so the responses of the platform's clients are read directly where their runtime's
 * own response is at hand: `fetch`'s `Response` (`fromWeb`: `source.text()`) and undici's (`source.body`, read
 * as bytes and decoded here), with the same `ResponseError` (reason `Decode`) on failure. Any other response is
 * read with `response.text`.
 */
export const bodyText = (
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<string, HttpClientError.ResponseError> => {
  const read = directRead((response as { readonly source?: unknown }).source)
  if (read === undefined) return response.text
  return Effect.tryPromise({
    try: read,
    catch: (cause) => new HttpClientError.ResponseError({ request: response.request, response, reason: "Decode", cause })
  })
}

interface UndiciBody {
  readonly arrayBuffer: () => Promise<ArrayBuffer>
}

const isUndiciBody = (value: unknown): value is UndiciBody =>
  typeof value === "object" && value !== null &&
  typeof (value as { readonly arrayBuffer?: unknown }).arrayBuffer === "function"

/**
 * UTF-8 as undici's `body.text()` decodes it: a leading byte order mark dropped, a malformed sequence read as
 * U+FFFD. Without `stream`, `decode` keeps no state between calls, so one decoder serves every response.
 */
const utf8 = new TextDecoder()

const decodeUtf8 = (bytes: ArrayBuffer): string => utf8.decode(bytes)

/**
 * How to read a platform response's `source` as text: `fetch`'s `Response`, or undici's response data.
 *
 * undici's body is read as bytes and decoded here rather than with `body.text()`: the string `text()` resolves
 * stays reachable from the body (its listeners hold the promise that resolved it) for as long as the body is,
 * and the body outlives the page inside the client's fibers. Every page's text then survived the young
 * generation's collections and was copied into the old one (all of them: 75 KB a page). The bytes of
 * `arrayBuffer()` live outside the JavaScript heap, and the string decoded from them is the client's alone:
 * in side-by-side runs of 300,000 and 1,000,000 records, time in scavenges −20 to −30 % and client CPU per record
 * −2 to −8 % (issue 17 goal 2; BENCHMARKS.md).
 */
const directRead = (source: unknown): (() => Promise<string>) | undefined => {
  if (source instanceof Response) return () => source.text()
  if (typeof source !== "object" || source === null) return undefined
  const body = (source as { readonly body?: unknown }).body
  return isUndiciBody(body) ? () => body.arrayBuffer().then(decodeUtf8) : undefined
}

/**
 * Turns an HTTP response into its JSON body, or fails with the typed error it stands for. Apple reports errors
 * with 4xx/5xx statuses, but also inside HTTP 200 bodies: v2 bodies with an `errorNumber`, v1 bodies with
 * `status: -1`. Both are checked on every response.
 */
export const classify = (response: RawResponse): Effect.Effect<unknown, VppError.VppError> => {
  const { endpoint, status } = response
  let json: unknown
  let parseFailure: unknown = undefined
  let parsed = true
  try {
    json = JSON.parse(response.text)
  } catch (error) {
    parsed = false
    parseFailure = error
  }
  const retryAfterMillis = parseRetryAfter(response.retryAfter, response.now)
  const body = parsed && Predicate.isRecord(json) ? json : undefined
  const errorNumber = body !== undefined && typeof body["errorNumber"] === "number" ? body["errorNumber"] : undefined
  const errorMessage = body !== undefined && typeof body["errorMessage"] === "string" ? body["errorMessage"] : undefined
  const legacyFailure = body !== undefined && body["status"] === -1
  const legacySuccess = body !== undefined && body["status"] === 0
  const ok = status >= 200 && status < 300

  if (ok && !legacyFailure && (errorNumber === undefined || legacySuccess)) {
    if (!parsed) {
      return Effect.fail(
        new VppError.DecodeError({
          endpoint,
          kind: "json",
          path: "$",
          reason: describeJsonFailure(response.text),
          cause: parseFailure
        })
      )
    }
    return Effect.succeed(json)
  }
  return Effect.fail(fromError({ endpoint, status, errorNumber, errorMessage, retryAfterMillis, now: response.now }))
}

const fromError = (options: {
  readonly endpoint: string
  readonly status: number
  readonly errorNumber: number | undefined
  readonly errorMessage: string | undefined
  readonly retryAfterMillis: number | undefined
  readonly now: number
}): VppError.VppError => {
  const { endpoint, errorMessage, errorNumber, now, retryAfterMillis, status } = options
  const numbered = errorNumber === undefined ? {} : { errorNumber }
  const retryAfter = retryAfterMillis === undefined ? {} : { retryAfterMillis, retryAt: new Date(now + retryAfterMillis) }
  if (errorNumber !== undefined) {
    const reason = authReasons[errorNumber]
    if (reason !== undefined) return new VppError.AuthError({ endpoint, status, reason, errorNumber })
    if (errorNumber === 9646) return new VppError.RateLimitedError({ endpoint, status, errorNumber, ...retryAfter })
    if (unavailableNumbers.has(errorNumber)) {
      return new VppError.UnavailableError({ endpoint, status, errorNumber, ...retryAfter })
    }
    if (errorNumber === 9721) return new VppError.CheckpointUnusableError({ endpoint, status, errorNumber })
    if (errorNumber === 9812) return new VppError.InvalidCursorError({ endpoint, status, errorNumber })
  }
  if (status === 429) return new VppError.RateLimitedError({ endpoint, status, ...numbered, ...retryAfter })
  if (status === 401) return new VppError.AuthError({ endpoint, status, reason: "invalid", ...numbered })
  if (status === 403) return new VppError.AuthError({ endpoint, status, reason: "forbidden", ...numbered })
  if (status >= 500 || status === 408) {
    return new VppError.UnavailableError({ endpoint, status, ...numbered, ...retryAfter })
  }
  return new VppError.BadRequestError({
    endpoint,
    status,
    ...numbered,
    ...(errorMessage === undefined ? {} : { errorMessage })
  })
}

const describeJsonFailure = (text: string): string =>
  text.length === 0 ? "the body is empty" : `the body (${text.length} characters) does not parse`

/** A body that does not match its schema, with the `ParseError` as its cause. */
export const schemaError = (endpoint: string, error: ParseResult.ParseError): VppError.DecodeError =>
  new VppError.DecodeError({ endpoint, kind: "schema", ...describeParseError(error), cause: error })

/** The first problem of a schema failure as `path` and message, for {@link VppError.DecodeError}. */
const describeParseError = (error: ParseResult.ParseError): { readonly path: string; readonly reason: string } => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  if (first === undefined) return { path: "$", reason: error.message }
  const path = first.path.reduce<string>(
    (acc, segment) => typeof segment === "number" ? `${acc}[${segment}]` : `${acc}.${String(segment)}`,
    "$"
  )
  return { path, reason: first.message }
}
