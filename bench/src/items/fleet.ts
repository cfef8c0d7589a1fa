/**
 * Item 10 — `vppkit fleet` with 1, 2 and 3 runners (issue 16, "Benchmark and scale model"): locations synced per
 * minute by real processes of the built CLI on this machine,
 *
 *     node packages/cli/dist/vppkit.js fleet run --db postgres://… --base-url U --listen 127.0.0.1:0
 *
 * sharing one PostgreSQL database of the item's own, over 48 locations (`VPPKIT_BENCH_FLEET_LOCATIONS`) served by
 * simulators in one process behind one port (each request answered by the library whose sToken it carries), every
 * response 300 ms late (`VPPKIT_BENCH_FLEET_LATENCY_MS`: Apple's own latency is of that order; at 100 ms the runners
 * were bound by this 2-core machine's CPU, not by latency, and more runners could not show anything). The tokens are stored as `vppkit fleet add` stores them.
 * `VPPKIT_FLEET_INCREMENTAL_CRON` makes every location due every second, so the schedule's pool is never idle, and
 * `VPPKIT_FLEET_POLL_MILLIS` lets the runners see each tick (the test's settings, fleetCluster.test.ts).
 *
 * Each phase (1, then 2, then 3 runners, the same database and locations) starts its runners, waits until they have
 * joined and every location has synced since (warm-up: the first phase's first syncs are full), then counts the
 * syncs that finished in a window of 20 s (`VPPKIT_BENCH_FLEET_WINDOW_SECONDS`), and stops the runners (SIGTERM).
 * The syncs are counted in the database: a trigger of the item's own copies every row the entities write to
 * `vppkit_fleet_outcomes` (one row per location, replaced after each sync: what `fleet status` reads) into a log.
 */
import * as FleetKey from "@vppkit/fleet/FleetKey"
import * as TokenStore from "@vppkit/fleet/TokenStore"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { machineCpu, processCpuMillis } from "../internal/cpu.js"
import { count, ms, ratio } from "../internal/format.js"
import { cliBin, rootDir, tmpDir } from "../internal/paths.js"
import * as Pg from "../internal/pg.js"
import { type Section, table } from "../internal/report.js"
import { startLibraries } from "../internal/server.js"

const envNumber = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`)
  return value
}

const title = "Fleet: locations synced per minute with 1, 2 and 3 runners"

const load = () => os.loadavg()[0]!.toFixed(2)

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** Each runner's pool of incremental syncs (`Location.defaultIncrementalConcurrency`; `fleet run` sets no other). */
const incrementalPool = 16

/** The phases: runners in each (`VPPKIT_BENCH_FLEET_RUNNERS`, default 1,2,3; the ratios are to the first). */
const runnerCounts = (process.env["VPPKIT_BENCH_FLEET_RUNNERS"] ?? "1,2,3").split(",").map(Number)

/** The log of every outcome the entities write, filled by a trigger on the fleet's table. */
const logTable = "vppkit_bench_runs"

const createLog = `
CREATE TABLE ${logTable} (uid text NOT NULL, full_sync integer NOT NULL, result text NOT NULL, started_at text NOT NULL,
  finished_at text NOT NULL, millis integer NOT NULL, outcome text NOT NULL);
CREATE FUNCTION vppkit_bench_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ${logTable} VALUES (NEW.uid, NEW.full_sync, NEW.result, NEW.started_at, NEW.finished_at, NEW.millis, NEW.outcome);
  RETURN NULL;
END $$;
CREATE TRIGGER vppkit_bench_log AFTER INSERT OR UPDATE ON vppkit_fleet_outcomes FOR EACH ROW EXECUTE FUNCTION vppkit_bench_log();`

interface Runner {
  readonly child: ChildProcess
  /** Its address, once it has joined the cluster. */
  readonly joined: Promise<string>
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  /** The end of its stderr (its last lines, for a failure's message). */
  readonly tail: () => string
  /** The lines it wrote that say a sync failed or a slot overran (`Schedules.Event`). */
  readonly failures: () => number
  readonly overruns: () => number
}

/** `VPPKIT_BENCH_FLEET_LOG_DIR`: each runner's whole stderr is also written there (`runner-<pid>.log`), to look into a phase. */
const logDir = process.env["VPPKIT_BENCH_FLEET_LOG_DIR"]

/** `VPPKIT_BENCH_FLEET_RUNNER_ARGS`: more flags for each runner, e.g. `--log-level debug` (with the log directory). */
const extraArgs = (process.env["VPPKIT_BENCH_FLEET_RUNNER_ARGS"] ?? "").split(" ").filter((arg) => arg !== "")

const startRunner = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>): Runner => {
  const child = spawn(process.execPath, [cliBin, ...args], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } })
  if (logDir !== undefined) {
    fs.mkdirSync(logDir, { recursive: true })
    child.stderr!.pipe(fs.createWriteStream(path.join(logDir, `runner-${child.pid}.log`)))
  }
  let tail = ""
  let partial = ""
  let failures = 0
  let overruns = 0
  let onJoined: (address: string) => void = () => {}
  let onFailed: (error: Error) => void = () => {}
  const joined = new Promise<string>((resolve, reject) => {
    onJoined = resolve
    onFailed = reject
  })
  // (a rejection nobody waits for yet is not unhandled: the phase awaits it)
  joined.catch(() => {})
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    tail = (tail + text).slice(-4000)
    const lines = (partial + text).split("\n")
    partial = lines.pop() ?? ""
    for (const line of lines) {
      const address = /fleet runner (\S+) joined the cluster/.exec(line)
      if (address !== null) onJoined(address[1]!)
      if (/: failed: /.test(line)) failures++
      if (/ has not finished /.test(line)) overruns++
    }
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("close", (code, signal) => {
      onFailed(new Error(`a fleet runner exited before joining (code ${code}, signal ${signal}): ${tail}`))
      resolve({ code, signal })
    })
  })
  return { child, joined, exited, tail: () => tail, failures: () => failures, overruns: () => overruns }
}

/** SIGTERM, then SIGKILL after 30 s; answers how it ended. */
const stopRunner = async (runner: Runner) => {
  runner.child.kill("SIGTERM")
  const timer = setTimeout(() => runner.child.kill("SIGKILL"), 30_000)
  try {
    return await runner.exited
  } finally {
    clearTimeout(timer)
  }
}

interface Window {
  readonly syncs: number
  readonly failed: number
  readonly full: number
  readonly locations: number
  readonly meanMillis: number
  readonly maxMillis: number
  readonly sumMillis: number
  /** Requests per sync, mean: Client Config and each resource's pages (retries not counted). */
  readonly requests: number
}

interface Phase {
  readonly runners: number
  /** From the first spawn to the last runner's "joined the cluster". */
  readonly joinMillis: number
  /** From the last join until every location had synced since. */
  readonly warmUpMillis: number
  readonly windowMillis: number
  readonly window: Window
  readonly perMinute: number
  /** Each runner's CPU time in the window (ms). */
  readonly runnerCpu: ReadonlyArray<number>
  readonly simulatorCpu: number
  /** The machine's busy share in the window (all processes, other sessions' too). */
  readonly machineBusy: number
  readonly failures: number
  readonly overruns: number
  readonly exits: ReadonlyArray<string>
  readonly loadStart: string
  readonly loadEnd: string
}

export const run = async (log: (line: string) => void): Promise<Section> => {
  const locations = envNumber("VPPKIT_BENCH_FLEET_LOCATIONS", 48)
  const latency = envNumber("VPPKIT_BENCH_FLEET_LATENCY_MS", 300)
  const windowSeconds = envNumber("VPPKIT_BENCH_FLEET_WINDOW_SECONDS", 20)
  const loadStart = load()
  log(`  starting ${locations} simulators behind one port, ${latency} ms of latency`)
  const served = await startLibraries(locations, { latency: `${latency} millis` }, { routed: true })
  const key = crypto.randomBytes(32)
  const keyFile = path.join(tmpDir(), "fleet.key")
  fs.writeFileSync(keyFile, key, { mode: 0o600 })
  const baseUrl = served.libraries[0]!.baseUrl
  try {
    return await Pg.withFreshDatabase(async (database) => {
      // the tokens, stored as `vppkit fleet add` stores them (sealed with the key; the command itself is tested in
      // packages/cli/test/fleet.test.ts, and a process per token would take longer than the item's phases)
      const addStarted = performance.now()
      await Effect.runPromise(Effect.gen(function*() {
        const store = yield* TokenStore.TokenStore
        for (const [i, library] of served.libraries.entries()) {
          yield* store.add({
            token: Redacted.make(fs.readFileSync(library.tokenFile, "utf8").trim()),
            name: `bench-${i + 1}`,
            uId: library.uId
          })
        }
      }).pipe(
        Effect.provide(TokenStore.layer.pipe(Layer.provideMerge(Layer.merge(NodeDatabase.layer(database), FleetKey.layer(key))))),
        Effect.scoped
      ))
      const addMillis = performance.now() - addStarted
      log(`  ${locations} tokens stored in ${ms(addMillis)}`)
      await Pg.withClient(database, (client) => client.query(createLog))

      const env = {
        VPPKIT_FLEET_KEY_FILE: keyFile,
        VPPKIT_FLEET_POLL_MILLIS: "200",
        VPPKIT_FLEET_INCREMENTAL_CRON: "* * * * * *"
      }
      const runArgs = ["fleet", "run", "--db", database, "--base-url", baseUrl, "--listen", "127.0.0.1:0", ...extraArgs]

      const phases: Array<Phase> = []
      const beforeAll = new Date(0).toISOString()
      await Pg.withClient(database, async (client) => {
        const syncedSince = async (since: string) =>
          Number(
            (await client.query<{ n: string }>(
              `SELECT count(DISTINCT uid) AS n FROM ${logTable} WHERE result = 'synced' AND started_at::timestamptz > $1::timestamptz`,
              [since]
            )).rows[0]?.n
          )
        const windowOf = async (from: string, to: string): Promise<Window> => {
          const row = (await client.query<Record<string, string | null>>(
            `SELECT count(DISTINCT (uid, started_at)) FILTER (WHERE result = 'synced') AS syncs,
                    count(DISTINCT (uid, started_at)) FILTER (WHERE result <> 'synced') AS failed,
                    count(DISTINCT (uid, started_at)) FILTER (WHERE result = 'synced' AND full_sync = 1) AS full,
                    count(DISTINCT uid) FILTER (WHERE result = 'synced') AS locations,
                    avg(millis) FILTER (WHERE result = 'synced') AS mean, max(millis) AS max, sum(millis) AS sum,
                    avg(1 + (SELECT sum((r ->> 'pages')::int) FROM json_array_elements(outcome::json -> 'resources') AS r))
                      FILTER (WHERE result = 'synced') AS requests
               FROM ${logTable} WHERE finished_at::timestamptz > $1::timestamptz AND finished_at::timestamptz <= $2::timestamptz`,
            [from, to]
          )).rows[0]!
          return {
            syncs: Number(row["syncs"]),
            failed: Number(row["failed"]),
            full: Number(row["full"]),
            locations: Number(row["locations"]),
            meanMillis: Number(row["mean"] ?? Number.NaN),
            maxMillis: Number(row["max"] ?? Number.NaN),
            sumMillis: Number(row["sum"] ?? 0),
            requests: Number(row["requests"] ?? Number.NaN)
          }
        }

        for (const k of runnerCounts) {
          const phaseLoad = load()
          const spawned = performance.now()
          const runners = Array.from({ length: k }, () => startRunner(runArgs, env))
          try {
            await Promise.race([
              Promise.all(runners.map((r) => r.joined)),
              sleep(90_000).then(() => {
                throw new Error(`${k} runner(s) did not join within 90 s: ${runners.map((r) => r.tail().slice(-1000)).join("\n---\n")}`)
              })
            ])
            const joinMillis = performance.now() - spawned
            const joinedAt = new Date().toISOString()
            const warmStart = performance.now()
            // warm-up: every location synced at least once (the first phase's first syncs are full), and 5 s since the
            // last runner joined (the shards settled among the runners)
            for (let i = 0; (await syncedSince(beforeAll)) < locations || performance.now() - warmStart < 5000; i++) {
              if (i > 480) {
                const missing = (await client.query<{ uid: string }>(
                  `SELECT DISTINCT uid FROM ${logTable} EXCEPT SELECT uid FROM ${logTable} WHERE result = 'synced'`
                )).rows.map((row) => row.uid)
                throw new Error(
                  `${k} runner(s): not every location synced within 120 s of their join (${joinedAt}); never synced: ${missing.join(", ")}\n${
                    runners.map((r) => r.tail().slice(-1500)).join("\n---\n")
                  }`
                )
              }
              await sleep(250)
            }
            const warmUpMillis = performance.now() - warmStart
            log(`  ${k} runner(s): joined in ${ms(joinMillis)}, every location synced ${ms(warmUpMillis)} later; measuring ${windowSeconds} s`)

            const cpuOf = () => runners.map((r) => processCpuMillis(r.child.pid!) ?? Number.NaN)
            const from = new Date().toISOString()
            const t0 = performance.now()
            const [cpu0, sim0, machine0] = [cpuOf(), processCpuMillis(served.pid) ?? Number.NaN, machineCpu()]
            const [fail0, over0] = [runners.reduce((s, r) => s + r.failures(), 0), runners.reduce((s, r) => s + r.overruns(), 0)]
            await sleep(windowSeconds * 1000)
            const to = new Date().toISOString()
            const windowMillis = performance.now() - t0
            const [cpu1, sim1, machine1] = [cpuOf(), processCpuMillis(served.pid) ?? Number.NaN, machineCpu()]
            const failures = runners.reduce((s, r) => s + r.failures(), 0) - fail0
            const overruns = runners.reduce((s, r) => s + r.overruns(), 0) - over0
            // the syncs that finish within a second of the window's end are written by then
            await sleep(1000)
            const window = await windowOf(from, to)
            const exits = await Promise.all(runners.map(stopRunner))
            const phase: Phase = {
              runners: k,
              joinMillis,
              warmUpMillis,
              windowMillis,
              window,
              perMinute: (window.syncs / windowMillis) * 60_000,
              runnerCpu: cpu1.map((c, i) => c - cpu0[i]!),
              simulatorCpu: sim1 - sim0,
              machineBusy: machine0 === undefined || machine1 === undefined
                ? Number.NaN
                : (machine1.busy - machine0.busy) / (machine1.total - machine0.total),
              failures,
              overruns,
              exits: exits.map((e) => (e.signal === null ? `exit ${e.code}` : e.signal)),
              loadStart: phaseLoad,
              loadEnd: load()
            }
            log(
              `  ${k} runner(s): ${count(window.syncs)} syncs in ${ms(windowMillis)} (${phase.perMinute.toFixed(0)}/min), ` +
                `mean ${ms(window.meanMillis)}; runners' CPU ${phase.runnerCpu.map((c) => ms(c)).join(" + ")}; machine ${
                  (100 * phase.machineBusy).toFixed(0)
                } % busy; ${phase.exits.join(", ")}`
            )
            phases.push(phase)
          } finally {
            for (const runner of runners) if (runner.child.exitCode === null && runner.child.signalCode === null) runner.child.kill("SIGKILL")
          }
        }
      })

      const one = phases[0]!
      const ok = phases.every((p) =>
        p.window.syncs > 0 && p.window.failed === 0 && p.failures === 0 && p.exits.every((e) => e === "exit 0")
      )
      const cores = os.availableParallelism()
      const cpuPerSync = (p: Phase) => p.runnerCpu.reduce((a, b) => a + b, 0) / Math.max(1, p.window.syncs)
      // Little's law: the syncs running at once, on average, over the window
      const inFlight = (p: Phase) => p.window.sumMillis / p.windowMillis
      const shown = [
        "node",
        path.relative(rootDir, cliBin),
        "fleet run --db postgres://…/vppkit_bench_<random> --base-url U --listen 127.0.0.1:0"
      ].join(" ")
      return {
        id: "10",
        title,
        figures: [
          ...phases.map((p) => ({
            label: `${p.runners} runner${p.runners === 1 ? "" : "s"}: locations synced per minute (${count(locations)} locations, ${latency} ms latency)`,
            value: `${count(Math.round(p.perMinute))}/min`
          })),
          ...phases.slice(1).map((p) => ({
            label: `${p.runners} runners / 1 runner`,
            value: ratio(p.perMinute / one.perMinute),
            goal: "informational (no target)"
          })),
          {
            label: "every sync in the windows succeeded; every runner stopped with exit 0",
            value: ok ? "yes" : "no",
            goal: "yes",
            met: ok
          }
        ],
        details: [
          `${count(locations)} libraries (simulator seeds 1 to ${count(locations)}: each its own uId, token, 20 assets, ` +
          "100 users, 500 assignments, 12 subscriptions with 40 assignments and 6 admins, and the v1 licences and users, " +
          `pages of 1000) in one process behind one port on 127.0.0.1, each request answered by the library whose sToken ` +
          `it carries, every response ${latency} ms late, no enforced rate limit. Their tokens stored in the database as ` +
          `\`vppkit fleet add\` stores them (\`TokenStore\`, sealed with the fleet's key; ${ms(addMillis)} for all). ` +
          `Runner command: \`${shown}\` with \`VPPKIT_FLEET_INCREMENTAL_CRON="* * * * * *"\` (every location due every ` +
          "second: a location whose sync is still running or waiting is an overrun, and the pool is never idle) and " +
          "`VPPKIT_FLEET_POLL_MILLIS=200` (the test's settings); the full pass is not due (02:00 UTC). One database of the " +
          "item's own, the same through the three phases; each phase starts its runners at once, waits until they have " +
          "joined and every location has synced since (warm-up), counts the syncs that finish in a window of " +
          `${windowSeconds} s, then stops its runners with SIGTERM. A sync is counted from the database: a trigger of the ` +
          "item's own logs every row the `Location` entities write to `vppkit_fleet_outcomes` (the table `fleet status` " +
          "reads: one row per location, replaced after each sync); the figure is the distinct (location, start) of the " +
          "synced rows whose `finished_at` falls in the window.",
          `**What bounds it.** Each tick of a \`ClusterCron\` is a message to an entity named by the tick's time, so ` +
          "each tick runs on whichever runner owns that name's shard; it sends each due location its slot (a " +
          "`Scheduled` message to the location's entity), and the runner that owns the location runs it in its own pool " +
          `(${incrementalPool} incremental syncs at once per runner, its database pool a connection for each and two more). ` +
          `With one runner the fleet runs at most ${incrementalPool} syncs at once; with k runners, up to ${incrementalPool} × k, ` +
          "each runner its own locations'. Every location is due every second here, so a location's next slot nearly " +
          "always finds its previous sync running or waiting for its runner's pool: its entity (one owner in the cluster) " +
          "answers an overrun at once (the \"overrun slots\" column), and the pools are never idle. When the latency " +
          "binds, the rate is the syncs at once / the time per sync, and the time per sync is its round trips " +
          "(\"latency-bound time\": requests per sync × the latency, the resources running one after another): more " +
          `runners then sync more locations a minute, up to the ${count(locations)} locations. When the CPU binds, the ` +
          "time per sync grows with the syncs at once and the rate stays where the CPU puts it. \"Syncs at once\" is " +
          "Little's law (the sum of the window's sync times / the window); \"machine busy\" counts every process on the " +
          `${cores} cores — the runners, PostgreSQL, the simulators, and the other sessions sharing the machine.`,
          `Load average (1 min) at the item's start / end: ${loadStart} / ${load()}.`,
          table(
            [
              "runners",
              "joined; warm-up",
              "syncs in the window (full)",
              "per minute",
              "vs 1 runner",
              "time per sync, mean / max",
              "requests per sync; latency-bound time",
              "syncs at once (Little)",
              "runners' CPU in the window",
              "runner CPU per sync",
              "simulators' CPU",
              "machine busy",
              "overrun slots; failures",
              "load at start / end",
              "stopped"
            ],
            phases.map((p) => [
              String(p.runners),
              `${ms(p.joinMillis)}; ${ms(p.warmUpMillis)}`,
              `${count(p.window.syncs)} in ${ms(p.windowMillis)} (${count(p.window.full)}), ${count(p.window.locations)} locations`,
              count(Math.round(p.perMinute)),
              ratio(p.perMinute / one.perMinute),
              `${ms(p.window.meanMillis)} / ${ms(p.window.maxMillis)}`,
              `${p.window.requests.toFixed(1)}; ${ms(p.window.requests * latency)}`,
              inFlight(p).toFixed(1),
              `${p.runnerCpu.map((c) => ms(c)).join(" + ")} (${(p.runnerCpu.reduce((a, b) => a + b, 0) / p.windowMillis).toFixed(2)} cores)`,
              ms(cpuPerSync(p)),
              `${ms(p.simulatorCpu)} (${(p.simulatorCpu / p.windowMillis).toFixed(2)} cores)`,
              `${(100 * p.machineBusy).toFixed(0)} % of ${cores} cores`,
              `${count(p.overruns)}; ${count(p.failures + p.window.failed)}`,
              `${p.loadStart} / ${p.loadEnd}`,
              p.exits.join(", ")
            ])
          )
        ]
      }
    })
  } finally {
    await served.stop()
  }
}
