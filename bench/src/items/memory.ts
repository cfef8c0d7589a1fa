/**
 * Item 3 — peak RSS streaming 100k and 1M assignments with the product, `vppkit list assignments --format
 * ndjson` (the built CLI, its own entry and whatever that entry sets), stdout on /dev/null, each run a fresh
 * process against a simulator in another process, zero latency, 1000-record pages; side by side with the
 * minimal client (`streamProcess.js baseline`: fetch + JSON.parse + JSON.stringify, 5 in flight) over the same
 * simulators. Peak RSS is `process.resourceUsage().maxRSS` at exit (`rssReport.js`, loaded with `--import`, for
 * the CLI; the baseline reports its own).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { count, mb, ratio } from "../internal/format.js"
import { cliBin, distDir, rootDir, tmpDir } from "../internal/paths.js"
import { type Section, table } from "../internal/report.js"
import { type BenchServer, startServer } from "../internal/server.js"
import { runStream } from "../internal/stream.js"

interface Run {
  readonly client: "vppkit" | "baseline"
  readonly records: number
  readonly maxRssBytes: number
  readonly cpuMillis: number
  readonly millis: number
  readonly exitCode: number | null
}

const flags = (server: BenchServer) =>
  ["list", "assignments", "--format", "ndjson", "--token-file", server.tokenFile, "--base-url", server.baseUrl, "--max-requests-per-second", "100000"]

let reports = 0

/** `vppkit list assignments --format ndjson` to /dev/null; its peak RSS and CPU time from `rssReport.js`. */
const runCli = (server: BenchServer, records: number): Promise<Run> =>
  new Promise((resolve, reject) => {
    const report = path.join(tmpDir(), `rss-${++reports}.json`)
    const devNull = fs.openSync("/dev/null", "w")
    const started = performance.now()
    const child = spawn(process.execPath, ["--import", pathToFileURL(path.join(distDir, "rssReport.js")).href, cliBin, ...flags(server)], {
      stdio: ["ignore", devNull, "inherit"],
      env: { ...process.env, VPPKIT_BENCH_RSS_FILE: report }
    })
    child.once("error", reject)
    child.once("exit", (exitCode) => {
      fs.closeSync(devNull)
      try {
        const { cpuMillis, maxRssBytes } = JSON.parse(fs.readFileSync(report, "utf8")) as { maxRssBytes: number; cpuMillis: number }
        resolve({ client: "vppkit", records, maxRssBytes, cpuMillis, millis: performance.now() - started, exitCode })
      } catch (error) {
        reject(new Error(`vppkit list exited ${exitCode} without a report (${String(error)})`))
      }
    })
  })

const runBaseline = async (server: BenchServer, records: number): Promise<Run> => {
  const result = await runStream("baseline", server)
  if (result.records !== records) throw new Error(`the baseline streamed ${result.records} records of ${records}`)
  return { client: "baseline", records, maxRssBytes: result.maxRssBytes, cpuMillis: result.cpuMillis, millis: result.millis, exitCode: 0 }
}

export const run = async (big: BenchServer, bigRecords: number, log: (line: string) => void): Promise<Section> => {
  const runs: Array<Run> = []
  const measure = async (client: Run["client"], server: BenchServer, records: number) => {
    const run = client === "vppkit" ? await runCli(server, records) : await runBaseline(server, records)
    log(`  ${client}, ${count(records)} records: peak RSS ${mb(run.maxRssBytes)}, CPU ${Math.round(run.cpuMillis)} ms${run.exitCode === 0 ? "" : `, exit ${run.exitCode}`}`)
    runs.push(run)
  }
  const smallRecords = 100_000
  const small = await startServer({ records: { assignments: smallRecords }, pageSize: 1000 })
  try {
    // A baseline pass first warms each simulator up (not reported); then the clients alternate.
    await runStream("baseline", small)
    for (const client of ["vppkit", "baseline", "vppkit"] as const) await measure(client, small, smallRecords)
  } finally {
    await small.stop()
  }
  await runStream("baseline", big)
  for (const client of ["vppkit", "baseline", "vppkit", "baseline", "vppkit", "baseline"] as const) await measure(client, big, bigRecords)

  const ok = runs.every((r) => r.exitCode === 0)
  const peak = (client: Run["client"], records: number) =>
    Math.max(...runs.filter((r) => r.client === client && r.records === records).map((r) => r.maxRssBytes))
  const cpu = (client: Run["client"], records: number) =>
    Math.min(...runs.filter((r) => r.client === client && r.records === records).map((r) => r.cpuMillis))
  const vppkitSmall = peak("vppkit", smallRecords)
  const vppkitBig = peak("vppkit", bigRecords)
  const baselineBig = peak("baseline", bigRecords)
  const shown = ["node", path.relative(rootDir, cliBin), "list assignments --format ndjson --token-file F --base-url U --max-requests-per-second 100000"].join(" ")
  return {
    id: "3",
    title: "Memory: peak RSS streaming 100k and 1M records",
    figures: [
      { label: `vppkit, peak RSS, ${count(smallRecords)} records`, value: mb(vppkitSmall) },
      { label: `vppkit, peak RSS, ${count(bigRecords)} records`, value: mb(vppkitBig) },
      { label: `vppkit ${count(bigRecords)} / ${count(smallRecords)}`, value: ratio(vppkitBig / vppkitSmall), goal: "≤ 1.1", met: ok && vppkitBig / vppkitSmall <= 1.1 },
      { label: `minimal baseline (fetch + JSON.parse), peak RSS, ${count(bigRecords)} records`, value: mb(baselineBig) },
      { label: `vppkit / baseline, ${count(bigRecords)} records`, value: ratio(vppkitBig / baselineBig), goal: "≤ 1.25", met: ok && vppkitBig / baselineBig <= 1.25 },
      { label: `CPU of a ${count(bigRecords)}-record run, vppkit / baseline, least of 3 (context)`, value: `${Math.round(cpu("vppkit", bigRecords)).toLocaleString("en-US")} / ${Math.round(cpu("baseline", bigRecords)).toLocaleString("en-US")} ms` }
    ],
    details: [
      `Command: \`${shown}\`, stdout on /dev/null, over a simulator holding ${count(smallRecords)} assignments and ` +
      `one holding ${count(bigRecords)} (pages of 1000, no latency, no enforced rate limit), each run a fresh process; ` +
      "peak RSS is `process.resourceUsage().maxRSS` of that process at exit (the simulator runs in another). The " +
      "baseline is `bench/dist/streamProcess.js baseline` over the same simulators: `fetch`, `JSON.parse`, " +
      "`JSON.stringify` per line, page 0 then 5 pages in flight, no validation — what Node and a JSON page at a time " +
      "cost with no library at all. The highest peak of each client's runs is compared; the clients alternate, and " +
      "a baseline pass before each simulator's runs warms it up (not shown). CPU is user + system time of the whole " +
      "process, start-up included for vppkit.",
      table(
        ["client", "records", "peak RSS", "CPU", "wall"],
        runs.map((r) => [r.client === "vppkit" ? "vppkit list" : "baseline, 5 in flight", count(r.records), mb(r.maxRssBytes), `${Math.round(r.cpuMillis).toLocaleString("en-US")} ms`, `${Math.round(r.millis).toLocaleString("en-US")} ms`])
      )
    ]
  }
}
