import type { RetryAfter, SimResponse } from "../Simulator.js"
import type { Query } from "./pageIndex.js"

/** Apple's messages for the error numbers the simulator answers with (also served by Get Service Config). */
export const errorMessages: Record<number, string> = {
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

/** What the request log keeps of a response body. */
export interface BodySummary {
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

/** The summary of a response's body, for the request log. */
export const summaryOf = (response: SimResponse): BodySummary => {
  const known = summaries.get(response)
  if (known !== undefined) return known
  try {
    return summarize(response.body.length > 0 ? JSON.parse(response.body) : undefined)
  } catch {
    return summarize(undefined)
  }
}

/** A JSON response. */
export const json = (status: number, body: unknown, headers: Record<string, string> = {}): SimResponse => {
  const response: SimResponse = {
    status,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  }
  summaries.set(response, summarize(body))
  return response
}

/** Apple's error body (`errorNumber`, `errorMessage`) with an HTTP status. */
export const errorResponse = (status: number, errorNumber: number, headers: Record<string, string> = {}): SimResponse =>
  json(status, { errorNumber, errorMessage: errorMessages[errorNumber] ?? "Error." }, headers)

/** The `Retry-After` header of a fault, if it has one. */
export const retryAfterHeader = (retryAfter: RetryAfter | undefined, now: number): Record<string, string> => {
  if (retryAfter === undefined) return {}
  if (retryAfter.format === "http-date") {
    // HTTP-dates have whole seconds: round up so the wait is never shorter than asked.
    return { "retry-after": new Date(Math.ceil((now + retryAfter.seconds * 1000) / 1000) * 1000).toUTCString() }
  }
  return { "retry-after": String(retryAfter.seconds) }
}

/** Query parameters as the endpoints read them: every value of a name, comma-separated lists split. */
export const toQuery = (params: URLSearchParams): Query => {
  const query = new Map<string, Array<string>>()
  for (const [key, value] of params) {
    const values = query.get(key) ?? []
    values.push(...value.split(",").filter((v) => v.length > 0))
    query.set(key, values)
  }
  return query
}
