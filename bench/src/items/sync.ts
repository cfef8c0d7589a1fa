/**
 * Item 4 — `vppkit sync` into SQLite: a full sync of 1M assignments, then an incremental sync after 1 % of
 * them changed. Runs the built CLI as a user would:
 *
 *     node packages/cli/dist/vppkit.js sync --db PATH --resources assignments --token-file F --base-url U
 *
 * and times each process from spawn to exit. When the CLI has no `sync` command yet, the item says so
 * instead of failing.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import { spawn, spawnSync } from "node:child_process"
import * as path from "node:path"
import { count, ms, perSecond, rate, ratio } from "../internal/format.js"
import { cliBin, rootDir, tmpDir } from "../internal/paths.js"
import { type Section, table } from "../internal/report.js"
import type { BenchServer } from "../internal/server.js"

const title = "SQLite sync: full, then incremental with 1 % changed"

/** 1 % of the records change in one write batch: a fifth of them new, the rest updated. */
const changes = (records: number) => ({ inserts: Math.round(records * 0.002), updates: Math.round(records * 0.008) })

interface Run {
  readonly name: string
  readonly millis: number
  readonly exitCode: number | null
  readonly requests: number
  readonly stderr: string
}

/** Whether the built CLI lists a `sync` command, and the text of `sync --help` when it does. */
const syncHelp = (): string | undefined => {
  const help = spawnSync(process.execPath, [cliBin, "--help"], { encoding: "utf8" })
  // "  - sync …" in the earlier help, "  sync   …" in the current one.
  if (!/^\s*(- )?sync\b/m.test(help.stdout ?? "")) return undefined
  return spawnSync(process.execPath, [cliBin, "sync", "--help"], { encoding: "utf8" }).stdout ?? ""
}

const runCli = (args: ReadonlyArray<string>): Promise<{ millis: number; exitCode: number | null; stderr: string }> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, [cliBin, ...args], { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text
    })
    const timer = setTimeout(() => child.kill("SIGTERM"), 10 * 60_000)
    child.once("error", reject)
    child.once("exit", (exitCode) => {
      clearTimeout(timer)
      resolve({ millis: performance.now() - started, exitCode, stderr: stderr.trim() })
    })
  })

const countRows = (db: string): Promise<string> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const sql = yield* SqliteClient.SqliteClient
      const rows = yield* sql<{ n: number }>`SELECT count(*) AS n FROM assignments`
      return count(rows[0]?.n ?? 0)
    }).pipe(
      Effect.provide(SqliteClient.layer({ filename: db, readonly: true })),
      Effect.scoped,
      Effect.catchAllCause((cause) => Effect.succeed(`could not be read (${String(cause).split("\n")[0]})`))
    )
  )

export const run = async (big: BenchServer, bigRecords: number, log: (line: string) => void): Promise<Section> => {
  const changed = changes(bigRecords)
  const help = syncHelp()
  if (help === undefined) throw new Error(`${cliBin} has no sync command (VPPKIT_BENCH_CLI points at another build?)`)
  // The client's default of 15 requests/s would hold any sync of 1000-record pages to 15,000 records/s.
  const rateFlag = /--max-requests-per-second\b/.test(help) ? ["--max-requests-per-second", "100000"] : []
  const db = path.join(tmpDir(), "sync.sqlite")
  const args = ["sync", "--db", db, "--resources", "assignments", "--token-file", big.tokenFile, "--base-url", big.baseUrl, ...rateFlag]
  const shown = ["node", path.relative(rootDir, cliBin), "sync --db DB --resources assignments --token-file F --base-url U", ...rateFlag].join(" ")
  const sync = async (name: string): Promise<Run> => {
    await big.stats()
    const result = await runCli(args)
    const stats = await big.stats()
    log(`  ${name}: ${ms(result.millis)}, ${stats.requests} requests, exit ${result.exitCode}`)
    return { name, ...result, requests: stats.requests }
  }
  const full = await sync("full sync")
  const fullRows = await countRows(db)
  const live = await big.churn(changed)
  const incremental = await sync("incremental sync")
  const rows = await countRows(db)
  // What every run pays before it syncs anything: Node starting and loading the CLI (best of 3).
  let startup = Infinity
  for (let i = 0; i < 3; i++) startup = Math.min(startup, (await runCli(["--version"])).millis)
  const ok = full.exitCode === 0 && incremental.exitCode === 0
  const requestShare = incremental.requests / full.requests
  const timeShare = incremental.millis / full.millis
  const workShare = (incremental.millis - startup) / (full.millis - startup)
  const fullRate = perSecond(bigRecords, full.millis)
  return {
    id: "4",
    title,
    figures: [
      { label: `full sync of ${count(bigRecords)} assignments`, value: rate(fullRate, "records"), goal: "≥ 100,000 records/s", met: ok && fullRate >= 100_000 },
      { label: "incremental (1 % changed): requests vs full", value: `${incremental.requests} vs ${full.requests} (${(requestShare * 100).toFixed(1)} %)`, goal: "≤ 5 %", met: ok && requestShare <= 0.05 },
      { label: "incremental (1 % changed): time vs full", value: `${ms(incremental.millis)} vs ${ms(full.millis)} (${(timeShare * 100).toFixed(1)} %)`, goal: "≤ 5 %", met: ok && timeShare <= 0.05 },
      { label: "start-up of a CLI run (`vppkit --version`, best of 3) (context)", value: ms(startup) },
      { label: "incremental vs full, each less the start-up (context)", value: `${ms(incremental.millis - startup)} vs ${ms(full.millis - startup)} (${(workShare * 100).toFixed(1)} %)` }
    ],
    details: [
      `The simulator holds ${count(bigRecords)} assignments in pages of 1000, no latency, no enforced rate limit. ` +
      `Command: \`${shown}\` into a fresh database (DB in a temporary directory), timed from spawn to exit (process start included, as a user sees it); then ` +
      `${count(changed.inserts)} inserts and ${count(changed.updates)} updates (1 % of the records) in one write ` +
      "batch, and the same command again.",
      rateFlag.length > 0
        ? "The sync's rate limit was raised with `--max-requests-per-second 100000`."
        : "`vppkit sync --help` lists no `--max-requests-per-second`: the sync ran with the client's default rate " +
          "limit (15 requests/s, i.e. at most 15,000 records/s with 1000-record pages) unless the command lifts it by itself.",
      table(
        ["run", "wall", "requests", "exit code", "rows in the database after", "stderr (last line)"],
        [[full, fullRows], [incremental, rows]].map(([r, n]) => {
          const run = r as Run
          return [run.name, ms(run.millis), String(run.requests), String(run.exitCode), n as string, (run.stderr.split("\n").pop() ?? "").slice(0, 120)]
        })
      ),
      `Live assignments on the simulator after the change: ${count(live)}. Incremental share: requests ${ratio(requestShare)}, time ${ratio(timeShare)}.`
    ]
  }
}
