/**
 * Item 8 — many locations into one PostgreSQL database: 100 libraries (`VPPKIT_BENCH_LOCATIONS`) of 10,000
 * assignments each (`VPPKIT_BENCH_LOCATION_RECORDS`), each synced by a process of the built CLI,
 *
 *     node packages/cli/dist/vppkit.js sync --db postgres://… --resources assignments --token-file Fi --base-url Ui --json …
 *
 * 5 at a time (`VPPKIT_BENCH_LOCATION_CONCURRENCY`), into one database; the total wall time against 100 × the
 * wall time of one location's sync alone, measured in the same run (best of 3, three other locations into a
 * schema of their own). Every library is a simulator of its own (seed i: its own `uId`, token and records),
 * all served from one process on ports of their own (`librariesProcess.ts`). Afterwards the database must
 * hold every location with every one of its assignments.
 */
import * as os from "node:os"
import * as path from "node:path"
import { type CliRun, runCli, type SyncSummary, syncSummary } from "../internal/cli.js"
import { count, ms, ratio } from "../internal/format.js"
import { cliBin, rootDir } from "../internal/paths.js"
import * as Pg from "../internal/pg.js"
import { type Section, table } from "../internal/report.js"
import { startLibraries } from "../internal/server.js"

const envNumber = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`)
  return value
}

const title = (concurrency: number) => `Many locations: syncs into one PostgreSQL database, ${concurrency} at a time`

const load = () => os.loadavg()[0]!.toFixed(2)

/** Single-location runs whose best is "one location's time". */
const singles = 3

interface Synced {
  readonly location: number
  readonly run: CliRun
  readonly summary: SyncSummary | undefined
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

export const run = async (log: (line: string) => void): Promise<Section> => {
  const locations = envNumber("VPPKIT_BENCH_LOCATIONS", 100)
  const perLocation = envNumber("VPPKIT_BENCH_LOCATION_RECORDS", 10_000)
  const concurrency = envNumber("VPPKIT_BENCH_LOCATION_CONCURRENCY", 5)
  log(`  starting ${locations + singles} simulators of ${count(perLocation)} assignments each`)
  const served = await startLibraries(locations + singles, { records: { assignments: perLocation }, pageSize: 1000 })
  try {
    return await Pg.withFreshDatabase(async (database) => {
      const loadStart = load()
      const rateFlag = ["--max-requests-per-second", "100000"]
      const sync = async (library: number, schema: string): Promise<Synced> => {
        const { baseUrl, tokenFile } = served.libraries[library]!
        const result = await runCli([
          "sync",
          "--db",
          Pg.withSchema(database, schema),
          "--resources",
          "assignments",
          "--token-file",
          tokenFile,
          "--base-url",
          baseUrl,
          "--json",
          "--quiet",
          ...rateFlag
        ])
        return { location: library + 1, run: result, summary: syncSummary(result) }
      }
      await Pg.withClient(database, async (client) => {
        await client.query("CREATE SCHEMA single")
        await client.query("CREATE SCHEMA many")
      })

      // One location's sync alone: the last libraries (not among the many), one after the other, into a schema of their own.
      const alone: Array<Synced> = []
      for (let i = 0; i < singles; i++) {
        const synced = await sync(locations + i, "single")
        log(`  one location alone (#${synced.location}): ${ms(synced.run.millis)} wall, exit ${synced.run.exitCode}`)
        alone.push(synced)
      }

      // Every location into one schema, `concurrency` processes at a time.
      const many: Array<Synced> = []
      let next = 0
      const started = performance.now()
      await Promise.all(Array.from({ length: Math.min(concurrency, locations) }, async () => {
        while (next < locations) {
          const library = next++
          many.push(await sync(library, "many"))
        }
      }))
      const total = performance.now() - started
      log(`  ${locations} locations, ${concurrency} at a time: ${ms(total)}`)

      // What the database holds afterwards: every location, every assignment of each.
      const held = await Pg.withClient(database, async (client) => ({
        perLocation: (await client.query<{ location_uid: string; n: string }>(
          "SELECT location_uid, count(*) AS n FROM many.assignments GROUP BY location_uid"
        )).rows.map((row) => Number(row.n)),
        locations: Number((await client.query<{ n: string }>("SELECT count(*) AS n FROM many.locations")).rows[0]?.n)
      }))
      const failed = [...alone, ...many].filter((s) =>
        s.run.exitCode !== 0 || s.summary?.ok !== true || s.summary.resources[0]?.records !== perLocation
      )
      const complete = held.perLocation.length === locations && held.locations === locations &&
        held.perLocation.every((n) => n === perLocation)
      const ok = complete && failed.length === 0
      const loadEnd = load()

      const single = Math.min(...alone.map((s) => s.run.millis))
      const sequential = locations * single
      const share = total / sequential
      const inProcess = (s: Synced) => s.summary?.millis ?? Number.NaN
      const walls = many.map((s) => s.run.millis)
      const shown = [
        "node",
        path.relative(rootDir, cliBin),
        "sync --db postgres://…/vppkit_bench_<random>?options=-c search_path=many --resources assignments --token-file Fi --base-url Ui --json --quiet",
        ...rateFlag
      ].join(" ")
      const heldText = `${count(held.locations)} locations; ${count(held.perLocation.length)} with rows, ${
        count(held.perLocation.filter((n) => n === perLocation).length)
      } of them with ${count(perLocation)} assignments (${count(held.perLocation.reduce((a, b) => a + b, 0))} rows)`
      return {
        id: "8",
        title: title(concurrency),
        figures: [
          { label: `${count(locations)} locations × ${count(perLocation)} assignments, ${concurrency} at a time, wall`, value: ms(total) },
          { label: `${count(locations)} × one location's sync alone (best of ${singles}: ${ms(single)})`, value: ms(sequential) },
          { label: `${concurrency} at a time / one after the other (lower is better)`, value: ratio(share) },
          {
            label: "the database afterwards",
            value: heldText,
            goal: `${count(locations)} locations × ${count(perLocation)}`,
            met: ok
          }
        ],
        details: [
          `${count(locations + singles)} simulators in one process, each a library of its own (seeds 1 to ${
            count(locations + singles)
          }: its own uId, token and ${count(perLocation)} assignments in pages of 1000), each on a port of its own on ` +
          `127.0.0.1, no latency, no enforced rate limit. Command, per location: \`${shown}\`. ` +
          `First libraries ${count(locations + 1)} to ${count(locations + singles)}, one after the other, into a schema ` +
          `of their own ("one location alone"); then libraries 1 to ${count(locations)}, ${concurrency} processes at a time ` +
          "(the next starts when one ends), into one empty schema of a database of the item's own, timed from the " +
          "first spawn to the last exit. Each time is from spawn to exit: Node's start-up and module loading count, " +
          "as they do for a script that syncs its locations.",
          `On this 2-core machine the CLI processes, PostgreSQL and the simulators share two cores: ${concurrency} at a time ` +
          `can at best take a ${concurrency}th of the time where a run waits (on the network, the database, its start-up) ` +
          "rather than computes.",
          `Load average (1 min) at the item's start / end: ${loadStart} / ${loadEnd}.`,
          table(["runs", "wall", "in the process (`--json` millis)", "exit codes", "records each (summary)"], [
            [
              `one location alone (#${alone.map((s) => s.location).join(", #")})`,
              alone.map((s) => ms(s.run.millis)).join(", "),
              alone.map((s) => ms(inProcess(s))).join(", "),
              alone.map((s) => String(s.run.exitCode)).join(", "),
              alone.map((s) => count(s.summary?.resources[0]?.records ?? 0)).join(", ")
            ],
            [
              `${count(locations)} locations, ${concurrency} at a time`,
              `total ${ms(total)}; each: median ${ms(median(walls))}, max ${ms(Math.max(...walls))}`,
              `median ${ms(median(many.map(inProcess)))}, max ${ms(Math.max(...many.map(inProcess)))}`,
              [...new Set(many.map((s) => String(s.run.exitCode)))].join(", "),
              [...new Set(many.map((s) => count(s.summary?.resources[0]?.records ?? 0)))].join(", ")
            ]
          ]),
          failed.length === 0
            ? `Every run exited 0 and reported ${count(perLocation)} records. The database afterwards: ${heldText}.`
            : `**${failed.length} runs failed**: ${
              failed.slice(0, 5).map((s) => `#${s.location} exit ${s.run.exitCode} (${s.summary?.error ?? s.run.stderr.split("\n").pop() ?? ""})`)
                .join("; ")
            }. The database afterwards: ${heldText}.`
        ]
      }
    })
  } finally {
    await served.stop()
  }
}
