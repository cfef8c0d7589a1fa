import type { Fault, FaultMatch, Settings, SimResponse } from "../Simulator.js"
import type { Family } from "@vppkit/core/Resource"
import { legacyError } from "./legacy.js"
import { hash, makeRandom } from "./random.js"
import { errorResponse, json, retryAfterHeader } from "./responses.js"

const legacyOnlyFaults: ReadonlySet<Fault["_tag"]> = new Set(["TokenlessResponse", "ZeroRecordBatch", "BatchDataLost"])

/** Whether a fault exists in the protocol of a family: legacy batch faults on legacy paths, cursor faults on cursor paths. */
const faultApplies = (fault: Fault, family: Family | undefined): boolean =>
  legacyOnlyFaults.has(fault._tag)
    ? family === "legacy"
    : fault._tag === "RepeatedCursor"
    ? family === "cursor"
    : true

/** The faults of a simulator: scripted ones (queued by `inject`) first, then the seeded random ones. */
export interface Faults {
  /** Queues a fault for the next matching request(s). */
  readonly inject: (fault: Fault, match: FaultMatch) => void
  /** The fault a data request to `path` gets, if any (consumes a scripted one or draws a random one). */
  readonly pick: (path: string, pageIndex: number | undefined) => Fault | undefined
  /** How many requests the scripted faults have yet to be served to. */
  readonly pending: () => number
  /**
   * The response a fault answers with, or `undefined` when the endpoint serves the request itself (`Slow`, after
   * its delay; `RepeatedCursor` and `ZeroRecordBatch`, which the cursor and legacy endpoints apply).
   */
  readonly response: (fault: Fault, now: number) => SimResponse | undefined
}

/**
 * Builds the faults of a simulator (`uId` is the organisation's, sent in a token-less legacy response; `familyOf`
 * tells the family of a data endpoint's path).
 */
export const makeFaults = (
  settings: Settings,
  seed: number,
  uId: string,
  familyOf: (path: string) => Family | undefined
): Faults => {
  const scripted: Array<{ fault: Fault; match: FaultMatch; remaining: number; skip: number }> = []
  const faultRandom = makeRandom(hash(`faults:${seed}`))
  return {
    inject: (fault, match) => {
      scripted.push({ fault, match, remaining: match.times ?? 1, skip: match.skip ?? 0 })
    },
    pick: (path, pageIndex) => {
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
        const applicable = random.faults.filter((fault) => faultApplies(fault, familyOf(path)))
        return applicable.length > 0 ? faultRandom.pick(applicable) : undefined
      }
      return undefined
    },
    pending: () => scripted.reduce((sum, rule) => sum + Math.max(0, rule.remaining), 0),
    response: (fault, now) => {
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
  }
}

/**
 * The server's own rate limit (`maxRequestsPerSecond`, a sliding window of one second): whether a request
 * starting at `now` is over it. Requests under it are counted.
 */
export const makeRateLimit = (settings: Settings): (now: number) => boolean => {
  const acceptedStarts: Array<number> = []
  return (now) => {
    const limit = settings.maxRequestsPerSecond
    if (limit === undefined) return false
    while (acceptedStarts.length > 0 && acceptedStarts[0]! <= now - 1000) acceptedStarts.shift()
    if (acceptedStarts.length >= limit) return true
    acceptedStarts.push(now)
    return false
  }
}
