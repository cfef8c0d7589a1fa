/**
 * Item 7 — `vppkit sync` into PostgreSQL: a full sync of the simulator's assignments (1M unless
 * `VPPKIT_BENCH_PG_RECORDS` says otherwise) with the built CLI,
 *
 *     node packages/cli/dist/vppkit.js sync --db postgres://… --resources assignments --json …
 *
 * against the same sync into SQLite and against a raw baseline in the same run: the same rows inserted into
 * the same table (`LIKE … INCLUDING ALL`: its columns, primary key and indexes) with the driver directly,
 * `COPY … FROM STDIN` and `INSERT … SELECT FROM unnest(…)` in batches, each in one transaction. The fastest is
 * the baseline. The rows are read back from vppkit's table before the baseline runs (not timed): exactly
 * what vppkit stored. vppkit's time is the one it reports (`--json` `millis`: from the command's start to its
 * end, the database opened and migrated included, Node's start-up and module loading not); the wall time
 * from spawn to exit is shown with it.
 *
 * Everything goes into a database of the item's own (`vppkit_bench_<random>` on `VPPKIT_BENCH_PG_URL`), a
 * schema per run, dropped at the end.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import * as os from "node:os"
import * as path from "node:path"
import { runCli, syncSummary } from "../internal/cli.js"
import { count, ms, perSecond, rate, ratio } from "../internal/format.js"
import { cliBin, rootDir, tmpDir } from "../internal/paths.js"
import * as Pg from "../internal/pg.js"
import { type Section, table } from "../internal/report.js"
import type { BenchServer } from "../internal/server.js"

export const records = Number(process.env["VPPKIT_BENCH_PG_RECORDS"] ?? 1_000_000)

const title = "PostgreSQL sync: vppkit vs the driver alone"

/** Rows per `unnest` statement of the baseline (vppkit writes 10,000 per statement). */
const unnestBatches = [10_000, 100_000] as const
const upsertLabel = "diagnostic: vppkit's unnest upsert alone (unnest + ON CONFLICT DO UPDATE, its path before COPY), 1,000 rows a statement"

/** Rows per chunk of COPY data sent. */
const copyChunk = 5_000

interface Row {
  readonly run: string
  readonly millis: number
  readonly wall?: number
  readonly rows: number
  readonly note: string
}

const load = () => os.loadavg()[0]!.toFixed(2)

const sqliteRows = (db: string): Promise<number> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const sql = yield* SqliteClient.SqliteClient
      const rows = yield* sql<{ n: number }>`SELECT count(*) AS n FROM assignments`
      return rows[0]?.n ?? 0
    }).pipe(Effect.provide(SqliteClient.layer({ filename: db, readonly: true })), Effect.scoped)
  )

const pgRows = (client: Pg.Client, schema: string): Promise<number> =>
  client.query<{ n: string }>(`SELECT count(*) AS n FROM ${Pg.quote(schema)}.assignments`).then((r) => Number(r.rows[0]?.n))

/** PostgreSQL's array type for a column's type, for `unnest`. */
const arrayType = (type: string): string => {
  switch (type) {
    case "text":
      return "text[]"
    case "bigint":
      return "bigint[]"
    case "integer":
      return "int[]"
    case "double precision":
      return "float8[]"
    default:
      throw new Error(`no array type known for column type ${type}`)
  }
}

export const run = async (server: BenchServer, log: (line: string) => void): Promise<Section> => {
  const loadStart = load()
  const rateFlag = ["--max-requests-per-second", "100000"]
  const syncArgs = (db: string) =>
    ["sync", "--db", db, "--resources", "assignments", "--token-file", server.tokenFile, "--base-url", server.baseUrl, "--json", ...rateFlag]
  const shown = (db: string) =>
    ["node", path.relative(rootDir, cliBin), `sync --db ${db} --resources assignments --token-file F --base-url U --json`, ...rateFlag].join(" ")

  return Pg.withFreshDatabase(async (database) => {
    const runs: Array<Row> = []
    let failures: Array<string> = []
    /** A vppkit sync into `db`; `rowsAfter` counts the rows it left. */
    const vppkit = async (name: string, db: string, rowsAfter: () => Promise<number>): Promise<Row> => {
      const result = await runCli(syncArgs(db))
      const summary = syncSummary(result)
      const rows = await rowsAfter().catch(() => Number.NaN)
      const resource = summary?.resources[0]
      const ok = result.exitCode === 0 && summary?.ok === true && resource?.records === records && rows === records
      if (!ok) {
        failures.push(
          `${name}: exit ${result.exitCode}, ${resource?.records ?? "no"} records reported, ${rows} rows (${
            summary?.error ?? result.stderr.split("\n").pop() ?? ""
          })`
        )
      }
      const row: Row = {
        run: name,
        millis: summary?.millis ?? Number.NaN,
        wall: result.millis,
        rows,
        note: resource === undefined
          ? `exit ${result.exitCode}`
          : `${resource.mode}, ${resource.pages} pages, ${resource.consistency}; the resource's own time ${ms(resource.millis)}`
      }
      log(`  ${name}: ${ms(row.millis)} in the process, ${ms(result.millis)} wall, ${count(rows)} rows, exit ${result.exitCode}`)
      runs.push(row)
      return row
    }

    return Pg.withClient(database, async (client) => {
      const pgRun = async (n: number) => {
        const schema = `vppkit_${n}`
        await client.query(`CREATE SCHEMA ${Pg.quote(schema)}`)
        return vppkit(`vppkit → PostgreSQL #${n}`, Pg.withSchema(database, schema), () => pgRows(client, schema))
      }
      const sqliteRun = (n: number) => {
        const file = path.join(tmpDir(), `pg-item-${n}.sqlite`)
        return vppkit(`vppkit → SQLite #${n}`, file, () => sqliteRows(file))
      }

      await pgRun(1)
      // The rows vppkit stored, column by column as the table has them: the baseline's data.
      const columns = (await client.query<{ column_name: string; data_type: string }>(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'vppkit_1' AND table_name = 'assignments' ORDER BY ordinal_position"
      )).rows
      if (columns.length === 0) throw new Error("vppkit's first sync left no assignments table: no baseline to measure")
      const names = columns.map((column) => Pg.quote(column.column_name)).join(", ")
      const data = (await client.query<Array<unknown>>({ text: `SELECT ${names} FROM vppkit_1.assignments`, rowMode: "array" })).rows
      log(`  read back ${count(data.length)} rows of ${columns.length} columns for the baseline`)

      let baselines = 0
      /** One baseline run into a fresh copy of vppkit's table (columns, primary key, indexes), in one transaction. */
      const baseline = async (name: string, insert: (target: string) => Promise<unknown>): Promise<Row> => {
        const schema = `baseline_${++baselines}`
        const target = `${Pg.quote(schema)}.assignments`
        await client.query(`CREATE SCHEMA ${Pg.quote(schema)}`)
        await client.query(`CREATE TABLE ${target} (LIKE vppkit_1.assignments INCLUDING ALL)`)
        const started = performance.now()
        await client.query("BEGIN")
        await insert(target)
        await client.query("COMMIT")
        const millis = performance.now() - started
        const rows = await pgRows(client, schema)
        if (rows !== data.length) failures.push(`${name}: ${rows} rows of ${data.length}`)
        await client.query(`DROP SCHEMA ${Pg.quote(schema)} CASCADE`)
        log(`  ${name}: ${ms(millis)}, ${count(rows)} rows`)
        const row: Row = { run: name, millis, rows, note: "" }
        runs.push(row)
        return row
      }
      const copy = (n: number) =>
        baseline(`driver: COPY FROM STDIN #${n}`, (target) =>
          Pg.copyFrom(client, `COPY ${target} (${names}) FROM STDIN`, function*() {
            for (let start = 0; start < data.length; start += copyChunk) {
              let text = ""
              for (let i = start; i < Math.min(data.length, start + copyChunk); i++) {
                const row = data[i]!
                for (let c = 0; c < row.length; c++) text += (c === 0 ? "" : "\t") + Pg.copyValue(row[c])
                text += "\n"
              }
              yield Buffer.from(text, "utf8")
            }
          }))
      const unnestText = (target: string) =>
        `INSERT INTO ${target} (${names}) SELECT * FROM unnest(${
          columns.map((column, i) => `$${i + 1}::${arrayType(column.data_type)}`).join(", ")
        })`
      const unnest = (batch: number, n: number) =>
        baseline(`driver: INSERT … SELECT FROM unnest, ${count(batch)} rows a statement #${n}`, async (target) => {
          const text = unnestText(target)
          for (let start = 0; start < data.length; start += batch) {
            const end = Math.min(data.length, start + batch)
            const arrays = columns.map((_, c) => {
              const values: Array<unknown> = []
              for (let i = start; i < end; i++) values.push(data[i]![c])
              return values
            })
            await client.query(text, arrays)
          }
        })

      // Diagnostic, not a baseline: vppkit's own statement (SqlSyncStore's `unnest` upsert, the location a
      // parameter, `ON CONFLICT … DO UPDATE`), a page of 1,000 rows a statement as the sync writes them.
      const upsertText = (target: string) => {
        const fields = columns.slice(2).map((column) => Pg.quote(column.column_name))
        return `INSERT INTO ${target} (${names}) SELECT $1::text, u.* FROM unnest(${
          columns.slice(1).map((column, i) => `$${i + 2}::${arrayType(column.data_type)}`).join(", ")
        }) AS u ON CONFLICT (${columns.slice(0, 2).map((column) => Pg.quote(column.column_name)).join(", ")}) DO UPDATE SET ${
          fields.map((field) => `${field} = excluded.${field}`).join(", ")
        }`
      }
      const upsert = (n: number) =>
        baseline(`${upsertLabel} #${n}`, async (target) => {
          const text = upsertText(target)
          for (let start = 0; start < data.length; start += 1000) {
            const end = Math.min(data.length, start + 1000)
            const arrays = columns.slice(1).map((_, c) => {
              const values: Array<unknown> = []
              for (let i = start; i < end; i++) values.push(data[i]![c + 1])
              return values
            })
            await client.query(text, [data[start]![0], ...arrays])
          }
        })

      // Interleaved, so that a change in the machine's load falls on every kind of run.
      await copy(1)
      await unnest(unnestBatches[0], 1)
      await unnest(unnestBatches[1], 1)
      await upsert(1)
      await pgRun(2)
      await copy(2)
      await unnest(unnestBatches[0], 2)
      await unnest(unnestBatches[1], 2)
      await upsert(2)
      data.length = 0
      await sqliteRun(1)
      await sqliteRun(2)

      const bestOf = (prefix: string) => Math.min(...runs.filter((r) => r.run.startsWith(prefix)).map((r) => r.millis))
      const vppkitPg = bestOf("vppkit → PostgreSQL")
      const vppkitSqlite = bestOf("vppkit → SQLite")
      const copyBest = bestOf("driver: COPY")
      const upsertBest = bestOf(upsertLabel)
      const unnestBest = unnestBatches.map((batch) => ({ batch, millis: bestOf(`driver: INSERT … SELECT FROM unnest, ${count(batch)} `) }))
      const fastestUnnest = unnestBest.reduce((a, b) => (b.millis < a.millis ? b : a))
      const baselineName = copyBest <= fastestUnnest.millis ? "COPY FROM STDIN" : `unnest, ${count(fastestUnnest.batch)} rows a statement`
      const baselineMillis = Math.min(copyBest, fastestUnnest.millis)
      const pgRate = perSecond(records, vppkitPg)
      const baselineRate = perSecond(records, baselineMillis)
      const share = pgRate / baselineRate
      const ok = failures.length === 0
      // What every run pays before its own time starts: Node starting and loading the CLI (best of 3).
      let startup = Infinity
      for (let i = 0; i < 3; i++) startup = Math.min(startup, (await runCli(["--version"])).millis)
      const loadEnd = load()
      failures = failures.slice(0, 10)
      return {
        id: "7",
        title,
        figures: [
          { label: `vppkit → PostgreSQL, full sync of ${count(records)} assignments (in the process)`, value: rate(pgRate, "rows") },
          { label: `driver alone, fastest: ${baselineName} (baseline)`, value: rate(baselineRate, "rows") },
          { label: "vppkit → PostgreSQL / baseline", value: ratio(share), goal: "≥ 0.5", met: ok && share >= 0.5 },
          { label: "driver: COPY FROM STDIN", value: rate(perSecond(records, copyBest), "rows") },
          ...unnestBest.map(({ batch, millis }) => ({
            label: `driver: INSERT … SELECT FROM unnest, ${count(batch)} rows a statement`,
            value: rate(perSecond(records, millis), "rows")
          })),
          { label: `${upsertLabel} (context)`, value: rate(perSecond(records, upsertBest), "rows") },
          { label: "vppkit → SQLite, same sync (in the process)", value: rate(perSecond(records, vppkitSqlite), "rows") },
          { label: "start-up of a CLI run (`vppkit --version`, best of 3), not in the times above (context)", value: ms(startup) },
          { label: "every run left every row", value: ok ? "yes" : `no: ${failures.join("; ")}`, goal: "yes", met: ok }
        ],
        details: [
          `The simulator holds ${count(records)} assignments in pages of 1000, no latency, no enforced rate limit. ` +
          `Command: \`${shown("postgres://…/vppkit_bench_<random>?options=-c search_path=vppkit_N")}\` into an empty schema of a ` +
          `database of the item's own, and the same with \`--db\` a fresh SQLite file. vppkit's time is the run's \`millis\` ` +
          "from its `--json` summary: from the command's start to its end (database opened and migrated, every page " +
          "fetched over HTTP, decoded and written, committed), without Node's start-up; the wall time from spawn to exit is shown beside it.",
          "The baseline is the same rows, read back from vppkit's first table before it runs (not timed), inserted with " +
          "`pg` (node-postgres, the driver under `@effect/sql-pg`) into an empty copy of that table " +
          "(`CREATE TABLE … (LIKE vppkit_1.assignments INCLUDING ALL)`: its columns, primary key and indexes) in one " +
          "transaction, timed from `BEGIN` to `COMMIT` with the text or the arrays built from the rows in memory: " +
          `\`COPY … FROM STDIN\` (text format, ${count(copyChunk)} rows a chunk of copy data), and a plain ` +
          "`INSERT INTO t (…) SELECT * FROM unnest($1::text[], …)` per batch, with no `ON CONFLICT` (the table is empty). " +
          "vppkit's full pass into an empty partition copies its pages with `COPY … FROM STDIN` (pg-copy-streams), 10,000 rows " +
          "a statement, each in a savepoint (a key delivered twice sends the rest of the pass through a staging table and " +
          "`INSERT … SELECT DISTINCT ON … ON CONFLICT DO UPDATE`; packages/sync/src/SqlSyncStore.ts). Its incremental syncs, and " +
          "its full syncs before this, write one `unnest` statement per page of 1,000 records with the location as one parameter " +
          "and `ON CONFLICT (location_uid, natural_key) DO UPDATE`; the diagnostic run sends that statement alone, the same way. " +
          "The baseline does none of vppkit's other work — HTTP, JSON, Schema decoding — so the ratio is the share of " +
          "the database's own speed that a sync from the API keeps.",
          `Load average (1 min) at the item's start / end: ${loadStart} / ${loadEnd}.`,
          table(
            ["run", "time", "rows/s", "wall from spawn", "rows in the table after", "note"],
            runs.map((r) => [
              r.run,
              ms(r.millis),
              rate(perSecond(records, r.millis), "rows"),
              r.wall === undefined ? "—" : ms(r.wall),
              count(r.rows),
              r.note
            ])
          )
        ]
      }
    })
  })
}
