import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freshDatabase, serverUrl } from "../../node/test/support/postgres.js"
import { temporaryDirectory } from "./helpers/cli.js"
import { assertBuilt, assertFailure, run, start } from "./support/bin.js"
import { isData, isoNow, locations, makeFleet } from "./support/fleet.js"

/**
 * `vppkit fleet run` on many runners (PostgreSQL): the built CLI's runners on loopback share one database (a
 * database of the test's own: the cluster's shard locks are advisory locks of the database), 30 locations (6 of
 * them with two tokens of their library) served by simulators with random faults behind one base URL per runner
 * (so each request is known to come from its runner). 3 runners sync every location to equality; one is killed
 * (`kill -9`) in the middle of syncs and its locations finish on the others; a 4th runner joins and takes shards
 * over; one runner's PostgreSQL sessions are terminated in the middle of syncs; each time every location reaches
 * equality with its simulator again. Throughout, no location is ever synced by two runners at once (the requests
 * each runner sent for it never overlap, nor interleave) and no library has more than 5 requests in flight.
 */

describe("vppkit fleet run --listen/--advertise", () => {
  it.live("bad values, bad schedules and SQLite are usage errors: one line, exit 2, before any database is opened", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const pg = "postgres://nobody@127.0.0.1:1/none"
      for (
        const [args, pattern] of [
          [["--db", pg, "--listen", "nowhere"], /--listen "nowhere": expected HOST:PORT/],
          [["--db", pg, "--listen", "127.0.0.1:70000"], /--listen "127.0.0.1:70000"/],
          [["--db", pg, "--advertise", ":34431"], /--advertise ":34431": expected HOST:PORT.*other machines reach/],
          [["--db", pg, "--advertise", "runner1:0"], /--advertise "runner1:0"/],
          [["--db", "fleet.sqlite", "--listen", "127.0.0.1:0"], /--listen needs a PostgreSQL --db/]
        ] as const
      ) {
        assert.match(assertFailure(yield* run(["fleet", "run", ...args]), 2, args), pattern)
      }
      // the schedule's flags, on SQLite: the database is not created
      const sqliteFile = path.join(os.tmpdir(), `vppkit-fleet-flags-${crypto.randomBytes(6).toString("hex")}.sqlite`)
      for (
        const [args, pattern] of [
          [["--every", "90"], /^vppkit: fleet run: --every must be whole minutes from 1 to 59, or a multiple of 60 up to 1440, not 90$/],
          [["--full-cron", "0 25 * * *"], /^vppkit: fleet run: the cron expression "0 25 \* \* \*" \(--full-cron\) is invalid/],
          [["--full-window", "0"], /^vppkit: fleet run: the full pass's window in minutes \(--full-window\) must be a whole number from 1 to 1440, not 0$/],
          [["--incremental-concurrency", "0"], /\(--incremental-concurrency\) must be a whole number from 1 to 10000, not 0$/],
          [["--full-concurrency", "-2"], /\(--full-concurrency\) must be a whole number from 1 to 10000, not -2$/]
        ] as const
      ) {
        const stderr = assertFailure(yield* run(["fleet", "run", "--db", sqliteFile, ...args]), 2, args)
        assert.match(stderr.trim(), pattern)
      }
      assert.isFalse(fs.existsSync(sqliteFile))
    }), 60_000)
})

describe.skipIf(serverUrl === undefined)("vppkit fleet run: many runners on one PostgreSQL database", () => {
  it.scopedLive("a runner whose pools could open more connections than the server allows says so at start, and runs", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const db = yield* Effect.orDie(freshDatabase(serverUrl!))
      const directory = yield* temporaryDirectory
      const keyFile = path.join(directory, "fleet.key")
      fs.writeFileSync(keyFile, crypto.randomBytes(32), { mode: 0o600 })
      // 200 + 4 scheduled syncs at once: a pool of 206, the cluster's 4 and the runner lock's 1
      const runner = yield* start(["fleet", "run", "--db", db, "--listen", "127.0.0.1:0", "--incremental-concurrency", "200"], {
        env: { VPPKIT_FLEET_KEY_FILE: keyFile }
      })
      for (let i = 0; !/joined the cluster/.test((yield* runner.output).stderr); i++) {
        if (i > 1500 || runner.child.exitCode !== null) assert.fail(`the runner did not start: ${(yield* runner.output).stderr}`)
        yield* Effect.sleep("20 millis")
      }
      const { stderr } = yield* runner.output
      assert.match(
        stderr,
        /^warning: 1 runner\(s\) of up to 211 PostgreSQL connections each( and \d+ other session\(s\))? need \d+, more than the \d+ the server allows \(max_connections less superuser_reserved_connections\): .*lower --incremental-concurrency and --full-concurrency \(a runner opens up to their sum \+ 7\)$/m
      )
      runner.child.kill("SIGTERM")
      assert.strictEqual((yield* runner.exit).code, 0)
    }), 60_000)

  it.scopedLive("3 runners, 30 locations with faults: kill -9 of one, a 4th joining, one's sessions terminated — equality each time, never two syncs of a location at once", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const db = yield* Effect.orDie(freshDatabase(serverUrl!))
      const directory = yield* temporaryDirectory
      const { allSyncedSince, addTokens, churn, inDatabase, midSync, runners, seen, simulators, startRunner: startAny } = yield* makeFleet(db, directory)
      /** Starts a runner of the cluster and waits until it has joined. */
      const startRunner = startAny(
        (baseUrl) => ["fleet", "run", "--db", db, "--base-url", baseUrl, "--listen", "127.0.0.1:0"],
        /fleet (runner 127\.0\.0\.1:\d+) joined the cluster/
      )
      /** The name of a runner's PostgreSQL sessions. */
      const nameOf = (runner: number) => `vppkit fleet ${runners[runner]!.ready[1]}`

      // 1. three runners: every location synced to equality, the locations spread over them (the tokens are stored
      // once all three have joined, so the first syncs are not handed from one to the next as they join)
      yield* Effect.all([startRunner, startRunner, startRunner], { concurrency: "unbounded", discard: true })
      const t0 = isoNow()
      yield* addTokens
      yield* allSyncedSince(t0, "three runners")
      const spread = new Set(seen.filter(isData).map((s) => s.runner))
      assert.deepStrictEqual([...spread].sort(), [0, 1, 2], "each runner synced locations of its own")
      // fleet status names the runner of each location's last run: the runners' addresses, each of the three
      const recorded = yield* inDatabase(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ readonly runner: string | null }>`SELECT runner FROM vppkit_fleet_outcomes`))
      const addresses = runners.map((r) => r.ready[1]!.replace(/^runner /, ""))
      for (const { runner } of recorded) assert.include(addresses, runner)
      assert.strictEqual(new Set(recorded.map((r) => r.runner)).size, 3)

      // 2. kill -9 of runner 0 in the middle of syncs: its locations finish on the others
      yield* churn
      const doomed = yield* midSync(0)
      runners[0]!.running.child.kill("SIGKILL")
      const killedAt = performance.now()
      const t1 = isoNow()
      assert.strictEqual((yield* runners[0]!.running.exit).signal, "SIGKILL")
      yield* allSyncedSince(t1, "after kill -9 of runner 0")
      for (const location of doomed) {
        assert.isTrue(
          seen.some((s) => s.location === location && s.runner !== 0 && isData(s) && s.begin > killedAt),
          `location ${location}, in the middle of its sync on runner 0, synced by another`
        )
      }

      // 3. a 4th runner joins: it takes shards over (it syncs locations the others then leave to it)
      const joinedAt = performance.now()
      yield* startRunner
      yield* allSyncedSince(isoNow(), "after runner 3 joined")
      for (let i = 0; !seen.some((s) => s.runner === 3 && isData(s)); i++) {
        if (i > 3000) assert.fail("runner 3 synced nothing")
        yield* Effect.sleep("10 millis")
      }
      const takenOver = new Set(seen.filter((s) => s.runner === 3 && isData(s)).map((s) => s.location))
      assert.isAbove(takenOver.size, 0)
      assert.isBelow(takenOver.size, locations, "the 4th runner took some locations, not all")

      // 4. runner 1's PostgreSQL sessions terminated in the middle of syncs: the same outcome
      yield* churn
      yield* midSync(1)
      const terminated = yield* inDatabase(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        // (the sessions chosen first: PostgreSQL does not promise to test the name before calling a function of the same WHERE)
        sql<{ readonly pid: number }>`SELECT pid, pg_terminate_backend(pid) AS terminated FROM (SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = ${nameOf(1)} AND pid <> pg_backend_pid() OFFSET 0) AS sessions`))
      assert.isAbove(terminated.length, 0, `sessions of ${nameOf(1)}`)
      const t3 = isoNow()
      yield* allSyncedSince(t3, "after runner 1's sessions were terminated")
      assert.isNull(runners[1]!.running.child.exitCode, "runner 1 lives on")

      // SIGTERM: each runner left stops cleanly
      for (const { running } of runners.slice(1)) running.child.kill("SIGTERM")
      for (const { index, running } of runners.slice(1)) {
        const exit = yield* running.exit
        assert.strictEqual(exit.code, 0, `runner ${index}: ${exit.stderr.slice(-2000)}`)
      }

      // never two syncs of a location at once: each runner's syncs of a location as windows, from a Client Config
      // request (a sync begins with one) to its last request before the next; the windows with a data request (a
      // sync that ran, not one refused at its location's lock) of two runners never overlap
      for (let location = 0; location < locations; location++) {
        const windows: Array<{ readonly runner: number; readonly begin: number; end: number; data: boolean }> = []
        for (let runner = 0; runner < runners.length; runner++) {
          let current: (typeof windows)[number] | undefined
          for (const request of seen.filter((s) => s.location === location && s.runner === runner).sort((a, b) => a.begin - b.begin)) {
            if (current === undefined || request.path.endsWith("/client/config")) {
              current = { runner, begin: request.begin, end: request.end, data: isData(request) }
              windows.push(current)
            } else {
              current.end = Math.max(current.end, request.end)
              current.data ||= isData(request)
            }
          }
        }
        const syncs = windows.filter((w) => w.data).sort((a, b) => a.begin - b.begin)
        for (let i = 0; i < syncs.length; i++) {
          for (let j = i + 1; j < syncs.length && syncs[j]!.begin < syncs[i]!.end; j++) {
            assert.strictEqual(syncs[j]!.runner, syncs[i]!.runner, `location ${location}: synced by runners ${syncs[i]!.runner} and ${syncs[j]!.runner} at once`)
          }
        }
      }
      for (const [i, simulator] of simulators.entries()) assert.isAtMost(yield* simulator.maxInFlight, 5, `location ${i}`)
      assert.isAbove(seen.filter((s) => s.begin > joinedAt && s.runner !== 3).length, 0)
    }), 240_000)
})
