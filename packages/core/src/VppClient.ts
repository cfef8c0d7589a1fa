/**
 * The client every paginator goes through. It owns the base URL, the sToken (as `Redacted`), JSON decoding
 * with Schema, the mapping of Apple's errors to {@link VppError}, one concurrency gate per sToken (at most 5
 * requests in flight across every stream sharing the client), a request-rate limiter, the per-request timeout,
 * and the retry policy. Retries happen per request, never by restarting a stream.
 *
 * The client needs only an `HttpClient` (and, for {@link layerConfig}, a `FileSystem`): a runtime provides those
 * (`@vppkit/node` provides undici's). Configuration comes either explicitly ({@link layer}, {@link makeChecked})
 * or from the environment through `Config` ({@link layerConfig}):
 *
 * | variable | meaning |
 * | --- | --- |
 * | `VPP_TOKEN_FILE` | path of the sToken file downloaded from Apple School/Business Manager |
 * | `VPP_TOKEN` | the sToken itself (when no file is used) |
 * | `VPP_BASE_URL` | default `https://vpp.itunes.apple.com/mdm`; plain `http://` only for a loopback host |
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as UrlParamsModule from "@effect/platform/UrlParams"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { flow } from "effect/Function"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as AbortTimeout from "./internal/abortTimeout.js"
import * as Decoder from "./internal/decoder.js"
import * as RateLimiter from "./internal/rateLimiter.js"
import * as Responses from "./internal/responses.js"
import * as RetryPolicy from "./RetryPolicy.js"
import * as SToken from "./SToken.js"
import * as VppError from "./VppError.js"

/**
 * Apple's production base URL; v2 paths live under `/v2`, legacy v1 services directly under it.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://vpp.itunes.apple.com/mdm"

/**
 * Apple's advice: never more than five requests at once.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxConcurrency = 5

/**
 * Requests in flight at once as asked (`undefined`: the most), made a whole number from 1 to `most`
 * ({@link maxConcurrency} unless a smaller bound applies, such as a client's own gate).
 *
 * @since 0.1.0
 * @category constants
 */
export const clampConcurrency = (requested: number | undefined, most: number = maxConcurrency): number =>
  Math.max(1, Math.min(most, Math.floor(requested ?? most)))

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly token: SToken.SToken
  /** Default {@link defaultBaseUrl}. */
  readonly baseUrl?: string
  /** Requests in flight at once, 1 to 5 (default 5; larger values are clamped to 5). */
  readonly concurrency?: number
  /** Request starts per second (default 15, Apple's `maxRequestPerSecond`); `Infinity` disables the limiter. */
  readonly maxRequestsPerSecond?: number
  /** Per-attempt timeout (default 60 s). */
  readonly requestTimeout?: Duration.DurationInput
  /** The retry policy (see {@link RetryPolicy.Options}). */
  readonly retry?: RetryPolicy.Options
  /** How long every request pauses after a 429 that carries no `Retry-After` (default 1 s). */
  readonly rateLimitPause?: Duration.DurationInput
  /**
   * Called after every attempt, each retry included, with what was asked and how it ended (see
   * {@link RequestEvent}: never a header or a body, where the sToken travels). It should not take long: the
   * request holds its concurrency permit meanwhile.
   */
  readonly onRequest?: (event: RequestEvent) => Effect.Effect<void>
  /** Called when a failed request is about to be retried, with how long it waits first (see {@link RetryEvent}). */
  readonly onRetry?: (event: RetryEvent) => Effect.Effect<void>
}

/**
 * One attempt of a request, as {@link Options.onRequest} sees it. It holds no header and no body: the sToken
 * travels in the Authorization header (v2) or in the body (legacy POST), and neither is here.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestEvent {
  readonly method: "GET" | "POST"
  /** The path below the base URL, e.g. `/v2/assets`. */
  readonly path: string
  /** The query string of a GET as sent (`pageIndex=2&…`, no `?`); empty for a legacy POST. */
  readonly query: string
  /** The HTTP status; `undefined` when no response came (a transport failure, a timeout). */
  readonly status: number | undefined
  /** From sending the request to the end of its response (or its failure). */
  readonly millis: number
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number
  /** Why the attempt failed, when it did (an HTTP 200 can carry an error too). */
  readonly error: VppError.VppError | undefined
}

/**
 * A retry about to happen, as {@link Options.onRetry} sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryEvent {
  readonly path: string
  /** Which retry this is: 1 for the first. */
  readonly retry: number
  /** The most retries the policy allows (`retry.maxRetries`); the time budget may end them sooner. */
  readonly maxRetries: number
  /** How long the request waits before it is sent again: the backoff, or the server's `Retry-After` if longer. */
  readonly delayMillis: number
  /** The failure being retried. */
  readonly error: VppError.VppError
}

/**
 * A request: a v2 GET with query parameters (Bearer token), or a legacy v1 POST whose JSON body gets the
 * sToken added by the client.
 *
 * @since 0.1.0
 * @category models
 */
export type Request =
  | {
    readonly _tag: "Get"
    readonly path: string
    readonly params?: UrlParams
  }
  | {
    readonly _tag: "LegacyPost"
    readonly path: string
    readonly body: Readonly<Record<string, unknown>>
  }

/**
 * Query parameters: `undefined` values are left out, arrays are sent as repeated keys, booleans as
 * `true`/`false`.
 *
 * @since 0.1.0
 * @category models
 */
export type UrlParams = Readonly<
  Record<string, string | number | boolean | ReadonlyArray<string | number> | undefined>
>

/**
 * A decoded response and how many attempts it took.
 *
 * @since 0.1.0
 * @category models
 */
export interface Response<A> {
  readonly value: A
  readonly attempts: number
}

/**
 * Counters over the client's lifetime.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly requests: number
  readonly retries: number
  readonly rateLimited: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly baseUrl: string
  readonly token: SToken.SToken
  readonly concurrency: number
  /** Sends a request (with retries) and decodes its body. */
  readonly execute: <A, I>(request: Request, schema: Schema.Schema<A, I>) => Effect.Effect<Response<A>, VppError.VppError>
  /** Shorthand for a v2 GET returning only the value. */
  readonly get: <A, I>(path: string, params: UrlParams, schema: Schema.Schema<A, I>) => Effect.Effect<A, VppError.VppError>
  /** Changes the request-rate limit, e.g. to the `maxRequestPerSecond` of Service Config. */
  readonly setMaxRequestsPerSecond: (perSecond: number) => Effect.Effect<void>
  /** Reads Service Config and adopts its `maxRequestPerSecond`. */
  readonly syncServiceConfig: Effect.Effect<ServiceConfig, VppError.VppError>
  readonly stats: Effect.Effect<Stats>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class VppClient extends Context.Tag("@vppkit/core/VppClient")<VppClient, Service>() {}

/**
 * The parts of `GET /v2/service/config` the client uses.
 *
 * @since 0.1.0
 * @category schemas
 */
export class ServiceConfig extends Schema.Class<ServiceConfig>("@vppkit/core/ServiceConfig")({
  limits: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Number }), { default: () => ({}) }),
  urls: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) })
}) {}

const methodOf = (request: Request): RequestEvent["method"] => request._tag === "Get" ? "GET" : "POST"

/** `0.3 s`, `4.0 s`, `16 s`. */
const formatDelay = (millis: number): string =>
  millis < 10_000 ? `${(millis / 1000).toFixed(1)} s` : `${Math.round(millis / 1000)} s`

/**
 * Builds a client over the abstract `HttpClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const baseUrl = (options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")
    // No span of the platform's per HTTP exchange, and so no trace-context headers sent to Apple: the client's
    // own `VppClient.execute` span covers the request with its retries (and costs a fraction of the platform's).
    // Every request goes to the base URL and asks for JSON.
    const http = (yield* HttpClient.HttpClient).pipe(
      HttpClient.withTracerDisabledWhen(() => true),
      HttpClient.mapRequest(flow(HttpClientRequest.prependUrl(baseUrl), HttpClientRequest.acceptJson)),
      // Each request aborted when the scope it runs in closes: how its timeout ends it (internal/abortTimeout.ts).
      HttpClient.withScope
    )
    const concurrency = clampConcurrency(options.concurrency)
    const timeout = Duration.decode(options.requestTimeout ?? Duration.seconds(60))
    const rateLimitPause = Duration.toMillis(options.rateLimitPause ?? Duration.seconds(1))
    const gate = yield* Effect.makeSemaphore(concurrency)
    // 5 % of margin on the window keeps the client under the server's limit despite latency jitter.
    const limiter = yield* RateLimiter.makeRateLimiter(options.maxRequestsPerSecond ?? 15, 1000, 50)
    // The pause every request of the client waits for (a 429, or a Retry-After), and the error that set it.
    const pause = yield* Ref.make<Pause>({ until: 0, cause: undefined })
    const stats = yield* Ref.make<Stats>({ requests: 0, retries: 0, rateLimited: 0 })
    const retrySchedule = RetryPolicy.schedule(options.retry)
    const retrySettings = { ...RetryPolicy.defaults, ...options.retry }
    const budgetMillis = Duration.toMillis(retrySettings.budget)

    // Whether any pause was ever set: until then (for most clients, always) no request reads the pause or the
    // clock to check for one, which a request did three times (before the gate, before and after its slot).
    let pausedOnce = false
    // A request waits a pause out only when it ends before the request's retry budget does (`deadline`);
    // otherwise it fails at once with the error that set the pause, which says when to retry.
    const waitForPause = (deadline: number): Effect.Effect<void, PauseError> =>
      Effect.suspend(() => pausedOnce ? waitForPauseInForce(deadline) : Effect.void)
    const waitForPauseInForce = (deadline: number): Effect.Effect<void, PauseError> =>
      Effect.gen(function*() {
        const { cause, until } = yield* Ref.get(pause)
        const now = yield* Clock.currentTimeMillis
        if (until <= now) return
        if (until > deadline && cause !== undefined) return yield* Effect.fail(cause)
        yield* Effect.sleep(RateLimiter.wholeMillis(until - now))
        yield* waitForPauseInForce(deadline)
      })

    /** Whether the pause in force outlasts the retry budget ending at `deadline`: then retrying is pointless. */
    const pauseOutlasts = (deadline: number) =>
      Effect.zipWith(Ref.get(pause), Clock.currentTimeMillis, ({ until }, now) => until > now && until > deadline)

    // A request starts once no pause is in force and the limiter gave it a slot. A pause that began while it
    // waited (for a permit or for its slot) holds it too: it waits the pause out and takes a fresh slot.
    const admit = (deadline: number): Effect.Effect<RateLimiter.Slot, PauseError> =>
      Effect.suspend(() =>
        waitForPause(deadline).pipe(
          Effect.zipRight(limiter.take),
          Effect.flatMap((slot) =>
            pausedOnce ?
              Effect.zipWith(Ref.get(pause), Clock.currentTimeMillis, ({ until }, now) => until > now).pipe(
                Effect.flatMap((paused) => paused ? admit(deadline) : Effect.succeed(slot))
              ) :
              Effect.succeed(slot)
          )
        )
      )

    const pauseFor = (millis: number, cause: PauseError) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        pausedOnce = true
        return Ref.update(pause, (current) => now + millis > current.until ? { until: now + millis, cause } : current)
      })

    /** The request as sent: `baseUrl` and `Accept: application/json` are the client's (see `http`). */
    const toHttpRequest = (request: Request): HttpClientRequest.HttpClientRequest => {
      switch (request._tag) {
        case "Get":
          return HttpClientRequest.get(request.path).pipe(
            HttpClientRequest.appendUrlParams(request.params ?? {}),
            HttpClientRequest.bearerToken(options.token.value)
          )
        case "LegacyPost":
          // v1 services take the sToken in the body, and no Authorization header.
          return HttpClientRequest.post(request.path).pipe(
            HttpClientRequest.bodyUnsafeJson({ ...request.body, sToken: Redacted.value(options.token.value) })
          )
      }
    }

    /**
     * One attempt: the exchange, timed, with Apple's answer read by `Responses.toJson` (its JSON body, or a failure
     * with the VppError it stands for), and reported to `onRequest`.
     */
    const attempt = (
      request: Request,
      httpRequest: HttpClientRequest.HttpClientRequest,
      deadline: number,
      attempt: number,
      query: string
    ): Effect.Effect<unknown, VppError.VppError> =>
      Effect.zipRight(
        waitForPause(deadline),
        gate.withPermits(1)(Effect.flatMap(admit(deadline), (slot) =>
          Effect.suspend(() => {
            const endpoint = request.path
            let status: number | undefined
            const exchange = http.execute(httpRequest).pipe(
              Effect.flatMap((response) => {
                status = response.status
                // The limiter learns how long the server may have taken to see it (see internal/rateLimiter.ts).
                return Effect.zipRight(slot.answered, Responses.toJson(endpoint, response))
              }),
              Effect.catchTags({
                RequestError: (error) => Effect.fail(transportError(endpoint, error)),
                ResponseError: (error) => Effect.fail(transportError(endpoint, error))
              }),
              // Only the exchange itself is timed, not the wait for a pause or a rate-limit slot. The timeout
              // aborts the request rather than racing it (no fiber per request: see internal/abortTimeout.ts).
              (exchange) =>
                AbortTimeout.abortAfter(
                  exchange,
                  timeout,
                  () => new VppError.TimeoutError({ endpoint, timeoutMillis: Duration.toMillis(timeout) })
                )
            )
            const counted = Ref.update(stats, (s) => ({ ...s, requests: s.requests + 1 }))
            const onRequest = options.onRequest
            if (onRequest === undefined) return Effect.zipRight(counted, exchange)
            return counted.pipe(
              Effect.zipRight(Clock.currentTimeMillis),
              Effect.flatMap((started) => {
                const report = (error: VppError.VppError | undefined) =>
                  Effect.flatMap(Clock.currentTimeMillis, (finished) =>
                    onRequest({
                      method: methodOf(request),
                      path: endpoint,
                      query,
                      status,
                      millis: finished - started,
                      attempt,
                      error
                    }))
                return Effect.tapBoth(exchange, { onSuccess: () => report(undefined), onFailure: report })
              })
            )
          })))
      ).pipe(
        Effect.tapError((error) => {
          if (error._tag === "RateLimitedError") {
            return Ref.update(stats, (s) => ({ ...s, rateLimited: s.rateLimited + 1 })).pipe(
              Effect.zipRight(pauseFor(error.retryAfterMillis ?? rateLimitPause, error))
            )
          }
          if (error._tag === "UnavailableError" && error.retryAfterMillis !== undefined) {
            return pauseFor(error.retryAfterMillis, error)
          }
          return Effect.void
        })
      )

    /** Says that a retry is coming (a debug log, and `onRetry`); answers the schedule's delay unchanged. */
    const announceRetry = (endpoint: string, error: VppError.VppError, retry: number, delay: Duration.Duration) =>
      Effect.gen(function*() {
        // The retry waits for the client's pause too (a Retry-After), when that ends later than the backoff.
        const { until } = yield* Ref.get(pause)
        const now = yield* Clock.currentTimeMillis
        const delayMillis = Math.round(Math.max(Duration.toMillis(delay), until - now))
        const maxRetries = retrySettings.maxRetries
        yield* Effect.logDebug(`retrying ${endpoint} in ${formatDelay(delayMillis)}: ${error.message} (${retry}/${maxRetries})`)
        if (options.onRetry !== undefined) yield* options.onRetry({ path: endpoint, retry, maxRetries, delayMillis, error })
        return delay
      })

    const execute = <A, I>(request: Request, schema: Schema.Schema<A, I>) =>
      Effect.gen(function*() {
        const endpoint = request.path
        const httpRequest = toHttpRequest(request)
        const query = options.onRequest === undefined ? "" : UrlParamsModule.toString(httpRequest.urlParams)
        const deadline = (yield* Clock.currentTimeMillis) + budgetMillis
        let attempts = 1
        let lastError: VppError.VppError | undefined
        // The retry schedule is set up only once an attempt has failed (most requests never need it): the first
        // failure is handed to it as if `Effect.retry` had run the first attempt itself, so it decides as before.
        const retried = (firstFailure: VppError.VppError) => {
          let replayed = false
          return Effect.suspend(() => {
            if (!replayed) {
              replayed = true
              return Effect.fail(firstFailure)
            }
            attempts++
            // Counted when a retry starts: the schedule also sees the failures it does not retry.
            return Effect.zipRight(
              Ref.update(stats, (s) => ({ ...s, retries: s.retries + 1 })),
              attempt(request, httpRequest, deadline, attempts, query)
            )
          }).pipe(
            Effect.retry(retrySchedule.pipe(
              // A Retry-After past the budget: fail now with the error that says when to retry, not in a day.
              Schedule.whileInputEffect(() => Effect.map(pauseOutlasts(deadline), (outlasts) => !outlasts)),
              Schedule.tapInput((error: VppError.VppError) => Effect.sync(() => lastError = error)),
              // Only reached when the schedule goes on: a retry is certain, and its delay known.
              Schedule.modifyDelayEffect((_, delay) => announceRetry(endpoint, lastError!, attempts, delay))
            ))
          )
        }
        const json = yield* Effect.catchAll(attempt(request, httpRequest, deadline, attempts, query), retried)
        yield* Effect.annotateCurrentSpan("attempts", attempts)
        // Schema's decoding, compiled from the schema once (internal/decoder.ts): the same values, and on any
        // rejection Schema.decodeUnknown itself, so the error is Schema's with its path. The body is fresh from
        // JSON.parse, so records that already are what Schema would build are kept, not copied.
        const value = yield* Decoder.decodeJson(schema)(json).pipe(
          Effect.mapError((error) => Responses.schemaError(endpoint, error))
        )
        return { value, attempts }
      }).pipe(Effect.withSpan("VppClient.execute", { attributes: { endpoint: request.path }, captureStackTrace: false }))

    const get = <A, I>(path: string, params: UrlParams, schema: Schema.Schema<A, I>) =>
      Effect.map(execute({ _tag: "Get", path, params }, schema), (response) => response.value)

    return {
      baseUrl,
      token: options.token,
      concurrency,
      execute,
      get,
      setMaxRequestsPerSecond: limiter.setRate,
      syncServiceConfig: get("/v2/service/config", {}, ServiceConfig).pipe(
        Effect.tap((config) => {
          const rate = config.limits["maxRequestPerSecond"]
          return rate !== undefined && rate > 0 ? limiter.setRate(rate) : Effect.void
        })
      ),
      stats: Ref.get(stats)
    } satisfies Service
  })

/** An error that pauses every request of the client. */
type PauseError = VppError.RateLimitedError | VppError.UnavailableError

interface Pause {
  readonly until: number
  readonly cause: PauseError | undefined
}

/**
 * A platform failure as a {@link VppError.TransportError}. Its `cause` is the platform error's own cause (the
 * system error, as undici or fetch reported it), not the platform error: that one holds the request, and with it
 * the sToken (in the Authorization header, or in a legacy POST body).
 */
const transportError = (
  endpoint: string,
  error: { readonly reason: string; readonly description?: string | undefined; readonly cause?: unknown }
): VppError.TransportError => {
  const code = causeCode(error.cause)
  return new VppError.TransportError({
    endpoint,
    reason: transportReason(error),
    ...(code === undefined ? {} : { code }),
    ...(error.cause === undefined ? {} : { cause: error.cause })
  })
}

/** The innermost system error code of an error's cause chain (undici wraps Node's `ECONNREFUSED` error). */
const causeCode = (cause: unknown, depth = 0): string | undefined => {
  if (depth > 4 || typeof cause !== "object" || cause === null) return undefined
  const inner = causeCode((cause as { readonly cause?: unknown }).cause, depth + 1)
  if (inner !== undefined) return inner
  const code = (cause as { readonly code?: unknown }).code
  return typeof code === "string" && code.length > 0 ? code : undefined
}

const transportReason = (
  error: { readonly reason: string; readonly description?: string | undefined; readonly cause?: unknown }
): string => {
  const description = error.description ?? causeMessage(error.cause)
  return description.length > 0 ? `${error.reason}: ${description}` : error.reason
}

/** The innermost useful message of an error's cause chain (undici wraps "connect ECONNREFUSED …" in "fetch failed"). */
const causeMessage = (cause: unknown, depth = 0): string => {
  if (depth > 4 || typeof cause !== "object" || cause === null) return ""
  const inner = causeMessage((cause as { readonly cause?: unknown }).cause, depth + 1)
  if (inner.length > 0) return inner
  const message = (cause as { readonly message?: unknown }).message
  return typeof message === "string" ? message : ""
}

/**
 * The client as a layer over the abstract `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<VppClient, never, HttpClient.HttpClient> =>
  Layer.effect(VppClient, make(options))

/**
 * The configuration is missing or unusable. `message` is one line a CLI can print as is; it names the
 * variable or option (`setting`) and never quotes the token. `cause` is the failure it comes from, when there is
 * one (the `ConfigError`, the file system's error, the token's `InvalidTokenError`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigurationError extends Schema.TaggedError<ConfigurationError>("@vppkit/core/ConfigurationError")(
  "ConfigurationError",
  {
    /** The environment variable or option at fault, e.g. `VPP_BASE_URL` or `baseUrl`. */
    setting: Schema.String,
    message: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {}

const loopbackV4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/

/**
 * Whether a URL host name is a loopback address: `localhost`, 127.0.0.0/8 or `::1` (as `URL` writes them).
 *
 * @since 0.1.0
 * @category validation
 */
export const isLoopbackHost = (hostname: string): boolean => {
  const host = hostname.toLowerCase()
  return host === "localhost" || host === "[::1]" || host === "::1" || loopbackV4.test(host)
}

/**
 * Checks a base URL: `https://`, or `http://` for a loopback host only (the sToken must never cross a
 * network in clear text); no query or fragment. `setting` names the variable or option in the message.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkBaseUrl = (text: string, setting: string): Either.Either<string, ConfigurationError> => {
  const fail = (message: string) => Either.left(new ConfigurationError({ setting, message: `${setting} ${message}` }))
  let url: URL
  try {
    url = new URL(text.trim())
  } catch {
    return fail(`is not a valid URL (expected e.g. ${defaultBaseUrl})`)
  }
  const shown = `${url.protocol}//${url.host}`
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    return fail(
      `must use https:// (plain http:// is accepted only for a loopback host: 127.0.0.0/8, localhost or ::1), got ${shown}`
    )
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return fail(`must be an https:// URL, got ${shown}`)
  if (url.search !== "" || url.hash !== "") return fail("must not contain a query or a fragment")
  return Either.right(text.trim().replace(/\/+$/, ""))
}

/**
 * Whether a failure is a connection refused (`ECONNREFUSED`): nothing accepts connections on that address.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isConnectionRefused = (error: VppError.VppError): boolean =>
  error._tag === "TransportError" && error.code === "ECONNREFUSED"

/**
 * Builds a client once its `baseUrl` is acceptable (see {@link checkBaseUrl}; `baseUrl` names it in the message).
 *
 * A refused connection to a loopback host is not retried: there the refusal is the kernel's own, immediate
 * answer that nothing listens on the port (a server not started, a wrong port), which waiting does not change.
 * To any other host it is retried like other transport failures (a load balancer or a server restarting).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeChecked = (options: Options): Effect.Effect<Service, ConfigurationError, HttpClient.HttpClient> =>
  Effect.flatMap(checkBaseUrl(options.baseUrl ?? defaultBaseUrl, "baseUrl"), (baseUrl) => {
    const retryable = options.retry?.retryable ?? VppError.isRetryable
    const retry = isLoopbackHost(new URL(baseUrl).hostname)
      ? { ...options.retry, retryable: (error: VppError.VppError) => !isConnectionRefused(error) && retryable(error) }
      : options.retry
    return make({ ...options, baseUrl, ...(retry === undefined ? {} : { retry }) })
  })

/**
 * What the environment configures.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly token: SToken.SToken
  readonly baseUrl: string
}

const describeReadFailure = (error: unknown): string => {
  const reason = typeof error === "object" && error !== null && "reason" in error ? error.reason : undefined
  switch (reason) {
    case "NotFound":
      return "no such file"
    case "PermissionDenied":
      return "permission denied"
    case "BadResource":
      return "not a regular file"
    default:
      return typeof reason === "string" ? reason : "unknown error"
  }
}

const decodeToken = (text: string, setting: string, where: string) =>
  Either.mapLeft(
    SToken.decode(text),
    (error) =>
      new ConfigurationError({ setting, message: `${setting}: ${where} is not a valid sToken: ${error.reason}`, cause: error })
  )

const environment = Config.all({
  tokenFile: Config.string("VPP_TOKEN_FILE").pipe(Config.withDefault("")),
  token: Config.option(Config.redacted("VPP_TOKEN")),
  baseUrl: Config.string("VPP_BASE_URL").pipe(Config.withDefault(""))
})

/**
 * Reads `VPP_TOKEN_FILE` (read with `FileSystem`; surrounding white space is ignored) or `VPP_TOKEN`, and
 * `VPP_BASE_URL`, from the current `ConfigProvider` (the environment by default). An empty variable counts
 * as unset.
 *
 * @since 0.1.0
 * @category config
 */
export const loadSettings: Effect.Effect<Settings, ConfigurationError, FileSystem.FileSystem> = Effect.gen(function*() {
  const env = yield* Effect.mapError(
    environment,
    (error) =>
      new ConfigurationError({
        setting: "environment",
        message: `cannot read the environment: ${error.message}`,
        cause: error
      })
  )
  const tokenValue = Option.filter(env.token, (value) => Redacted.value(value).length > 0)
  if (env.tokenFile.length > 0 && Option.isSome(tokenValue)) {
    return yield* new ConfigurationError({
      setting: "VPP_TOKEN_FILE",
      message: "set only one of VPP_TOKEN_FILE and VPP_TOKEN, not both"
    })
  }
  let token: SToken.SToken
  if (env.tokenFile.length > 0) {
    const fs = yield* FileSystem.FileSystem
    const path = env.tokenFile
    const text = yield* Effect.mapError(
      fs.readFileString(path),
      (error) =>
        new ConfigurationError({
          setting: "VPP_TOKEN_FILE",
          message: `VPP_TOKEN_FILE: cannot read ${path}: ${describeReadFailure(error)}`,
          cause: error
        })
    )
    token = yield* decodeToken(text, "VPP_TOKEN_FILE", `the content of ${path}`)
  } else if (Option.isSome(tokenValue)) {
    token = yield* decodeToken(Redacted.value(tokenValue.value), "VPP_TOKEN", "its value")
  } else {
    return yield* new ConfigurationError({
      setting: "VPP_TOKEN_FILE",
      message:
        "no sToken configured: set VPP_TOKEN_FILE to the path of the token file downloaded from Apple School Manager or Apple Business Manager (or VPP_TOKEN to its content)"
    })
  }
  const baseUrl = yield* checkBaseUrl(env.baseUrl.length > 0 ? env.baseUrl : defaultBaseUrl, "VPP_BASE_URL")
  return { token, baseUrl }
}).pipe(Effect.withSpan("VppClient.loadSettings"))

/**
 * The client configured from the environment ({@link loadSettings}) over the runtime's `HttpClient` and
 * `FileSystem`; `options` sets everything else.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "token" | "baseUrl"> = {}
): Layer.Layer<VppClient, ConfigurationError, HttpClient.HttpClient | FileSystem.FileSystem> =>
  Layer.effect(VppClient, Effect.flatMap(loadSettings, (settings) => makeChecked({ ...options, ...settings })))
