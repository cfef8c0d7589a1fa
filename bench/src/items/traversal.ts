/**
 * Item 1 — parallel traversal against the physical limit. 200 pages, 50 ms of simulated latency per request:
 * page 0 must come first, then 199 pages at most 5 at a time, so no client can finish in less than
 * latency × (1 + ceil(199 / 5)). vppkit's parallel mode is compared with that ideal and with its sequential
 * mode (one page after the other, following `nextPageIndex` — what every existing client does).
 */
import * as PageIndex from "@vppkit/core/PageIndex"
import { withClient, timed } from "../internal/client.js"
import { best, count, ms, ratio } from "../internal/format.js"
import { type Section, table } from "../internal/report.js"
import { startServer } from "../internal/server.js"

const pages = 200
const latency = 50
const pageSize = 500
const concurrency = 5

interface Run {
  readonly mode: "parallel" | "sequential"
  readonly millis: number
  readonly pages: number
  readonly records: number
  readonly consistency: string
  readonly requests: number
  readonly maxInFlight: number
}

export const run = async (log: (line: string) => void): Promise<Section> => {
  const settings = { records: { assignments: pages * pageSize }, pageSize, latency }
  const server = await startServer(settings)
  const traverse = async (mode: Run["mode"]): Promise<Run> => {
    await server.stats()
    const { millis, value: outcome } = await withClient(
      server,
      // The limiter would hold the client to 15 requests/s, a third of what 5 × (1 s / 50 ms) allows (item 5 measures it).
      { maxRequestsPerSecond: Infinity },
      () => timed(PageIndex.assignments({ mode }).run())
    )
    const stats = await server.stats()
    const result: Run = {
      mode,
      millis,
      pages: outcome.pages,
      records: outcome.records,
      consistency: outcome.consistency,
      requests: stats.requests,
      maxInFlight: stats.maxInFlight
    }
    log(`  ${mode}: ${ms(millis)} (${outcome.pages} pages)`)
    return result
  }
  try {
    await traverse("parallel") // warm-up: JIT and connections; not reported
    const runs: Array<Run> = []
    for (const mode of ["parallel", "sequential", "parallel", "sequential", "parallel"] as const) {
      runs.push(await traverse(mode))
    }
    const ideal = latency * (1 + Math.ceil((pages - 1) / concurrency))
    const parallel = best(runs.filter((r) => r.mode === "parallel").map((r) => r.millis))
    const sequential = best(runs.filter((r) => r.mode === "sequential").map((r) => r.millis))
    const complete = runs.every((r) => r.pages === pages && r.records === pages * pageSize)
    return {
      id: "1",
      title: "Parallel traversal vs the physical limit",
      figures: [
        { label: "vppkit parallel, wall", value: ms(parallel) },
        { label: "ideal: latency × (1 + ⌈(P−1)/5⌉)", value: ms(ideal) },
        { label: "vppkit wall / ideal", value: ratio(parallel / ideal), goal: "≤ 1.10", met: complete && parallel / ideal <= 1.1 },
        { label: "sequential, wall", value: ms(sequential) },
        {
          label: "sequential / vppkit parallel",
          value: ratio(sequential / parallel),
          goal: "≥ 4.5",
          met: complete && sequential / parallel >= 4.5
        }
      ],
      details: [
        `P = ${pages} pages of ${pageSize} assignments (${count(pages * pageSize)} records), ${latency} ms of latency ` +
        "added by the simulator to every response, no rate limit on the simulator. Client: `NodeVppClient` " +
        "(undici, keep-alive, ≤ 5 connections) running `PageIndex.assignments({ mode }).run()` in the runner's " +
        "process; a fresh client per run, a warm-up run first (not shown).",
        "**The client's rate limiter is off for this item** (`maxRequestsPerSecond: Infinity`): at its default of " +
        "15 requests/s it would cap the traversal at 15 pages/s, while 5 requests in flight with 50 ms of latency " +
        "allow up to 100 requests/s. Item 5 measures the limiter against a server that enforces 15/s.",
        `Ideal = ${latency} ms × (1 + ⌈${pages - 1}/${concurrency}⌉) = ${ms(ideal)}: page 0 alone, then rounds of 5 pages.`,
        table(
          ["run", "mode", "wall", "pages", "records", "consistency", "requests seen by the server", "max in flight"],
          runs.map((r, i) => [
            String(i + 1),
            r.mode,
            ms(r.millis),
            String(r.pages),
            count(r.records),
            r.consistency,
            String(r.requests),
            String(r.maxInFlight)
          ])
        )
      ]
    }
  } finally {
    await server.stop()
  }
}
