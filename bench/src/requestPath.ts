/**
 * `node bench/dist/requestPath.js [pages] [rounds] [coreDist...]`: what the client's request path costs in CPU,
 * in one process, without sockets (issue 17, goal 2). Not part of `npm run bench`; a diagnostic.
 *
 * The simulator (in this process) renders `pages` pages of 1000 assignments (default 200) as JSON text once; an
 * `HttpClient` answers every request with a `Response` over that text in a later turn of the event loop
 * (`setImmediate`: no sockets, no simulator work). Each
 * variant then fetches every page with 5 in flight, decodes it, and writes `JSON.stringify` per record:
 *
 * - `promise`: `Response.text()` + `JSON.parse` (no Effect per request beyond two `Effect.promise`);
 * - `VppClient`: `VppClient.execute` with the page envelope's schema (gate, limiter off, retry, timeout, span),
 *   once for each `coreDist` given (a `packages/core/dist` directory: `packages/core/dist` by default; give
 *   a copy of an earlier build to compare side by side).
 *
 * The variants alternate for `rounds` rounds (default 5); the best CPU time of each is reported, with the time
 * spent in minor (scavenge) and major garbage collections during that round.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Page from "@vppkit/core/Page"
import * as Resources from "@vppkit/core/Resources"
import type * as VppClientModule from "@vppkit/core/VppClient"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { PerformanceObserver } from "node:perf_hooks"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"

const pageCount = Number(process.argv[2] ?? 200)
const rounds = Number(process.argv[3] ?? 5)
const dists = process.argv.length > 4 ? process.argv.slice(4) : ["packages/core/dist"]

const resource = Resources.byName("assignments")!
const schema = Page.envelope(resource.field, resource.record)

const { texts, token } = await Effect.runPromise(Effect.gen(function*() {
  const simulator = yield* Simulator.make({ records: { assignments: pageCount * 1000 }, pageSize: 1000 })
  const authorization = `Bearer ${Redacted.value(simulator.token.value)}`
  const texts: Array<string> = []
  for (let pageIndex = 0; pageIndex < pageCount; pageIndex++) {
    const response = yield* simulator.handle({
      method: "GET",
      path: resource.path,
      query: new URLSearchParams(pageIndex === 0 ? {} : { pageIndex: String(pageIndex) }),
      headers: { authorization },
      body: ""
    })
    if (response.status !== 200) throw new Error(`page ${pageIndex}: HTTP ${response.status}`)
    texts.push(response.body)
  }
  return { texts, token: simulator.token }
}))

const pageOf = (url: URL): number => Number(url.searchParams.get("pageIndex") ?? 0)
const respond = (pageIndex: number) =>
  new Response(texts[pageIndex], { status: 200, headers: { "content-type": "application/json" } })

// The answer comes in a later turn of the event loop, as from a socket.
const http = HttpClient.make((request, url) =>
  Effect.async<HttpClientResponse.HttpClientResponse>((resume) => {
    const immediate = setImmediate(() => resume(Effect.succeed(HttpClientResponse.fromWeb(request, respond(pageOf(url))))))
    return Effect.sync(() => clearImmediate(immediate))
  })
)

let sink = 0
const write = (records: ReadonlyArray<unknown>) => {
  let text = ""
  for (const record of records) text += JSON.stringify(record) + "\n"
  sink += text.length
}
const indexes = Array.from({ length: pageCount }, (_, index) => index)

const promiseVariant = Effect.forEach(indexes, (pageIndex) =>
  Effect.promise(() => new Promise<Response>((resolve) => setImmediate(() => resolve(respond(pageIndex))))).pipe(
    Effect.flatMap((response) => Effect.promise(() => response.text())),
    Effect.map((text) => write((JSON.parse(text) as Record<string, ReadonlyArray<unknown>>)[resource.field]!))
  ), { concurrency: 5, discard: true })

const clientVariant = async (dist: string) => {
  const module = (await import(pathToFileURL(Path.resolve(dist, "VppClient.js")).href)) as typeof VppClientModule
  const client = await Effect.runPromise(
    module.make({ token, baseUrl: "http://simulator.test/mdm", maxRequestsPerSecond: Infinity }).pipe(
      Effect.provideService(HttpClient.HttpClient, http)
    )
  )
  return Effect.forEach(indexes, (pageIndex) =>
    Effect.map(
      client.get(resource.path, pageIndex === 0 ? {} : { pageIndex }, schema),
      (page) => write((page as unknown as Record<string, ReadonlyArray<unknown>>)[resource.field]!)
    ), { concurrency: 5, discard: true })
}

let minorGc = 0
let majorGc = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind
    if (kind === 1) minorGc += entry.duration
    else majorGc += entry.duration
  }
}).observe({ entryTypes: ["gc"] })

const variants: Array<{ name: string; run: Effect.Effect<void, unknown> }> = [{ name: "promise", run: promiseVariant }]
for (const dist of dists) variants.push({ name: `VppClient (${dist})`, run: await clientVariant(dist) })

const best = new Map<string, { cpu: number; minor: number; major: number }>()
for (let round = 0; round <= rounds; round++) {
  for (const variant of variants) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    minorGc = 0
    majorGc = 0
    const start = process.cpuUsage()
    await Effect.runPromise(variant.run)
    const used = process.cpuUsage(start)
    await new Promise((resolve) => setTimeout(resolve, 0))
    const cpu = (used.user + used.system) / 1000
    if (round === 0) continue // warm-up
    const previous = best.get(variant.name)
    if (previous === undefined || cpu < previous.cpu) best.set(variant.name, { cpu, minor: minorGc, major: majorGc })
  }
}
for (const [name, { cpu, major, minor }] of best) {
  console.log(`${name.padEnd(48)} ${cpu.toFixed(0).padStart(6)} ms CPU   minor GC ${minor.toFixed(0).padStart(4)} ms   major GC ${major.toFixed(0).padStart(4)} ms`)
}
if (sink === 0) console.log("nothing written")
