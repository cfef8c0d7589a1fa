/**
 * Item 4 — `vppkit sync` into SQLite: a full sync of 1M assignments against a raw baseline in the same run,
 * then an incremental sync after 1 % of them changed. Runs the built CLI as a user would:
 *
 *     node packages/cli/dist/vppkit.js sync --db PATH --resources assignments --token-file F --base-url U --json …
 *
 * vppkit's time is the one it reports (`--json` `millis`: from the command's start to its end, the database
 * opened and migrated and Client Config asked included, Node's start-up and module loading not); the wall time
 * from spawn to exit and the start-up (`vppkit --version`) are shown apart.
 *
 * The raw baseline is the same rows, read back from vppkit's first database (not timed), upserted with
 * better-sqlite3 directly into an empty copy of its table (same `CREATE TABLE` and indexes, WAL like vppkit's
 * connection): one prepared multi-row `INSERT … ON CONFLICT … DO UPDATE`, one transaction, timed from `BEGIN`
 * to `COMMIT` with each statement's parameters taken from the rows in memory.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type CliRun, runCli, syncSummary } from "../internal/cli.js"
import { count, ms, perSecond, rate, ratio } from "../internal/format.js"
import { cliBin, rootDir, tmpDir } from "../internal/paths.js"
import { type Section, table } from "../internal/report.js"
import type { BenchServer } from "../internal/server.js"
import * as Sqlite from "../internal/sqlite.js"

const title = "SQLite sync: full vs the driver alone, then incremental with 1 % changed"

/** 1 % of the records change in one write batch: a fifth of them new, the rest updated. */
const changes = (records: number) => ({ inserts: Math.round(records * 0.002), updates: Math.round(records * 0.008) })

/** Rows per statement of the baseline: vppkit's (500) and as many as SQLite's 32,766 parameters allow. */
const baselineRows = (columns: number) => [500, Math.floor(32_766 / columns)]

interface Row {
  readonly run: string
  readonly kind: "full" | "baseline" | "incremental"
  /** In the process (vppkit: its `--json` `millis`), or `BEGIN` to `COMMIT` (baseline). */
  readonly millis: number
  readonly wall?: number
  readonly resourceMillis?: number | undefined
  readonly requests?: number
  readonly rows: number
  readonly note: string
}

const quote = (identifier: string): string => `"${identifier.replace(/"/g, "\"\"")}"`

const countRows = (file: string): number => {
  try {
    const db = new Sqlite.open(file, { readonly: true })
    try {
      return Number((db.prepare("SELECT count(*) FROM assignments").raw(true).all()[0] as Array<unknown>)[0])
    } finally {
      db.close()
    }
  } catch {
    return Number.NaN
  }
}

export const run = async (big: BenchServer, bigRecords: number, log: (line: string) => void): Promise<Section> => {
  const changed = changes(bigRecords)
  const rateFlag = ["--max-requests-per-second", "100000"]
  const args = (db: string) =>
    ["sync", "--db", db, "--resources", "assignments", "--token-file", big.tokenFile, "--base-url", big.baseUrl, "--json", ...rateFlag]
  const shown = ["node", path.relative(rootDir, cliBin), "sync --db DB --resources assignments --token-file F --base-url U --json", ...rateFlag].join(" ")
  const runs: Array<Row> = []
  const failures: Array<string> = []

  const vppkit = async (name: string, kind: "full" | "incremental", db: string, expected: number): Promise<Row> => {
    await big.stats()
    const result: CliRun = await runCli(args(db), 10 * 60_000)
    const stats = await big.stats()
    const summary = syncSummary(result)
    const resource = summary?.resources[0]
    const rows = countRows(db)
    if (result.exitCode !== 0 || summary?.ok !== true || rows !== expected) {
      failures.push(`${name}: exit ${result.exitCode}, ${count(rows)} rows of ${count(expected)} (${summary?.error ?? result.stderr.split("\n").pop() ?? ""})`)
    }
    const row: Row = {
      run: name,
      kind,
      millis: summary?.millis ?? Number.NaN,
      wall: result.millis,
      resourceMillis: resource?.millis,
      requests: stats.requests,
      rows,
      note: resource === undefined ? `exit ${result.exitCode}` : `${resource.mode}, ${count(resource.records)} records, ${resource.pages} pages, ${resource.consistency}`
    }
    log(`  ${name}: ${ms(row.millis)} in the process (the resource ${ms(row.resourceMillis ?? Number.NaN)}), ${ms(result.millis)} wall, ${stats.requests} requests, ${count(rows)} rows`)
    runs.push(row)
    return row
  }

  const dbs = [1, 2].map((n) => path.join(tmpDir(), `sync-${n}.sqlite`))
  await vppkit("vppkit full sync #1", "full", dbs[0]!, bigRecords)

  // vppkit's table as it made it, and the rows it stored: the baseline's schema and data.
  const source = new Sqlite.open(dbs[0]!, { readonly: true })
  const schema = source.prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'assignments' AND sql IS NOT NULL ORDER BY type DESC")
    .raw(true).all().map((row) => (row as Array<string>)[0]!)
  const columns = source.prepare("SELECT name, pk FROM pragma_table_info('assignments')").raw(true).all() as Array<[string, number]>
  let data = source.prepare("SELECT * FROM assignments").raw(true).all() as Array<Array<unknown>>
  source.close()
  if (schema.length === 0 || data.length === 0) throw new Error("vppkit's full sync left no assignments: no baseline to measure")
  log(`  read back ${count(data.length)} rows of ${columns.length} columns for the baseline`)
  const names = columns.map(([name]) => quote(name))
  const conflict = columns.filter(([, pk]) => pk > 0).sort((a, b) => a[1] - b[1]).map(([name]) => quote(name))
  const updated = columns.filter(([, pk]) => pk === 0).map(([name]) => quote(name))
  const upsertText = (rows: number) =>
    `INSERT INTO assignments (${names.join(", ")}) VALUES ${
      Array.from({ length: rows }, () => `(${names.map(() => "?").join(", ")})`).join(", ")
    } ON CONFLICT (${conflict.join(", ")}) DO UPDATE SET ${updated.map((name) => `${name} = excluded.${name}`).join(", ")}`

  const baseline = (perStatement: number, n: number): Row => {
    const file = path.join(tmpDir(), `baseline-${perStatement}-${n}.sqlite`)
    const db = new Sqlite.open(file)
    db.pragma("journal_mode = WAL")
    for (const statement of schema) db.exec(statement)
    const statement = db.prepare(upsertText(perStatement))
    const started = performance.now()
    db.exec("BEGIN")
    for (let start = 0; start < data.length; start += perStatement) {
      const end = Math.min(data.length, start + perStatement)
      const params: Array<unknown> = []
      for (let i = start; i < end; i++) {
        const row = data[i]!
        for (let c = 0; c < row.length; c++) params.push(row[c])
      }
      ;(end - start === perStatement ? statement : db.prepare(upsertText(end - start))).run(params)
    }
    db.exec("COMMIT")
    const millis = performance.now() - started
    db.close()
    const rows = countRows(file)
    fs.rmSync(file, { force: true })
    if (rows !== data.length) failures.push(`baseline #${n}: ${count(rows)} rows of ${count(data.length)}`)
    const row: Row = { run: `better-sqlite3 alone, ${count(perStatement)} rows a statement #${n}`, kind: "baseline", millis, rows, note: "one prepared statement, one transaction" }
    log(`  ${row.run}: ${ms(millis)}, ${count(rows)} rows`)
    runs.push(row)
    return row
  }

  // Interleaved, so that a change in the machine's load falls on every kind of run.
  const perStatement = baselineRows(columns.length)
  for (const rows of perStatement) baseline(rows, 1)
  await vppkit("vppkit full sync #2", "full", dbs[1]!, bigRecords)
  for (const rows of perStatement) baseline(rows, 2)
  data = []

  const live = await big.churn(changed)
  // Both databases hold the same rows and checkpoint: each incremental starts from the same state.
  for (const [i, db] of dbs.entries()) await vppkit(`vppkit incremental sync #${i + 1}`, "incremental", db, bigRecords + changed.inserts)

  // What every run pays before its own time starts: Node starting and loading the CLI (best of 3).
  let startup = Infinity
  for (let i = 0; i < 3; i++) startup = Math.min(startup, (await runCli(["--version"])).millis)

  const bestOf = (kind: Row["kind"]) => Math.min(...runs.filter((r) => r.kind === kind).map((r) => r.millis))
  const full = bestOf("full")
  const base = bestOf("baseline")
  const incremental = bestOf("incremental")
  const fullRate = perSecond(bigRecords, full)
  const baseRate = perSecond(bigRecords, base)
  const ok = failures.length === 0
  const fullRequests = runs.find((r) => r.kind === "full")?.requests ?? Number.NaN
  const incrementalRequests = runs.find((r) => r.kind === "incremental")?.requests ?? Number.NaN
  const requestShare = incrementalRequests / fullRequests
  const timeShare = incremental / full
  const fullWall = Math.min(...runs.filter((r) => r.kind === "full").map((r) => r.wall ?? Infinity))
  const incrementalWall = Math.min(...runs.filter((r) => r.kind === "incremental").map((r) => r.wall ?? Infinity))
  return {
    id: "4",
    title,
    figures: [
      { label: `vppkit full sync of ${count(bigRecords)} assignments (in the process)`, value: rate(fullRate, "records") },
      { label: "better-sqlite3 alone, the same rows: one prepared multi-row upsert, one transaction (baseline)", value: rate(baseRate, "records") },
      { label: "vppkit full / baseline", value: ratio(fullRate / baseRate), goal: "≥ 0.6", met: ok && fullRate / baseRate >= 0.6 },
      { label: "incremental (1 % changed): requests vs full", value: `${incrementalRequests} vs ${fullRequests} (${(requestShare * 100).toFixed(1)} %)`, goal: "≤ 5 %", met: ok && requestShare <= 0.05 },
      { label: "incremental (1 % changed): time vs full, in the process", value: `${ms(incremental)} vs ${ms(full)} (${(timeShare * 100).toFixed(1)} %)`, goal: "≤ 5 %", met: ok && timeShare <= 0.05 },
      { label: "start-up of a CLI run (`vppkit --version`, best of 3), not in the times above (context)", value: ms(startup) },
      { label: "incremental vs full, wall from spawn to exit (context)", value: `${ms(incrementalWall)} vs ${ms(fullWall)} (${(incrementalWall / fullWall * 100).toFixed(1)} %)` },
      { label: "every run left every row", value: ok ? "yes" : `no: ${failures.slice(0, 5).join("; ")}`, goal: "yes", met: ok }
    ],
    details: [
      `The simulator holds ${count(bigRecords)} assignments in pages of 1000, no latency, no enforced rate limit. ` +
      `Command: \`${shown}\` into a fresh database (DB in a temporary directory), twice; then ` +
      `${count(changed.inserts)} inserts and ${count(changed.updates)} updates (1 % of the records) in one write ` +
      "batch, and the same command again on each of the two databases (the same delta from the same checkpoint). " +
      "vppkit's time is the run's `millis` from its `--json` summary: from the command's start to its end (database " +
      "opened and migrated, Client Config asked, every page fetched over HTTP, decoded and written, committed), " +
      "without Node's start-up; the resource's own time (its transaction: pages, writes, commit) and the wall time " +
      "from spawn to exit are shown beside it.",
      "The baseline is the same rows, read back from vppkit's first database before it runs (not timed), upserted " +
      "with better-sqlite3 (the driver under `@effect/sql-sqlite-node`) into a fresh file holding vppkit's " +
      "`CREATE TABLE` and indexes, in WAL mode like vppkit's connection: one prepared multi-row `INSERT … ON " +
      "CONFLICT (primary key) DO UPDATE`, one transaction, timed from `BEGIN` to `COMMIT` with each statement's " +
      `parameters gathered from the rows in memory; ${perStatement.map(count).join(" and ")} rows a statement ` +
      "(vppkit's, and as many as SQLite's 32,766 parameters allow), the fastest taken. It does none of vppkit's " +
      "other work — HTTP, JSON, Schema decoding — so the ratio is the share of the driver's own speed a sync from " +
      "the API keeps.",
      table(
        ["run", "time", "records/s", "the resource's own time", "wall from spawn", "requests", "rows after", "note"],
        runs.map((r) => [
          r.run,
          ms(r.millis),
          r.kind === "incremental" ? "—" : rate(perSecond(bigRecords, r.millis), "records"),
          r.resourceMillis === undefined ? "—" : ms(r.resourceMillis),
          r.wall === undefined ? "—" : ms(r.wall),
          r.requests === undefined ? "—" : String(r.requests),
          count(r.rows),
          r.note
        ])
      ),
      `Live assignments on the simulator after the change: ${count(live)}.`
    ]
  }
}
