/** Messages between the bench runner and its child processes (over the `fork` IPC channel). */

/** Runner → simulator process. */
export type ServerRequest =
  | { readonly type: "stats" }
  | { readonly type: "churn"; readonly inserts?: number; readonly updates?: number; readonly deletes?: number }

/** Simulator process → runner. */
export type ServerReply =
  | { readonly type: "ready"; readonly baseUrl: string; readonly token: string }
  | {
    readonly type: "stats"
    /** Every request logged since the previous `stats`, Service Config included. */
    readonly requests: number
    /** Requests to data endpoints (everything but Service Config). */
    readonly dataRequests: number
    /** Data requests answered 429 by the enforced rate limit. */
    readonly rateLimited: number
    /** Arrival times (ms) of the data requests that were not rate limited. */
    readonly acceptedStarts: ReadonlyArray<number>
    /** Arrival times (ms) of the data requests answered 429 by the enforced rate limit. */
    readonly rejectedStarts: ReadonlyArray<number>
    readonly maxInFlight: number
    /** CPU time the simulator process used since the previous `stats`. */
    readonly cpuMillis: number
  }
  | { readonly type: "churned"; readonly records: number }

/** What a streaming client process reports when it is done. */
export interface StreamResult {
  readonly type: "result"
  readonly records: number
  /** From the first request to the last line written, module loading and process start excluded. */
  readonly millis: number
  /** CPU time (user + system) of the process over the same span. */
  readonly cpuMillis: number
  /** Peak resident set size of the whole process, in bytes (`process.resourceUsage().maxRSS`). */
  readonly maxRssBytes: number
}

/** `librariesProcess.js` → runner: every library served, in order (the tokens go over IPC, never argv). */
export interface LibrariesReady {
  readonly type: "libraries-ready"
  /** `uId`: the library's, from its Client Config (routed libraries only). */
  readonly libraries: ReadonlyArray<{ readonly baseUrl: string; readonly token: string; readonly uId?: string }>
}
