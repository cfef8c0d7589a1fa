/**
 * `node --expose-gc bench/dist/decode.js [records] [rounds]`: what decoding a page costs the client, in one
 * process, side by side (issue 17, goal 2). Not part of `npm run bench`; a diagnostic of the decoding alone.
 *
 * The simulator (in this process) renders `records` assignments (default 100,000) as pages of 1000, as JSON
 * text; then each variant turns every page into NDJSON lines, as `streamProcess.ts` does:
 *
 * - `baseline`: `JSON.parse`, then `JSON.stringify` per record (no validation);
 * - `schema`: `JSON.parse`, the page envelope decoded with `Schema.decodeUnknownEither` (what the client did
 *   before issue 17), then `JSON.stringify` per record;
 * - `compiled`: `JSON.parse`, the envelope decoded by the decoder compiled from the same schema
 *   (`internal/decoder.ts`, copying every struct and array as Schema does), then `JSON.stringify` per record;
 * - `json`: the same decoder in its JSON mode (`Decoder.decodeJson`, what `VppClient.execute` runs on a body
 *   fresh from `JSON.parse`: input already in Schema's shape is kept, not copied).
 *
 * The variants alternate for `rounds` rounds (default 5); the best CPU time of each is reported, per record and
 * as a ratio to the baseline. Allocation is measured in a separate pass (a full GC before each page, the growth
 * of the heap over the page summed; run with `--max-semi-space-size=64` so that no scavenge happens within a
 * page).
 */
import * as Page from "@vppkit/core/Page"
import * as Resources from "@vppkit/core/Resources"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Decoder from "../../packages/core/dist/internal/decoder.js"

const records = Number(process.argv[2] ?? 100_000)
const rounds = Number(process.argv[3] ?? 5)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")

const resource = Resources.byName("assignments")!
const schema = Page.envelope(resource.field, resource.record)

const pages = await Effect.runPromise(Effect.gen(function*() {
  const simulator = yield* Simulator.make({ records: { assignments: records }, pageSize: 1000 })
  const authorization = `Bearer ${Redacted.value(simulator.token.value)}`
  const texts: Array<string> = []
  for (let pageIndex = 0;; pageIndex++) {
    const response = yield* simulator.handle({
      method: "GET",
      path: resource.path,
      query: new URLSearchParams(pageIndex === 0 ? {} : { pageIndex: String(pageIndex) }),
      headers: { authorization },
      body: ""
    })
    if (response.status !== 200) throw new Error(`page ${pageIndex}: HTTP ${response.status}`)
    texts.push(response.body)
    if ((JSON.parse(response.body) as { nextPageIndex?: number }).nextPageIndex === undefined) return texts
  }
}))

const ndjson = (list: ReadonlyArray<unknown>): string => {
  let text = ""
  for (const record of list) text += JSON.stringify(record) + "\n"
  return text
}

const decodeSchema = Schema.decodeUnknownEither(schema)
const decodeCompiled = Decoder.decodeUnknownEither(schema)
const decodeJson = Decoder.compileJson(schema.ast)

type Variant = (text: string) => number

const recordsOf = (body: { readonly [field: string]: unknown }): ReadonlyArray<unknown> =>
  (body[resource.field] as ReadonlyArray<unknown> | undefined) ?? []

const variants: Record<string, Variant> = {
  baseline: (text) => ndjson(recordsOf(JSON.parse(text))).length,
  schema: (text) => ndjson(recordsOf(Either.getOrThrow(decodeSchema(JSON.parse(text))))).length,
  compiled: (text) => ndjson(recordsOf(Either.getOrThrow(decodeCompiled(JSON.parse(text))))).length,
  json: (text) => {
    const body = decodeJson(JSON.parse(text))
    if (body === Decoder.invalid) throw new Error("a page did not decode")
    return ndjson(recordsOf(body as { readonly [field: string]: unknown })).length
  }
}

// The variants must agree before they are timed.
for (const text of pages) {
  const lines = Object.values(variants).map((variant) => variant(text))
  if (new Set(lines).size !== 1) throw new Error(`the variants disagree: ${lines.join(", ")}`)
}

const cpuMillis = (variant: Variant): number => {
  gc()
  const started = process.cpuUsage()
  let sink = 0
  for (const text of pages) sink += variant(text)
  const used = process.cpuUsage(started)
  if (sink === 0) throw new Error("nothing written")
  return (used.user + used.system) / 1000
}

const allocatedBytes = (variant: Variant): number => {
  let total = 0
  for (const text of pages) {
    gc()
    const before = process.memoryUsage().heapUsed
    variant(text)
    total += process.memoryUsage().heapUsed - before
  }
  return total
}

const names = Object.keys(variants)
const times: Record<string, Array<number>> = Object.fromEntries(names.map((name) => [name, []]))
for (let round = 0; round < rounds; round++) {
  for (const name of names) times[name]!.push(cpuMillis(variants[name]!))
}
const best = Object.fromEntries(names.map((name) => [name, Math.min(...times[name]!)]))
const allocated = Object.fromEntries(names.map((name) => [name, allocatedBytes(variants[name]!)]))

const count = pages.reduce((sum, text) => sum + recordsOf(JSON.parse(text)).length, 0)
process.stdout.write(`${count} assignments in ${pages.length} pages, ${rounds} interleaved rounds, node ${process.version}\n`)
process.stdout.write("variant   | best CPU | µs/record | × baseline | CPU per round (ms)           | allocated | bytes/record | × baseline\n")
for (const name of names) {
  const cpu = best[name]!
  const bytes = allocated[name]!
  process.stdout.write(
    `${name.padEnd(9)} | ${cpu.toFixed(0).padStart(5)} ms | ${(cpu * 1000 / count).toFixed(2).padStart(9)} | ${
      (cpu / best["baseline"]!).toFixed(2).padStart(9)
    }× | ${times[name]!.map((t) => t.toFixed(0)).join(" ").padEnd(28)} | ${(bytes / 2 ** 20).toFixed(0).padStart(6)} MB | ${
      (bytes / count).toFixed(0).padStart(12)
    } | ${(bytes / allocated["baseline"]!).toFixed(2).padStart(9)}×\n`
  )
}
