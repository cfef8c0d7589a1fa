/**
 * Item 6 — `vppkit list assignments --format table` on a terminal: 50,000 records through a pseudo-terminal
 * (python3's `pty`, the helper the CLI's terminal tests use), timed against `--format ndjson` of the same
 * records on the same terminal, with the peak RSS of each run. A run of the table stopped at 5,000 records
 * (`--limit`) shows whether the table's memory grows with the records.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { best, count, ms, ratio } from "../internal/format.js"
import { cliBin, rootDir } from "../internal/paths.js"
import { type Section, table } from "../internal/report.js"
import { startServer } from "../internal/server.js"

const title = "Table on a terminal: `list assignments --format table` vs ndjson, 50,000 records"

const records = 50_000
const limited = 5_000
const columns = 80

const pseudoTerminal = path.join(rootDir, "packages", "cli", "test", "support", "pseudoTerminal.py")

interface Run {
  readonly name: string
  readonly format: "table" | "ndjson"
  readonly limit: number | undefined
  readonly millis: number
  readonly code: number | null
  readonly maxRssKb: number
  readonly bytes: number
}

/** Runs the CLI on an 80-column pseudo-terminal whose output is read and counted (not kept). */
const onTerminal = (args: ReadonlyArray<string>): Promise<Omit<Run, "name" | "format" | "limit">> =>
  new Promise((resolve, reject) => {
    const child = spawn("python3", [pseudoTerminal, String(columns), "24", "--discard", "--", process.execPath, cliBin, ...args], {
      stdio: ["ignore", "ignore", "pipe"]
    })
    let report = ""
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      report += text
    })
    child.once("error", reject)
    child.once("close", () => {
      try {
        const status = JSON.parse(report.trim().split("\n").pop() ?? "") as { code: number | null; maxRssKb: number; bytes: number; millis: number }
        resolve({ millis: status.millis, code: status.code, maxRssKb: status.maxRssKb, bytes: status.bytes })
      } catch {
        reject(new Error(`pseudoTerminal.py: ${report}`))
      }
    })
  })

const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MB`

export const run = async (log: (line: string) => void): Promise<Section> => {
  const server = await startServer({ records: { assignments: records }, pageSize: 1000 })
  const runs: Array<Run> = []
  try {
    const connect = ["--token-file", server.tokenFile, "--base-url", server.baseUrl, "--max-requests-per-second", "100000"]
    const list = async (format: Run["format"], limit?: number, shown = true) => {
      const result = await onTerminal([
        "list",
        "assignments",
        "--format",
        format,
        ...(limit === undefined ? [] : ["--limit", String(limit)]),
        ...connect
      ])
      const name = `${format}${limit === undefined ? "" : ` --limit ${count(limit)}`}`
      log(`  ${name}: ${ms(result.millis)}, peak RSS ${mib(result.maxRssKb)}, exit ${result.code}`)
      if (shown) runs.push({ name, format, limit, ...result })
    }
    // A first pass warms the simulator up (not shown); then the formats alternate.
    await list("ndjson", undefined, false)
    for (let i = 0; i < 3; i++) {
      await list("table")
      await list("ndjson")
    }
    await list("table", limited)
    await list("table", limited)
  } finally {
    await server.stop()
  }
  const full = (format: Run["format"]) => runs.filter((r) => r.format === format && r.limit === undefined)
  const ok = runs.every((r) => r.code === 0)
  const tableMillis = best(full("table").map((r) => r.millis))
  const ndjsonMillis = best(full("ndjson").map((r) => r.millis))
  const peak = (rs: ReadonlyArray<Run>) => Math.max(...rs.map((r) => r.maxRssKb))
  const tablePeak = peak(full("table"))
  const ndjsonPeak = peak(full("ndjson"))
  const limitedPeak = peak(runs.filter((r) => r.limit !== undefined))
  return {
    id: "6",
    title,
    figures: [
      { label: `table, ${count(records)} records, wall`, value: ms(tableMillis) },
      { label: "ndjson, same records and terminal, wall", value: ms(ndjsonMillis) },
      { label: "table / ndjson", value: ratio(tableMillis / ndjsonMillis), goal: "≤ 1.5", met: ok && tableMillis / ndjsonMillis <= 1.5 },
      { label: "peak RSS, table / ndjson", value: `${mib(tablePeak)} / ${mib(ndjsonPeak)}` },
      {
        label: `peak RSS, table of ${count(records)} / of ${count(limited)} records (flat memory; our check)`,
        value: `${mib(tablePeak)} / ${mib(limitedPeak)} (${ratio(tablePeak / limitedPeak)})`,
        goal: "≤ 1.2",
        met: ok && tablePeak / limitedPeak <= 1.2
      }
    ],
    details: [
      `The simulator holds ${count(records)} assignments in pages of 1000, no latency, no enforced rate limit. ` +
      `Command: \`node ${path.relative(rootDir, cliBin)} list assignments --format FORMAT --token-file F --base-url U ` +
      "--max-requests-per-second 100000`, run on a pseudo-terminal of 80 × 24 " +
      "(`packages/cli/test/support/pseudoTerminal.py`, python3's `pty`, which reads the terminal as fast as it can and " +
      "counts the bytes), timed from spawn to exit (process start included, as a person sees it). The peak RSS is the " +
      "CLI process's (`getrusage` of the child). A first ndjson run warms the simulator up (not shown); table and " +
      `ndjson then alternate, three times each; the table also runs twice with \`--limit ${count(limited)}\`.`,
      "The table shows its default columns for assignments (adamId, pricingParam, clientUserId, serialNumber), fitted " +
      "to 80 columns from the first page and written page by page; ndjson writes every field of every record.",
      table(
        ["run", "format", "wall", "peak RSS", "bytes on the terminal", "exit code"],
        runs.map((r, i) => [String(i + 1), r.name, ms(r.millis), mib(r.maxRssKb), count(r.bytes), String(r.code)])
      )
    ]
  }
}
