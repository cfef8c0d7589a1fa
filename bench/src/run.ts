/**
 * `npm run bench`: every benchmark of issue 7 in one go, against the simulator served on 127.0.0.1, then
 * BENCHMARKS.md at the repository root. `--only 1,5` runs some items and prints the report without writing
 * the file.
 *
 * 1. parallel traversal vs the physical limit (items/traversal.ts)
 * 2. client throughput vs a minimal hand-written client (items/streaming.ts, child processes)
 * 3. peak RSS of `vppkit list` over 100k and 1M records vs the minimal client (items/memory.ts, the built CLI)
 * 4. `vppkit sync` into SQLite, full and incremental (items/sync.ts, the built CLI)
 * 5. the rate limit, learned from Service Config (items/rateLimit.ts)
 * 6. `list --format table` on a pseudo-terminal vs ndjson (items/table.ts, the built CLI)
 * 7. `vppkit sync` into PostgreSQL vs the driver alone (COPY, unnest) and vs SQLite (items/postgres.ts, the built CLI)
 * 8. many locations synced into one PostgreSQL database, 5 at a time (items/locations.ts, the built CLI)
 * 9. start-up of the CLI (items/startup.ts, the built CLI)
 * 10. `vppkit fleet run` with 1, 2 and 3 runners on one PostgreSQL database: locations synced per minute (items/fleet.ts,
 *     the built CLI)
 *
 * Items 7, 8 and 10 need a PostgreSQL server (`VPPKIT_BENCH_PG_URL`, default postgres://postgres@127.0.0.1:5432/postgres);
 * `VPPKIT_BENCH_PG_RECORDS` (item 7, default 1,000,000), `VPPKIT_BENCH_LOCATIONS` (100),
 * `VPPKIT_BENCH_LOCATION_RECORDS` (10,000) and `VPPKIT_BENCH_LOCATION_CONCURRENCY` (5) (item 8),
 * `VPPKIT_BENCH_FLEET_LOCATIONS` (48), `VPPKIT_BENCH_FLEET_LATENCY_MS` (100) and `VPPKIT_BENCH_FLEET_WINDOW_SECONDS` (20)
 * (item 10) size them.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describeMachine, finishMachine } from "./internal/machine.js"
import { removeTmpDir, rootDir } from "./internal/paths.js"
import { notesMarker, render, type Section } from "./internal/report.js"
import { type BenchServer, startServer } from "./internal/server.js"
import * as Fleet from "./items/fleet.js"
import * as Locations from "./items/locations.js"
import * as Memory from "./items/memory.js"
import * as Postgres from "./items/postgres.js"
import * as RateLimit from "./items/rateLimit.js"
import * as Startup from "./items/startup.js"
import * as Streaming from "./items/streaming.js"
import * as Sync from "./items/sync.js"
import * as Table from "./items/table.js"
import * as Traversal from "./items/traversal.js"

const onlyArg = process.argv.indexOf("--only")
const only = onlyArg === -1 ? undefined : new Set((process.argv[onlyArg + 1] ?? "").split(","))
const wanted = (id: string) => only === undefined || only.has(id)

const started = performance.now()
const log = (line: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`)

const bigRecords = 1_000_000

const main = async () => {
  const machine = describeMachine()
  const sections: Array<Section> = []
  if (wanted("1")) {
    log("1. parallel traversal vs the physical limit")
    sections.push(await Traversal.run(log))
  }
  // Item 7 shares the simulator of items 2 to 4 when it wants as many records (it runs before item 4 changes them).
  const pgOnBig = wanted("7") && Postgres.records === bigRecords
  if (wanted("2") || wanted("3") || wanted("4") || pgOnBig) {
    log(`starting a simulator with ${bigRecords.toLocaleString("en-US")} assignments`)
    const big: BenchServer = await startServer({ records: { assignments: bigRecords }, pageSize: 1000 })
    try {
      if (wanted("2")) {
        log("2. throughput, streaming NDJSON to /dev/null")
        sections.push(await Streaming.run(big, bigRecords, log))
      }
      if (wanted("3")) {
        log("3. memory: `vppkit list` and the minimal client, NDJSON to /dev/null")
        sections.push(await Memory.run(big, bigRecords, log))
      }
      if (pgOnBig) {
        log("7. PostgreSQL sync")
        sections.push(await Postgres.run(big, log))
      }
      if (wanted("4")) {
        log("4. SQLite sync")
        sections.push(await Sync.run(big, bigRecords, log))
      }
    } finally {
      await big.stop()
    }
  }
  if (wanted("7") && !pgOnBig) {
    log(`starting a simulator with ${Postgres.records.toLocaleString("en-US")} assignments`)
    const server = await startServer({ records: { assignments: Postgres.records }, pageSize: 1000 })
    try {
      log("7. PostgreSQL sync")
      sections.push(await Postgres.run(server, log))
    } finally {
      await server.stop()
    }
  }
  if (wanted("8")) {
    log("8. many locations into one PostgreSQL database")
    sections.push(await Locations.run(log))
  }
  if (wanted("10")) {
    log("10. vppkit fleet with 1, 2 and 3 runners")
    sections.push(await Fleet.run(log))
  }
  if (wanted("5")) {
    log("5. rate limit")
    sections.push(await RateLimit.run(log))
  }
  if (wanted("6")) {
    log("6. table on a terminal")
    sections.push(await Table.run(log))
  }
  if (wanted("9")) sections.push(await Startup.run(log))
  finishMachine(machine)

  const file = path.join(rootDir, "BENCHMARKS.md")
  const previous = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : ""
  const at = previous.indexOf(notesMarker)
  const notes = at === -1 ? "## Notes\n" : previous.slice(at + notesMarker.length).trimStart()
  const report = render({
    machine,
    command: only === undefined ? "npm run bench" : `npm run bench -- --only ${[...only].join(",")}`,
    totalSeconds: (performance.now() - started) / 1000,
    sections: sections.sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true })),
    notes
  })
  if (only === undefined) {
    fs.writeFileSync(file, report)
    log(`wrote ${path.relative(process.cwd(), file) || file}`)
  } else {
    process.stdout.write(report)
  }
}

// The temporary directory holds token files: it goes on Ctrl-C too (the child processes end with their IPC channel).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    removeTmpDir()
    process.exit(130)
  })
}

main().then(
  () => removeTmpDir(),
  (error: unknown) => {
    removeTmpDir()
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
    process.exit(1)
  }
)
