/**
 * A deterministic, seeded simulator of Apple's App and Book Management server. It models one organisation
 * (assets, assignments, users, subscriptions) with Apple's semantics — live pages that shift under writes, a
 * `versionId` per endpoint that changes on every write, `sinceVersionId` deltas, errors in HTTP 200 bodies,
 * cursor-paginated subscription endpoints (cursors that expire), and the legacy v1 batch services
 * (`batchToken` chains, `overrideIndex`, `sinceModifiedToken`) — records every request, and injects faults
 * (scripted or probabilistic). Tests swap it in as a layer
 * ({@link layerTest}); `@vppkit/node` serves the same {@link toHttpApp} over a real socket.
 *
 * Everything runs on Effect's Clock, so TestClock drives latency, `Retry-After` and rate windows.
 *
 * Where Apple leaves behaviour open the simulator has a setting: server page size, `totalPages` of an empty
 * set, live pages or snapshots, deletions visible in deltas or not, how an invalid token is reported.
 *
 * @since 0.1.0
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Resource from "@vppkit/core/Resource"
import type { SToken } from "@vppkit/core/SToken"
import { unlimitedTotalCount } from "@vppkit/core/Asset"
import type { AssetRecord, AssignmentRecord, Counts, PageResource, UserRecord } from "./internal/organisation.js"
import { makeFaults, makeRateLimit } from "./internal/faults.js"
import type { LegacyKind } from "./internal/legacy.js"
import { type Model, makeModel } from "./internal/model.js"
import { first, InvalidArgument } from "./internal/pageIndex.js"
import type { PageSource, Served as ServedSetting } from "./internal/pageSource.js"
import { makeRequestLog } from "./internal/requestLog.js"
import { errorResponse, toQuery } from "./internal/responses.js"
import { makeRoutes } from "./internal/routes.js"
import type { SubscriptionCounts, SubscriptionResource } from "./internal/subscriptions.js"
import * as VppClient from "@vppkit/core/VppClient"

export type { AssetRecord, AssignmentRecord, LegacyKind, PageResource, SubscriptionResource, UserRecord }

/**
 * How a `Retry-After` header is sent: whole seconds or an HTTP-date that many seconds ahead.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryAfter {
  readonly seconds: number
  readonly format?: "seconds" | "http-date"
}

/**
 * A fault the simulator can inject into a response.
 *
 * @since 0.1.0
 * @category models
 */
export type Fault =
  | { readonly _tag: "RateLimited"; readonly retryAfter?: RetryAfter } // 429 + 9646
  | { readonly _tag: "Unavailable"; readonly retryAfter?: RetryAfter } // 503 + 9729
  | { readonly _tag: "InternalError"; readonly retryAfter?: RetryAfter } // 500 + 9603
  | { readonly _tag: "BadGateway" } // 502, HTML body
  | { readonly _tag: "GatewayTimeout" } // 504, HTML body
  | { readonly _tag: "InvalidTokenInBody" } // 200 + 9622
  | { readonly _tag: "MalformedJson" } // 200 with a truncated body
  | { readonly _tag: "Slow"; readonly millis: number } // served normally, late
  | { readonly _tag: "ConnectionReset" } // the connection is dropped
  | { readonly _tag: "Stall" } // no response ever
  | { readonly _tag: "Error"; readonly status: number; readonly errorNumber: number } // any other error
  // Cursor and legacy protocol faults:
  | { readonly _tag: "RepeatedCursor" } // served normally, but nextCursor is the cursor of the request
  | { readonly _tag: "TokenlessResponse" } // legacy: 200, status 0, neither batchToken nor sinceModifiedToken
  | { readonly _tag: "ZeroRecordBatch" } // legacy: an extra batch without records whose token leads on (nothing is lost)
  | { readonly _tag: "BatchDataLost" } // legacy: 200, status -1, 9633

/**
 * Which requests a scripted fault applies to.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultMatch {
  /** The endpoint path without `/mdm`, e.g. `/v2/assignments`. */
  readonly path?: string
  /** Only requests for this page index (0 when absent from the query). */
  readonly pageIndex?: number
  /** How many matching requests get the fault (default 1). */
  readonly times?: number
  /** Matching requests to let through first (default 0). */
  readonly skip?: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Seeds the data and the probabilistic faults (default 1). */
  readonly seed?: number
  readonly orgName?: string
  /** Record counts (defaults: 20 assets, 100 users, 500 assignments; of the assets, 0 unlimited free ones). */
  readonly records?: Partial<Counts>
  /** Records per page (default 1000; Apple: "several hundred"). */
  readonly pageSize?: number
  /** `totalPages` reported for an empty result (default 1). */
  readonly emptyTotalPages?: 0 | 1
  /**
   * Report `totalPages` this many pages short of the real count (never below 1), as a server whose count lags
   * behind its data; `nextPageIndex` and the pages themselves follow the real count (default 0).
   */
  readonly totalPagesLag?: number
  /** Live pages shift under writes (default); snapshots serve pages 1.. from the state of page 0. */
  readonly pages?: "live" | "snapshot"
  /** Whether deltas show deleted (retired/removed) records (default invisible). */
  readonly deltaDeletions?: "visible" | "invisible"
  /** How an unknown token is answered: 401 or, as seen in the wild, 200 with 9622 (default 401). */
  readonly invalidTokenStatus?: 200 | 401
  /** Whether `tokenExpirationDate` is always sent (default) or only within 15 days of expiry. */
  readonly tokenExpirationDate?: "always" | "within-15-days"
  /** The token's expiry (default 2030-11-08T22:33:22Z). */
  readonly tokenExpiresAt?: Date
  /**
   * How many sTokens the server accepts for the library (default 1): tokens of one location, as when an
   * administrator downloads another; every response carries the library's one `uId`.
   */
  readonly tokens?: number
  /** The token has been revoked: every request gets 9625. */
  readonly revoked?: boolean
  /** Added to every response. */
  readonly latency?: Duration.DurationInput
  /** Enforce this many requests per second (sliding window), answering 429/9646 beyond it. */
  readonly maxRequestsPerSecond?: number
  /** `Retry-After` seconds sent with an enforced rate limit. */
  readonly rateLimitRetryAfter?: number
  /** Random writes applied before every `every`-th data request. */
  readonly churn?: {
    readonly every: number
    readonly resources?: ReadonlyArray<PageResource | SubscriptionResource>
    readonly inserts?: number
    readonly updates?: number
    readonly deletes?: number
    /** Stop after this many write batches (default: never). */
    readonly limit?: number
  }
  /** Each data request gets one of `faults` with this probability (seeded). */
  readonly randomFaults?: { readonly probability: number; readonly faults: ReadonlyArray<Fault> }
  // Cursor (subscription) and legacy v1 endpoints:
  /** Subscription data (defaults: 12 subscriptions, 40 assignments, 6 admins). */
  readonly subscriptions?: Partial<SubscriptionCounts>
  /** Cursors older than this get 9812 (default: cursors do not expire). */
  readonly cursorTtl?: Duration.DurationInput
  /**
   * What legacy `overrideIndex` 1 returns: the batch of the initial response again (`totalBatchCount` = the
   * number of batches) or the batch after it (default; `totalBatchCount` = batches - 1, as Apple's examples
   * suggest: a single batch reports "0").
   */
  readonly legacyOverrideIndex?: "first-batch" | "next-batch"
  /**
   * Resources served from their descriptor and records alone, beside the modelled ones (e.g. a test's made-up
   * endpoint), at the descriptor's path. A page-index one is served like Apple's page-index endpoints — the
   * token check, `pageIndex`/`totalPages`/`nextPageIndex`, `versionId`, deltas from the descriptor's incremental
   * parameter (when it has a `delta`), the page size, live pages or snapshots, faults and churn counting — and a
   * cursor one like the subscription endpoints (keyset cursors, `nextCursor`, 9812, `cursorTtl`; without a
   * `delta`). Filters are generic: a filter of the descriptor's filter schema keeps the records whose field of
   * the same name, encoded, equals the query value (an array filter: one of its values; an array field: holds
   * one); a value the filter schema refuses, or a filter without a field of its name, answers 9602. Records are
   * kept by the descriptor's `key` and rendered with its record schema; {@link Service.served} changes them. A
   * legacy descriptor, a cursor one with a `delta`, or one whose name or path the simulator already serves, is
   * a defect.
   */
  readonly served?: ReadonlyArray<Served>
}

/**
 * A resource served from its descriptor and records alone (see {@link Settings.served}).
 *
 * @since 0.1.0
 * @category models
 */
export type Served<A = any> = ServedSetting<A>

/**
 * The data of the resources served from a descriptor ({@link Settings.served}). Each call dies when the
 * simulator does not serve the descriptor's name (a programming error of the test).
 *
 * @since 0.1.0
 * @category models
 */
export interface ServedControl {
  /** Its current records in key order, as the endpoint renders them (the record schema's encoded side). */
  readonly records: (resource: Resource.Any) => Effect.Effect<ReadonlyArray<unknown>>
  /** Its current versionId. */
  readonly versionId: (resource: Resource.Any) => Effect.Effect<string>
  /** Its current records written after the version a `versionId` stands for, as rendered. */
  readonly changedSince: (resource: Resource.Any, versionId: string) => Effect.Effect<ReadonlyArray<unknown>>
  /**
   * One write batch (one new version): inserts or replaces `upsert` records (by the descriptor's key) and
   * removes the records of the keys in `remove`. Live pages shift, as under churn.
   */
  readonly write: <A>(
    resource: Resource.Resource<A, any, any, any>,
    changes: { readonly upsert?: ReadonlyArray<A>; readonly remove?: ReadonlyArray<string> }
  ) => Effect.Effect<void>
}

/**
 * One request as the simulator saw it. Never holds the sToken.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogEntry {
  readonly seq: number
  readonly method: string
  readonly path: string
  /** Query parameters (first value of each), or a POST body's scalar fields without `sToken`. */
  readonly params: Readonly<Record<string, string>>
  readonly pageIndex: number | undefined
  readonly startedAt: number
  readonly finishedAt: number
  /** Requests in flight when this one started, itself included. */
  readonly inFlight: number
  readonly status: number
  readonly errorNumber: number | undefined
  readonly versionId: string | undefined
  readonly records: number
  readonly fault: Fault["_tag"] | "RateLimit" | undefined
}

/**
 * A request in the simulator's terms.
 *
 * @since 0.1.0
 * @category models
 */
export interface SimRequest {
  readonly method: string
  /** The URL path; a leading `/mdm` is ignored. */
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
}

/**
 * A response in the simulator's terms; `socket` asks the transport to drop or stall the connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface SimResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly socket?: "reset" | "stall"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly settings: Settings
  /** A valid sToken for this simulator. */
  readonly token: SToken
  /** Every sToken the simulator accepts for its library ({@link Settings.tokens}); `token` is the first. */
  readonly tokens: ReadonlyArray<SToken>
  /** The library's `uId`, as its Client Config (and every response) reports it. */
  readonly uId: string
  readonly handle: (request: SimRequest) => Effect.Effect<SimResponse>
  /** Queues a fault for the next matching request(s). */
  readonly inject: (fault: Fault, match?: FaultMatch) => Effect.Effect<void>
  /**
   * How many requests the injected faults have yet to be served to (a fault served with `times: 3` counts 3 until
   * the first, then 2…): 0 once every injected fault has been served, e.g. a `Stall` is hanging a request.
   */
  readonly pendingFaults: Effect.Effect<number>
  /** Replaces the churn setting (`undefined` stops churn). */
  readonly setChurn: (churn: Settings["churn"]) => Effect.Effect<void>
  /** Applies random writes to a resource now, as one new version. */
  readonly churn: (resource: PageResource, churn: { readonly inserts?: number; readonly updates?: number; readonly deletes?: number }) => Effect.Effect<void>
  /** The current records of a resource, in key order, as the API renders them. */
  readonly records: (resource: PageResource) => Effect.Effect<ReadonlyArray<unknown>>
  readonly versionId: (resource: PageResource) => Effect.Effect<string>
  /** The current records written (inserted or updated) after the version a `versionId` stands for. */
  readonly changedSince: (resource: PageResource, versionId: string) => Effect.Effect<ReadonlyArray<unknown>>
  readonly log: Effect.Effect<ReadonlyArray<LogEntry>>
  readonly maxInFlight: Effect.Effect<number>
  readonly clearLog: Effect.Effect<void>
  /** The subscription (cursor) endpoints' data and cursors. */
  readonly subscriptions: SubscriptionControl
  /** The legacy v1 endpoints' data and batch tokens. */
  readonly legacy: LegacyControl
  /** The resources served from a descriptor ({@link Settings.served}). */
  readonly served: ServedControl
  /**
   * The current records of any resource the simulator serves, by its descriptor, as a sync of it stores them:
   * every record the unfiltered endpoint has (retired entries too), in Apple's JSON shape, with the sync's
   * filters applied as the client delivers them (an unlimited free asset marked `unlimited: true`, without the
   * counts Apple leaves out of `unlimitedAssets`). What a database synced from the simulator is compared with.
   */
  readonly recordsAsSynced: (resource: Resource.Any) => Effect.Effect<ReadonlyArray<JsonObject>>
}

/**
 * An asset as a sync sees it: asked with `unlimited=true`, an unlimited free asset (which the simulator, like Apple
 * without the parameter, lists with `totalCount` 2147483647) comes from `unlimitedAssets`, without counts but
 * `assignedCount`, marked `unlimited: true`.
 */
const assetAsSynced = (asset: JsonObject): JsonObject => {
  if (asset["totalCount"] !== unlimitedTotalCount) return asset
  const { availableCount: _available, retiredCount: _retired, totalCount: _total, ...rest } = asset
  return { ...rest, unlimited: true }
}

const recordsAsSynced = (
  model: Model,
  routes: ReturnType<typeof makeRoutes>,
  resource: Resource.Any
): ReadonlyArray<JsonObject> => {
  const records = (() => {
    switch (resource.name) {
      case "assets":
        return (model.records("assets") as ReadonlyArray<JsonObject>).map(assetAsSynced)
      case "assignments":
      case "users":
        return model.records(resource.name)
      case "subscriptions":
        return routes.cursors.records("subscriptions")
      case "subscription-assignments":
        return routes.cursors.records("subscriptionAssignments")
      case "subscription-admins":
        return routes.cursors.records("subscriptionAdmins")
      case "legacy-licenses":
        return routes.legacy.records("licenses")
      case "legacy-users":
        return routes.legacy.records("users")
      default:
        return model.records(servedSource(model, resource).descriptor.name)
    }
  })()
  return records as ReadonlyArray<JsonObject>
}

/**
 * A record as Apple's JSON has it.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonObject = { readonly [field: string]: unknown }

/**
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionControl {
  /** Every record of a resource, in cursor order, as the endpoint renders it without filters. */
  readonly records: (resource: SubscriptionResource) => Effect.Effect<ReadonlyArray<unknown>>
  readonly versionId: (resource: SubscriptionResource) => Effect.Effect<string>
  /** Applies random writes to a resource now, as one new version. */
  readonly churn: (resource: SubscriptionResource, churn: { readonly inserts?: number; readonly updates?: number; readonly deletes?: number }) => Effect.Effect<void>
  /** Every cursor handed out so far gets 9812 from now on. */
  readonly invalidateCursors: Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LegacyControl {
  /** Every licence (unfiltered), or every user (retired ones included), as the legacy service renders them. */
  readonly records: (kind: LegacyKind) => Effect.Effect<ReadonlyArray<unknown>>
  /** Forgets the batch data of every walk so far: their batchTokens get 9633 from now on. */
  readonly forgetBatches: Effect.Effect<void>
}

/**
 * JSON with object keys sorted at every depth, so a record compares with the simulator's as text whatever
 * the order of its fields (decoded records, rows read back from a store, the simulator's own objects).
 *
 * @since 0.1.0
 * @category comparing
 */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_, v: unknown) =>
    typeof v === "object" && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
      : v)

/**
 * @since 0.1.0
 * @category tags
 */
export class Simulator extends Context.Tag("@vppkit/simulator/Simulator")<Simulator, Service>() {}

/**
 * Builds a simulator: its model (internal/model.ts), endpoints (internal/routes.ts: page-index serving in
 * internal/pageIndexServing.ts, cursor serving in internal/cursor.ts, legacy serving in internal/legacy.ts), faults
 * and rate limit (internal/faults.ts) and request log (internal/requestLog.ts). `handle` puts them together.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (settings: Settings = {}): Effect.Effect<Service> =>
  Effect.sync(() => {
    const model = makeModel(settings)
    const routes = makeRoutes(model, settings)
    const faults = makeFaults(settings, model.seed, model.uId, routes.familyOf)
    const overRateLimit = makeRateLimit(settings)
    const requestLog = makeRequestLog()
    const latency = settings.latency === undefined ? undefined : Duration.decode(settings.latency)

    const handle = (request: SimRequest): Effect.Effect<SimResponse> =>
      Effect.gen(function*() {
        const startedAt = yield* Clock.currentTimeMillis
        const path = request.path.replace(/^\/mdm(?=\/)/, "").replace(/\/+$/, "")
        const query = toQuery(request.query)
        const pageIndexText = first(query, "pageIndex")
        const pageIndex = pageIndexText === undefined ? undefined : Number(pageIndexText)
        const started = requestLog.start(request, path, query, pageIndex, startedAt)
        const isData = path !== "/v2/service/config"
        let fault: LogEntry["fault"]
        let response: SimResponse
        const finish = Effect.map(Clock.currentTimeMillis, (finishedAt) => requestLog.finish(started, response, finishedAt, fault))
        return yield* Effect.gen(function*() {
          if (latency !== undefined) yield* Effect.sleep(latency)
          const injected = isData ? faults.pick(path, pageIndex) : undefined
          if (injected !== undefined) {
            fault = injected._tag
            if (injected._tag === "Slow") yield* Effect.sleep(injected.millis)
            const now = yield* Clock.currentTimeMillis
            const faulty = faults.response(injected, now)
            if (faulty !== undefined) {
              response = faulty
              if (faulty.socket === "stall") return yield* Effect.never
              return faulty
            }
          }
          const now = yield* Clock.currentTimeMillis
          if (isData && overRateLimit(now)) {
            fault = "RateLimit"
            const retryAfter = settings.rateLimitRetryAfter
            response = errorResponse(429, 9646, retryAfter === undefined ? {} : { "retry-after": String(retryAfter) })
            return response
          }
          try {
            response = routes.respond(request, path, query, now, injected)
          } catch (error) {
            if (!(error instanceof InvalidArgument)) throw error
            response = errorResponse(400, 9602)
          }
          return response
        }).pipe(Effect.ensuring(Effect.suspend(() => response === undefined ? Effect.sync(requestLog.abandon) : finish)))
      })

    return {
      settings,
      token: model.token,
      tokens: model.tokens,
      uId: model.uId,
      handle,
      inject: (fault, match = {}) => Effect.sync(() => faults.inject(fault, match)),
      pendingFaults: Effect.sync(() => faults.pending()),
      setChurn: (churn) => Effect.sync(() => model.setChurn(churn)),
      churn: (resource, churn) => Effect.sync(() => model.organisation.churn(resource, churn)),
      records: (resource) => Effect.sync(() => model.records(resource)),
      versionId: (resource) => Effect.sync(() => model.versionIdOf(resource)),
      changedSince: (resource, versionId) => Effect.sync(() => model.changedSince(resource, versionId)),
      log: Effect.sync(requestLog.entries),
      maxInFlight: Effect.sync(requestLog.maxInFlight),
      clearLog: Effect.sync(requestLog.clear),
      subscriptions: {
        records: (resource) => Effect.sync(() => routes.cursors.records(resource)),
        versionId: (resource) => Effect.sync(() => routes.cursors.versionId(resource)),
        churn: (resource, churn) => Effect.sync(() => model.subscriptions.churn(resource, churn)),
        invalidateCursors: Effect.sync(() => routes.cursors.invalidate())
      },
      legacy: {
        records: (kind) => Effect.sync(() => routes.legacy.records(kind)),
        forgetBatches: Effect.sync(() => routes.legacy.forgetBatches())
      },
      recordsAsSynced: (resource) => Effect.sync(() => recordsAsSynced(model, routes, resource)),
      served: {
        records: (resource) => Effect.sync(() => model.records(servedSource(model, resource).descriptor.name)),
        versionId: (resource) => Effect.sync(() => model.versionIdOf(servedSource(model, resource).descriptor.name)),
        changedSince: (resource, versionId) =>
          Effect.sync(() => model.changedSince(servedSource(model, resource).descriptor.name, versionId)),
        write: (resource, changes) =>
          Effect.sync(() => {
            const { store } = servedSource(model, resource)
            store.bump()
            for (const record of changes.upsert ?? []) store.upsert(record)
            for (const key of changes.remove ?? []) store.remove(key)
          })
      }
    } satisfies Service
  })

/** The source of a resource served from its descriptor (a defect when the simulator does not serve it so). */
const servedSource = (model: Model, resource: Resource.Any): PageSource => {
  const source = model.served.get(resource.name)
  if (source === undefined) {
    throw new TypeError(`the simulator does not serve ${resource.name} from a descriptor`)
  }
  return source
}

/**
 * Hands a transport's request to the simulator: the one place a request becomes a {@link SimRequest}. A stalled
 * response never answers; a reset one is the transport's to carry out.
 */
const exchange = (
  simulator: Service,
  request: { readonly method: string; readonly url: URL; readonly headers: SimRequest["headers"]; readonly body: string }
): Effect.Effect<SimResponse> =>
  Effect.flatMap(
    simulator.handle({ method: request.method, path: request.url.pathname, query: request.url.searchParams, headers: request.headers, body: request.body }),
    (response) => response.socket === "stall" ? Effect.never : Effect.succeed(response)
  )

/**
 * The simulator as an `HttpApp`. `onReset` lets a socket transport drop the connection for the
 * `ConnectionReset` fault (without it, the app answers 502).
 *
 * @since 0.1.0
 * @category http
 */
export const toHttpApp = (
  simulator: Service,
  options: { readonly onReset?: Effect.Effect<void, never, HttpServerRequest.HttpServerRequest> } = {}
): HttpApp.Default<never, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const url = new URL(request.url, "http://simulator")
    const body = request.method === "POST" ? yield* Effect.orElseSucceed(request.text, () => "") : ""
    const response = yield* exchange(simulator, { method: request.method, url, headers: request.headers, body })
    if (response.socket === "reset") {
      if (options.onReset !== undefined) yield* options.onReset
      return HttpServerResponse.text("connection reset", { status: 502 })
    }
    return HttpServerResponse.text(response.body, {
      status: response.status,
      headers: response.headers,
      contentType: response.headers["content-type"] ?? "application/json"
    })
  })

const decoder = new TextDecoder()

/**
 * An in-memory `HttpClient` that hands every request to the simulator in the calling fiber (no sockets;
 * TestClock applies). `ConnectionReset` fails as a transport error; `Stall` never answers.
 *
 * @since 0.1.0
 * @category layers
 */
export const makeHttpClient = (simulator: Service): HttpClient.HttpClient =>
  HttpClient.make((request, url, signal) =>
    Effect.gen(function*() {
      const body = request.body._tag === "Uint8Array"
        ? decoder.decode(request.body.body)
        : request.body._tag === "Raw" && typeof request.body.body === "string"
        ? request.body.body
        : ""
      const response = yield* exchange(simulator, { method: request.method, url, headers: request.headers, body })
      if (response.socket === "reset") {
        return yield* Effect.fail(
          new HttpClientError.RequestError({ request, reason: "Transport", description: "connection reset by peer" })
        )
      }
      return HttpClientResponse.fromWeb(request, new Response(response.body, { status: response.status, headers: response.headers }))
    }).pipe(
      // Like a socket client, the exchange ends as soon as the request's signal is aborted (a client's timeout).
      (exchange) => Effect.raceFirst(exchange, aborted(signal, request))
    )
  )

/** Fails as a transport failure once `signal` is aborted, as the platform's clients do. */
const aborted = (signal: AbortSignal, request: HttpClientRequest.HttpClientRequest) =>
  Effect.async<never, HttpClientError.RequestError>((resume) => {
    const onAbort = () =>
      resume(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", description: "aborted" })))
    if (signal.aborted) return onAbort()
    signal.addEventListener("abort", onAbort, { once: true })
    return Effect.sync(() => signal.removeEventListener("abort", onAbort))
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (settings: Settings = {}): Layer.Layer<Simulator> => Layer.effect(Simulator, make(settings))

/**
 * The in-memory `HttpClient` over the simulator in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient, never, Simulator> = Layer.effect(
  HttpClient.HttpClient,
  Effect.map(Simulator, makeHttpClient)
)

/**
 * The base URL the in-memory client uses (nothing is resolved or connected).
 *
 * @since 0.1.0
 * @category constants
 */
export const testBaseUrl = "http://simulator.test/mdm"

/**
 * A simulator, the in-memory client over it, and a `VppClient` holding the simulator's token. The client's
 * rate limiter is off unless `client.maxRequestsPerSecond` is given, and so is its request timeout unless
 * `client.requestTimeout` is given (in-memory requests only hang on purpose, with the `Stall` fault).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (
  settings: Settings = {},
  client: Omit<VppClient.Options, "token" | "baseUrl"> = {}
): Layer.Layer<Simulator | HttpClient.HttpClient | VppClient.VppClient> => {
  const clientLayer = Layer.effect(
    VppClient.VppClient,
    Effect.flatMap(Simulator, (simulator) =>
      VppClient.make({ maxRequestsPerSecond: Infinity, requestTimeout: Duration.infinity, ...client, token: simulator.token, baseUrl: testBaseUrl }))
  )
  return clientLayer.pipe(Layer.provideMerge(layerHttpClient), Layer.provideMerge(layer(settings)))
}
