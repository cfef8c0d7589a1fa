/**
 * Streams every assignment of a simulator as NDJSON to stdout (the runner points stdout at /dev/null), in a
 * process of its own so that its peak RSS is the client's alone. Configured like the CLI, from
 * `VPP_TOKEN_FILE` and `VPP_BASE_URL`; argv[2] picks the client:
 *
 * - `vppkit`: `PageIndex.assignments().records` over `NodeVppClient` (undici, Schema decoding, the shared
 *   gate of 5 requests in flight), rate limiter off — what an application built on the library does;
 * - `baseline`: the least code that works — `fetch`, `JSON.parse`, `JSON.stringify` per line, no
 *   validation, no retries — with page 0 first and then 5 pages in flight, like vppkit;
 * - `baseline-sequential`: the same, one page after the other following `nextPageIndex` (what existing
 *   clients do).
 *
 * Every variant writes one `writeSync` per page (or per Stream chunk: one page) so that the sink costs the same.
 * When done it sends a {@link StreamResult} over IPC and exits.
 */
import * as NodeVppClient from "@vppkit/node/NodeVppClient"
import * as PageIndex from "@vppkit/core/PageIndex"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import type { StreamResult } from "./internal/protocol.js"

type Mode = "vppkit" | "baseline" | "baseline-sequential"

const mode = process.argv[2] as Mode

interface Measured {
  readonly records: number
  readonly millis: number
  readonly cpuMillis: number
}

const measure = async (body: (write: (text: string, records: number) => void) => Promise<void>): Promise<Measured> => {
  let records = 0
  const write = (text: string, count: number) => {
    records += count
    fs.writeSync(1, text)
  }
  const cpu = process.cpuUsage()
  const started = performance.now()
  await body(write)
  const millis = performance.now() - started
  const used = process.cpuUsage(cpu)
  return { records, millis, cpuMillis: (used.user + used.system) / 1000 }
}

const ndjson = (records: ReadonlyArray<unknown> | Iterable<unknown>): [string, number] => {
  let text = ""
  let count = 0
  for (const record of records) {
    text += JSON.stringify(record) + "\n"
    count++
  }
  return [text, count]
}

const vppkit = (write: (text: string, records: number) => void): Promise<void> =>
  Effect.runPromise(
    PageIndex.assignments().records.pipe(
      Stream.runForEachChunk((chunk) => Effect.sync(() => write(...ndjson(chunk)))),
      Effect.provide(NodeVppClient.layerConfig({ maxRequestsPerSecond: Infinity }))
    )
  )

interface RawPage {
  readonly assignments?: ReadonlyArray<unknown>
  readonly totalPages: number
  readonly nextPageIndex?: number
}

const baseline = (parallel: boolean) => async (write: (text: string, records: number) => void): Promise<void> => {
  const token = fs.readFileSync(process.env["VPP_TOKEN_FILE"]!, "utf8").trim()
  const baseUrl = process.env["VPP_BASE_URL"]!
  const get = async (pageIndex: number): Promise<RawPage> => {
    const response = await fetch(`${baseUrl}/v2/assignments${pageIndex === 0 ? "" : `?pageIndex=${pageIndex}`}`, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" }
    })
    if (!response.ok) throw new Error(`page ${pageIndex}: HTTP ${response.status}`)
    const page = JSON.parse(await response.text()) as RawPage
    write(...ndjson(page.assignments ?? []))
    return page
  }
  const first = await get(0)
  if (!parallel) {
    for (let page = first; page.nextPageIndex !== undefined;) page = await get(page.nextPageIndex)
    return
  }
  let next = 1
  const worker = async () => {
    while (next < first.totalPages) await get(next++)
  }
  await Promise.all(Array.from({ length: 5 }, worker))
}

const run = mode === "vppkit" ? vppkit : mode === "baseline" ? baseline(true) : baseline(false)

measure(run).then(
  (measured) => {
    const result: StreamResult = {
      type: "result",
      ...measured,
      maxRssBytes: process.resourceUsage().maxRSS * 1024
    }
    process.send!(result, () => process.exit(0))
  },
  (error: unknown) => {
    process.stderr.write(`streamProcess ${mode}: ${String(error)}\n`)
    process.exit(1)
  }
)
