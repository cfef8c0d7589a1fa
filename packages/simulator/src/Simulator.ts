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
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type { AssetRecord, AssignmentRecord, Counts, PageResource, UserRecord } from "./internal/organisation.js"
import { Organisation } from "./internal/organisation.js"
import { CursorEndpoints, cursorPaths } from "./internal/cursor.js"
import type { Host } from "./internal/host.js"
import { type LegacyKind, LegacyEndpoints, legacyError, legacyPaths, logParams } from "./internal/legacy.js"
import { type SubscriptionCounts, type SubscriptionResource, Subscriptions } from "./internal/subscriptions.js"
import { first, integerParam, InvalidArgument, type Query, select } from "./internal/pageIndex.js"
import { hash, makeRandom, uuidFrom } from "./internal/random.js"
import type { Stored } from "./internal/store.js"
import * as SToken from "@vppkit/core/SToken"
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
  readonly token: SToken.SToken
  readonly handle: (request: SimRequest) => Effect.Effect<SimResponse>
  /** Queues a fault for the next matching request(s). */
  readonly inject: (fault: Fault, match?: FaultMatch) => Effect.Effect<void>
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
}

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

const pageFields: Record<PageResource, string> = { assets: "assets", assignments: "assignments", users: "users" }
const pagePaths: Record<string, PageResource> = {
  "/v2/assets": "assets",
  "/v2/assignments": "assignments",
  "/v2/users": "users"
}
const versioned: ReadonlySet<PageResource> = new Set(["assignments", "users"])

const errorMessages: Record<number, string> = {
  9602: "Invalid argument.",
  9603: "Internal error.",
  9621: "The token has expired. You need to generate a new token online using your organization's account at either school.apple.com or business.apple.com.",
  9622: "Invalid authentication token",
  9625: "The server has revoked the sToken.",
  9646: "There are too many requests for the current organization, and the server rejected the request, either due to high server volume or an issue with the device management service. Use an incremental/exponential backoff strategy to retry the request until successful.",
  9650: "The provided page index must be greater than 0, and less than the total number of pages.",
  9721: "This request contains an invalid version ID. Change the request to send the version ID from the read APIs.",
  9722: "This request contains an invalid authorization header. Change the request to send an authorization header that matches the format 'Bearer {sToken}'.",
  9726: "This request contains an unsupported HTTP method for the requested endpoint.",
  9729: "The service is temporarily unavailable. Try again later."
}

const legacyOnlyFaults: ReadonlySet<Fault["_tag"]> = new Set(["TokenlessResponse", "ZeroRecordBatch", "BatchDataLost"])

/** Whether a fault exists in the protocol of `path`: legacy batch faults on legacy paths, cursor faults on cursor paths. */
const faultApplies = (fault: Fault, path: string): boolean =>
  legacyOnlyFaults.has(fault._tag)
    ? legacyPaths[path] !== undefined
    : fault._tag === "RepeatedCursor"
    ? cursorPaths[path] !== undefined
    : true

/** What the request log keeps of a response body. */
interface BodySummary {
  readonly errorNumber: number | undefined
  readonly versionId: string | undefined
  /** The records in the body: the elements of its arrays of objects (Get Assets may have two). */
  readonly records: number
}

const summarize = (parsed: unknown): BodySummary => {
  const body = typeof parsed === "object" && parsed !== null ? parsed as Record<string, unknown> : undefined
  return {
    errorNumber: typeof body?.["errorNumber"] === "number" ? body["errorNumber"] : undefined,
    versionId: typeof body?.["versionId"] === "string" ? body["versionId"] : undefined,
    records: body === undefined
      ? 0
      : Object.values(body).reduce<number>(
        (n, value) => Array.isArray(value) && typeof value[0] === "object" && value[0] !== null ? n + value.length : n,
        0
      )
  }
}

// The summaries of the bodies `json` rendered, so the log need not parse them back (a 1000-record page is
// ~75 KB of JSON); other bodies (HTML, truncated JSON) are parsed when logged.
const summaries = new WeakMap<SimResponse, BodySummary>()

const summaryOf = (response: SimResponse): BodySummary => {
  const known = summaries.get(response)
  if (known !== undefined) return known
  try {
    return summarize(response.body.length > 0 ? JSON.parse(response.body) : undefined)
  } catch {
    return summarize(undefined)
  }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): SimResponse => {
  const response: SimResponse = {
    status,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  }
  summaries.set(response, summarize(body))
  return response
}

const errorResponse = (status: number, errorNumber: number, headers: Record<string, string> = {}): SimResponse =>
  json(status, { errorNumber, errorMessage: errorMessages[errorNumber] ?? "Error." }, headers)

const toQuery = (params: URLSearchParams): Query => {
  const query = new Map<string, Array<string>>()
  for (const [key, value] of params) {
    const values = query.get(key) ?? []
    values.push(...value.split(",").filter((v) => v.length > 0))
    query.set(key, values)
  }
  return query
}

/**
 * Builds a simulator.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (settings: Settings = {}): Effect.Effect<Service> =>
  Effect.sync(() => {
    const seed = settings.seed ?? 1
    const orgName = settings.orgName ?? "Simulated School"
    const uId = String(2_049_025_000_000_000 + (hash(`uid:${seed}`) % 1_000_000))
    const pageSize = Math.max(1, Math.floor(settings.pageSize ?? 1000))
    const organisation = new Organisation(seed, {
      assets: settings.records?.assets ?? 20,
      assignments: settings.records?.assignments ?? 500,
      users: settings.records?.users ?? 100,
      unlimitedAssets: settings.records?.unlimitedAssets ?? 0
    })
    const expiresAt = settings.tokenExpiresAt ?? new Date("2030-11-08T22:33:22Z")
    const token = SToken.make({ secret: makeRandom(hash(`token:${seed}`)).hex(64), orgName, expiresAt })
    const rawToken = Redacted.value(token.value)
    const tokenExpirationDate = expiresAt.toISOString().replace(/\.\d{3}Z$/, "+0000")
    const faultRandom = makeRandom(hash(`faults:${seed}`))
    const latency = settings.latency === undefined ? undefined : Duration.decode(settings.latency)

    // versionIds per resource: string → counter, so sinceVersionId can be checked.
    const versionIds = new Map<string, { readonly resource: PageResource; readonly version: number }>()
    const versionIdOf = (resource: PageResource): string => {
      const version = organisation[resource].version
      const id = uuidFrom(seed, resource, version)
      versionIds.set(id, { resource, version })
      return id
    }

    const scripted: Array<{ fault: Fault; match: FaultMatch; remaining: number; skip: number }> = []
    const log: Array<LogEntry> = []
    const snapshots = new Map<string, ReadonlyArray<Stored<unknown>>>()
    const acceptedStarts: Array<number> = []
    let seq = 0
    let inFlight = 0
    let maxInFlight = 0
    let dataRequests = 0

    const pickFault = (path: string, pageIndex: number | undefined): Fault | undefined => {
      for (const rule of scripted) {
        if (rule.remaining <= 0) continue
        if (rule.match.path !== undefined && rule.match.path !== path) continue
        if (rule.match.pageIndex !== undefined && rule.match.pageIndex !== (pageIndex ?? 0)) continue
        if (rule.skip > 0) {
          rule.skip--
          continue
        }
        rule.remaining--
        return rule.fault
      }
      const random = settings.randomFaults
      if (random !== undefined && random.faults.length > 0 && faultRandom.chance(random.probability)) {
        // A random fault is drawn among those the path's protocol has (no token-less batch on a v2 path).
        const applicable = random.faults.filter((fault) => faultApplies(fault, path))
        return applicable.length > 0 ? faultRandom.pick(applicable) : undefined
      }
      return undefined
    }

    const retryAfterHeader = (retryAfter: RetryAfter | undefined, now: number): Record<string, string> => {
      if (retryAfter === undefined) return {}
      if (retryAfter.format === "http-date") {
        // HTTP-dates have whole seconds: round up so the wait is never shorter than asked.
        return { "retry-after": new Date(Math.ceil((now + retryAfter.seconds * 1000) / 1000) * 1000).toUTCString() }
      }
      return { "retry-after": String(retryAfter.seconds) }
    }

    const faultResponse = (fault: Fault, now: number): SimResponse | undefined => {
      switch (fault._tag) {
        case "RateLimited":
          return errorResponse(429, 9646, retryAfterHeader(fault.retryAfter, now))
        case "Unavailable":
          return errorResponse(503, 9729, retryAfterHeader(fault.retryAfter, now))
        case "InternalError":
          return errorResponse(500, 9603, retryAfterHeader(fault.retryAfter, now))
        case "BadGateway":
          return { status: 502, headers: { "content-type": "text/html" }, body: "<html><body>502 Bad Gateway</body></html>" }
        case "GatewayTimeout":
          return { status: 504, headers: { "content-type": "text/html" }, body: "<html><body>504 Gateway Time-out</body></html>" }
        case "InvalidTokenInBody":
          return errorResponse(200, 9622)
        case "MalformedJson":
          return { status: 200, headers: { "content-type": "application/json" }, body: "{\"assignments\": [{\"adamId\": \"40" }
        case "ConnectionReset":
          return { status: 0, headers: {}, body: "", socket: "reset" }
        case "Stall":
          return { status: 0, headers: {}, body: "", socket: "stall" }
        case "Error":
          return errorResponse(fault.status, fault.errorNumber)
        case "TokenlessResponse":
          return json(200, { status: 0, uId })
        case "BatchDataLost":
          return json(200, legacyError(9633))
        case "RepeatedCursor":
        case "ZeroRecordBatch": // served by the endpoint
        case "Slow":
          return undefined
      }
    }

    const checkToken = (authorization: string | undefined, now: number): SimResponse | undefined => {
      if (authorization === undefined || !authorization.startsWith("Bearer ")) return errorResponse(401, 9722)
      const presented = authorization.slice("Bearer ".length).trim()
      if (presented !== rawToken) return errorResponse(settings.invalidTokenStatus ?? 401, 9622)
      if (settings.revoked === true) return errorResponse(401, 9625)
      if (expiresAt.getTime() <= now) return errorResponse(401, 9621)
      return undefined
    }

    const metadata = (now: number) => {
      const within15Days = expiresAt.getTime() - now < 15 * 86_400_000
      return (settings.tokenExpirationDate ?? "always") === "always" || within15Days
        ? { tokenExpirationDate, uId }
        : { uId }
    }

    let churnSetting = settings.churn
    let churnBatches = 0
    const applyChurn = () => {
      const churn = churnSetting
      if (churn === undefined || churn.every <= 0) return
      dataRequests++
      if (dataRequests % churn.every !== 0) return
      if (churn.limit !== undefined && churnBatches >= churn.limit) return
      churnBatches++
      for (const resource of churn.resources ?? ["assignments"]) {
        if (resource in pageFields) organisation.churn(resource as PageResource, churn)
        else subscriptionData.churn(resource as SubscriptionResource, churn)
      }
    }

    const servePage = (resource: PageResource, query: Query, now: number): SimResponse => {
      const selection = select(organisation, resource, query)
      const pageIndex = integerParam(query, "pageIndex") ?? 0
      const since = first(query, "sinceVersionId")
      const store = organisation[resource] as unknown as {
        view: (key: string, filter: (r: unknown) => boolean) => ReadonlyArray<Stored<unknown>>
        delta: (key: string, since: number, deletions: boolean, filter: (r: unknown) => boolean) => ReadonlyArray<Stored<unknown>>
      }
      let records: ReadonlyArray<Stored<unknown>>
      if (since !== undefined) {
        const known = versionIds.get(since)
        if (!versioned.has(resource) || known === undefined || known.resource !== resource) {
          return errorResponse(400, versioned.has(resource) ? 9721 : 9602)
        }
        records = store.delta(selection.cacheKey, known.version, settings.deltaDeletions === "visible", selection.filter)
      } else {
        records = store.view(selection.cacheKey, selection.filter)
      }
      const versionId = versionIdOf(resource)
      if (settings.pages === "snapshot") {
        const snapshotKey = `${resource}?${selection.cacheKey}&since=${since ?? ""}`
        if (pageIndex === 0) snapshots.set(snapshotKey, records.map((stored) => ({ ...stored })))
        records = snapshots.get(snapshotKey) ?? records
      }
      const totalPages = records.length === 0 ? (settings.emptyTotalPages ?? 1) : Math.ceil(records.length / pageSize)
      if (pageIndex < 0 || (pageIndex > 0 && pageIndex >= totalPages)) return errorResponse(400, 9650)
      const stored = records.slice(pageIndex * pageSize, (pageIndex + 1) * pageSize)
      const arrays = selection.arrays?.(stored) ?? { [pageFields[resource]]: stored.map(selection.render) }
      const page = Object.values(arrays).flat()
      return json(200, {
        ...arrays,
        currentPageIndex: pageIndex,
        ...(pageIndex + 1 < totalPages ? { nextPageIndex: pageIndex + 1 } : {}),
        size: page.length,
        totalPages: Math.max(Math.min(totalPages, 1), totalPages - (settings.totalPagesLag ?? 0)),
        versionId,
        ...metadata(now)
      })
    }

    // --- Cursor (subscription) and legacy v1 endpoints: internal/simulator/cursor.ts and legacy.ts ---
    const host: Host = {
      seed,
      uId,
      orgName,
      pageSize,
      organisation,
      expiresAt: expiresAt.getTime(),
      json: (status, body) => json(status, body),
      metadata,
      checkLegacyToken: (sToken, now) =>
        typeof sToken !== "string" || sToken.length === 0
          ? 9601
          : sToken !== rawToken
          ? 9622
          : settings.revoked === true
          ? 9625
          : expiresAt.getTime() <= now
          ? 9621
          : undefined,
      applyChurn: () => applyChurn()
    }
    const subscriptionData = new Subscriptions(seed, organisation, {
      subscriptions: settings.subscriptions?.subscriptions ?? 12,
      assignments: settings.subscriptions?.assignments ?? 40,
      admins: settings.subscriptions?.admins ?? 6
    })
    const cursors = new CursorEndpoints(
      host,
      subscriptionData,
      settings.cursorTtl === undefined ? undefined : Duration.toMillis(settings.cursorTtl)
    )
    const legacy = new LegacyEndpoints(host, settings.legacyOverrideIndex ?? "next-batch", settings.deltaDeletions === "visible")
    const serveExtra = (request: SimRequest, path: string, query: Query, now: number, fault: Fault | undefined) => {
      const resource = cursorPaths[path]
      if (resource !== undefined) {
        if (request.method !== "GET") return errorResponse(405, 9726)
        return checkToken(request.headers["authorization"], now) ?? cursors.serve(resource, query, now, fault)
      }
      const kind = legacyPaths[path]
      return kind === undefined ? undefined : legacy.serve(kind, request.method, request.body, now, fault)
    }
    // --- end of cursor and legacy endpoints ---

    const serviceConfig = (): SimResponse =>
      json(200, {
        errorCodes: Object.entries(errorMessages).map(([errorNumber, errorMessage]) => ({ errorNumber: Number(errorNumber), errorMessage })),
        limits: { maxRequestPerSecond: settings.maxRequestsPerSecond ?? 15, maxAssets: 25, maxUsers: 100 },
        notificationTypes: ["ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED", "ASSET_COUNT"],
        urls: {
          getAssets: "/mdm/v2/assets",
          getAssignments: "/mdm/v2/assignments",
          getUsers: "/mdm/v2/users"
        }
      })

    // Client Config (read): what Apple knows of the token's location; no mdmInfo, as before an MDM set one.
    const clientConfig = (request: SimRequest, now: number): SimResponse => {
      if (request.method !== "GET") return errorResponse(405, 9726)
      return checkToken(request.headers["authorization"], now) ?? json(200, {
        locationName: orgName,
        countryISO2ACode: "US",
        defaultPlatform: "volumestore",
        websiteURL: "https://school.apple.com",
        subscribedNotificationTypes: [],
        ...metadata(now)
      })
    }

    const respond = (request: SimRequest, path: string, query: Query, now: number, fault?: Fault): SimResponse => {
      if (path === "/v2/service/config") return serviceConfig()
      if (path === "/v2/client/config") return clientConfig(request, now)
      const extra = serveExtra(request, path, query, now, fault)
      if (extra !== undefined) return extra
      const resource = pagePaths[path]
      if (resource === undefined) return json(404, { errorNumber: 9602, errorMessage: "Unknown endpoint." })
      if (request.method !== "GET") return errorResponse(405, 9726)
      const tokenError = checkToken(request.headers["authorization"], now)
      if (tokenError !== undefined) return tokenError
      applyChurn()
      return servePage(resource, query, now)
    }

    const overRateLimit = (now: number): boolean => {
      const limit = settings.maxRequestsPerSecond
      if (limit === undefined) return false
      while (acceptedStarts.length > 0 && acceptedStarts[0]! <= now - 1000) acceptedStarts.shift()
      if (acceptedStarts.length >= limit) return true
      acceptedStarts.push(now)
      return false
    }

    const handle = (request: SimRequest): Effect.Effect<SimResponse> =>
      Effect.gen(function*() {
        const startedAt = yield* Clock.currentTimeMillis
        const entrySeq = ++seq
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        const inFlightAtStart = inFlight
        const path = request.path.replace(/^\/mdm(?=\/)/, "").replace(/\/+$/, "")
        const query = toQuery(request.query)
        const pageIndexText = first(query, "pageIndex")
        const pageIndex = pageIndexText === undefined ? undefined : Number(pageIndexText)
        const isData = path !== "/v2/service/config"
        let fault: LogEntry["fault"]
        let response: SimResponse
        const finish = Effect.gen(function*() {
          const finishedAt = yield* Clock.currentTimeMillis
          inFlight--
          const summary = summaryOf(response)
          log.push({
            seq: entrySeq,
            method: request.method,
            path,
            params: request.method === "POST"
              ? logParams(request.body)
              : Object.fromEntries([...query].map(([key, values]) => [key, values.join(",")])),
            pageIndex,
            startedAt,
            finishedAt,
            inFlight: inFlightAtStart,
            status: response.status,
            errorNumber: summary.errorNumber,
            versionId: summary.versionId,
            records: summary.records,
            fault
          })
        })
        return yield* Effect.gen(function*() {
          if (latency !== undefined) yield* Effect.sleep(latency)
          const injected = isData ? pickFault(path, pageIndex) : undefined
          if (injected !== undefined) {
            fault = injected._tag
            if (injected._tag === "Slow") yield* Effect.sleep(injected.millis)
            const now = yield* Clock.currentTimeMillis
            const faulty = faultResponse(injected, now)
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
            response = respond(request, path, query, now, injected)
          } catch (error) {
            if (!(error instanceof InvalidArgument)) throw error
            response = errorResponse(400, 9602)
          }
          return response
        }).pipe(Effect.ensuring(Effect.suspend(() => response === undefined ? Effect.sync(() => inFlight--) : finish)))
      })

    const renderAll = (resource: PageResource): ReadonlyArray<unknown> => {
      const selection = select(organisation, resource, new Map())
      return organisation[resource].all().map((stored) => selection.render(stored as Stored<any>))
    }

    return {
      settings,
      token,
      handle,
      inject: (fault, match = {}) =>
        Effect.sync(() => {
          scripted.push({ fault, match, remaining: match.times ?? 1, skip: match.skip ?? 0 })
        }),
      setChurn: (churn) =>
        Effect.sync(() => {
          churnSetting = churn
          churnBatches = 0
        }),
      churn: (resource, churn) => Effect.sync(() => organisation.churn(resource, churn)),
      records: (resource) => Effect.sync(() => renderAll(resource)),
      versionId: (resource) => Effect.sync(() => versionIdOf(resource)),
      changedSince: (resource, versionId) =>
        Effect.sync(() => {
          const since = versionIds.get(versionId)?.version ?? -1
          const selection = select(organisation, resource, new Map())
          return organisation[resource].all().filter((stored) => stored.modified > since).map((stored) =>
            selection.render(stored as Stored<any>)
          )
        }),
      log: Effect.sync(() => log.slice()),
      maxInFlight: Effect.sync(() => maxInFlight),
      clearLog: Effect.sync(() => {
        log.length = 0
        maxInFlight = inFlight
      }),
      subscriptions: {
        records: (resource) => Effect.sync(() => cursors.records(resource)),
        versionId: (resource) => Effect.sync(() => cursors.versionId(resource)),
        churn: (resource, churn) => Effect.sync(() => subscriptionData.churn(resource, churn)),
        invalidateCursors: Effect.sync(() => cursors.invalidate())
      },
      legacy: {
        records: (kind) => Effect.sync(() => legacy.records(kind)),
        forgetBatches: Effect.sync(() => legacy.forgetBatches())
      }
    } satisfies Service
  })

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
    const response = yield* simulator.handle({
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body
    })
    if (response.socket === "stall") return yield* Effect.never
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
  HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const body = request.body._tag === "Uint8Array"
        ? decoder.decode(request.body.body)
        : request.body._tag === "Raw" && typeof request.body.body === "string"
        ? request.body.body
        : ""
      const response = yield* simulator.handle({
        method: request.method,
        path: url.pathname,
        query: url.searchParams,
        headers: request.headers,
        body
      })
      if (response.socket === "stall") return yield* Effect.never
      if (response.socket === "reset") {
        return yield* Effect.fail(
          new HttpClientError.RequestError({ request, reason: "Transport", description: "connection reset by peer" })
        )
      }
      return HttpClientResponse.fromWeb(request, new Response(response.body, { status: response.status, headers: response.headers }))
    })
  )

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
