import type { LogEntry, SimRequest, SimResponse } from "../Simulator.js"
import { logParams } from "./legacy.js"
import type { Query } from "./pageIndex.js"
import { summaryOf } from "./responses.js"

/** A request the log has seen start: what its entry will hold besides the response. */
export interface Started {
  readonly seq: number
  readonly request: SimRequest
  readonly path: string
  readonly query: Query
  readonly pageIndex: number | undefined
  readonly startedAt: number
  /** Requests in flight when this one started, itself included. */
  readonly inFlight: number
}

/** The simulator's record of every request (never the sToken) and of how many were in flight. */
export interface RequestLog {
  readonly start: (request: SimRequest, path: string, query: Query, pageIndex: number | undefined, startedAt: number) => Started
  /** A started request ended with a response: its entry is written. */
  readonly finish: (started: Started, response: SimResponse, finishedAt: number, fault: LogEntry["fault"]) => void
  /** A started request ended without a response (interrupted): it is no longer in flight, and not logged. */
  readonly abandon: () => void
  readonly entries: () => ReadonlyArray<LogEntry>
  readonly maxInFlight: () => number
  /** Forgets the entries; the maximum in flight starts again from the requests in flight now. */
  readonly clear: () => void
}

export const makeRequestLog = (): RequestLog => {
  const log: Array<LogEntry> = []
  let seq = 0
  let inFlight = 0
  let maxInFlight = 0
  return {
    start: (request, path, query, pageIndex, startedAt) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      return { seq: ++seq, request, path, query, pageIndex, startedAt, inFlight }
    },
    finish: (started, response, finishedAt, fault) => {
      inFlight--
      const summary = summaryOf(response)
      log.push({
        seq: started.seq,
        method: started.request.method,
        path: started.path,
        params: started.request.method === "POST"
          ? logParams(started.request.body)
          : Object.fromEntries([...started.query].map(([key, values]) => [key, values.join(",")])),
        pageIndex: started.pageIndex,
        startedAt: started.startedAt,
        finishedAt,
        inFlight: started.inFlight,
        status: response.status,
        errorNumber: summary.errorNumber,
        versionId: summary.versionId,
        records: summary.records,
        fault
      })
    },
    abandon: () => {
      inFlight--
    },
    entries: () => log.slice(),
    maxInFlight: () => maxInFlight,
    clear: () => {
      log.length = 0
      maxInFlight = inFlight
    }
  }
}
