/**
 * Item 5 — the rate limit. The simulator enforces 15 requests/s (sliding window, 429 + 9646 beyond it) and
 * reports it in Service Config as `maxRequestPerSecond`. A client that starts out assuming 100/s learns the
 * limit with `syncServiceConfig` and then traverses 150 pages; a second client that does not learn it shows
 * what the limit costs without that step.
 */
import * as PageIndex from "@vppkit/core/PageIndex"
import * as Effect from "effect/Effect"
import { timed, withClient } from "../internal/client.js"
import { count, ms } from "../internal/format.js"
import { type Section, table } from "../internal/report.js"
import { startServer } from "../internal/server.js"

const limit = 15
const pages = 150
const pageSize = 100
const latency = 20
const assumed = 100

interface Run {
  readonly name: string
  readonly learned: number | undefined
  readonly millis: number
  readonly pages: number
  readonly clientRequests: number
  readonly clientRateLimited: number
  readonly retries: number
  readonly accepted: ReadonlyArray<number>
  readonly rejected: number
}

/**
 * The sustained rate the server granted: with `n` accepted arrivals and a limit of `limit` per window, the
 * `k · limit` requests from the first arrival to the one `k · limit` later (k as large as `n` allows), per
 * second. Whole windows only: a sliding-window limit lets a first burst through at once, which plain
 * count / duration would credit. A client that sends bursts of `limit` every `p` ms gets `limit / p`; one that
 * sends evenly at the limit gets exactly the limit.
 */
export const sustainedRate = (starts: ReadonlyArray<number>, limit: number): number | undefined => {
  const sorted = [...starts].sort((a, b) => a - b)
  const k = Math.floor((sorted.length - 1) / limit)
  if (k < 1) return undefined
  return (k * limit) / ((sorted[k * limit]! - sorted[0]!) / 1000)
}

const maxPerWindow = (starts: ReadonlyArray<number>, windowMillis = 1000): number => {
  const sorted = [...starts].sort((a, b) => a - b)
  let max = 0
  for (let i = 0; i < sorted.length; i++) {
    let j = i
    while (j < sorted.length && sorted[j]! < sorted[i]! + windowMillis) j++
    max = Math.max(max, j - i)
  }
  return max
}

export const run = async (log: (line: string) => void): Promise<Section> => {
  const server = await startServer({ records: { assignments: pages * pageSize }, pageSize, latency, maxRequestsPerSecond: limit })
  const traverse = async (name: string, learn: boolean): Promise<Run> => {
    await new Promise((resolve) => setTimeout(resolve, 1500)) // the server's window empties
    await server.stats()
    const result = await withClient(server, { maxRequestsPerSecond: assumed }, (client) =>
      Effect.gen(function*() {
        const config = learn ? yield* client.syncServiceConfig : undefined
        const before = yield* client.stats
        const { millis, value: outcome } = yield* timed(PageIndex.assignments().run())
        const after = yield* client.stats
        return {
          learned: config?.limits["maxRequestPerSecond"],
          millis,
          pages: outcome.pages,
          clientRequests: after.requests - before.requests,
          clientRateLimited: after.rateLimited - before.rateLimited,
          retries: outcome.retries
        }
      }))
    const stats = await server.stats()
    log(`  ${name}: ${ms(result.millis)}, ${stats.rateLimited} × 429`)
    return { name, ...result, accepted: stats.acceptedStarts, rejected: stats.rateLimited }
  }
  try {
    const learned = await traverse("learns the limit (syncServiceConfig), then traverses", true)
    const blind = await traverse("does not learn it", false)
    const achieved = sustainedRate(learned.accepted, limit) ?? 0
    const complete = learned.pages === pages
    return {
      id: "5",
      title: "Rate limit: the simulator enforces 15 requests/s",
      figures: [
        { label: "requests/s achieved after learning the limit", value: `${achieved.toFixed(2)}/s (${(achieved / limit * 100).toFixed(1)} % of ${limit})`, goal: "≥ 90 % of 15/s", met: complete && achieved >= 0.9 * limit },
        { label: "429s received after learning the limit", value: String(learned.rejected), goal: "0", met: complete && learned.rejected === 0 },
        { label: `without learning it (client assumes ${assumed}/s): 429s, wall`, value: `${blind.rejected} × 429, ${ms(blind.millis)} (vs ${ms(learned.millis)})` }
      ],
      details: [
        `${pages} pages of ${pageSize} assignments, ${latency} ms of latency, the simulator enforcing ${limit} ` +
        "requests/s over a sliding 1-second window (requests beyond it get 429 + 9646 without Retry-After) and " +
        `reporting \`maxRequestPerSecond: ${limit}\` in Service Config. Both clients are \`NodeVppClient\` with ` +
        `\`maxRequestsPerSecond: ${assumed}\`; the first calls \`syncServiceConfig\` before the traversal and adopts ` +
        "what it reports. The client's limiter keeps a margin of 50 ms on its window (15 starts per 1050 ms, " +
        "more after a request that an answer shows to have arrived late), so 95 % of the allowed rate is its " +
        "ceiling by design.",
        "Requests/s is the sustained rate the simulator granted, from the arrival times it logged: the " +
        `${limit}·k accepted requests from the first to the one ${limit}·k later (k as large as the run allows), ` +
        "per second — whole windows only, since a sliding-window limit lets a first burst through at once, which " +
        "plain count / wall would credit (shown too). The busiest 1-second window must not exceed " +
        `${limit}.`,
        table(
          ["client", "limit learned", "wall", "pages", "requests sent", "accepted", "429s", "retries", "sustained rate", "busiest 1-s window", "count / wall"],
          [learned, blind].map((r) => [
            r.name,
            r.learned === undefined ? "—" : `${r.learned}/s`,
            ms(r.millis),
            String(r.pages),
            count(r.clientRequests),
            count(r.accepted.length),
            count(r.rejected),
            count(r.retries),
            `${(sustainedRate(r.accepted, limit) ?? 0).toFixed(2)}/s`,
            String(maxPerWindow(r.accepted)),
            `${(r.accepted.length / r.millis * 1000).toFixed(2)}/s`
          ])
        )
      ]
    }
  } finally {
    await server.stop()
  }
}
