import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Layer from "effect/Layer"
import * as Resources from "../src/Resources.js"
import { assertBuilt, assertFailure, type Exit, run, start } from "./support/bin.js"
import { seeded } from "./support/random.js"
import { byKey, canonical, compare, inOnlyLocation, tempDir } from "./support/store.js"

/**
 * The built `vppkit sync` as a child process against the simulator served on loopback in this process.
 */

interface Setup {
  readonly server: SimulatorServer.Service
  readonly simulator: Simulator.Service
  readonly dir: string
  readonly db: string
  /** `sync` with the token file, the base URL and the database. */
  readonly args: (...extra: ReadonlyArray<string>) => ReadonlyArray<string>
  /** `sync` with the token file and the base URL (no --db). */
  readonly argsWithoutDb: (...extra: ReadonlyArray<string>) => ReadonlyArray<string>
}

const setup = (settings: Simulator.Settings) =>
  Effect.gen(function*() {
    yield* assertBuilt
    const dir = yield* tempDir
    const server = yield* SimulatorServer.make(settings)
    const tokenFile = path.join(dir, "token")
    fs.writeFileSync(tokenFile, Redacted.value(server.simulator.token.value) + "\n", { mode: 0o600 })
    const db = path.join(dir, "vppkit.sqlite")
    return {
      server,
      simulator: server.simulator,
      dir,
      db,
      args: (...extra) => ["sync", "--token-file", tokenFile, "--base-url", server.baseUrl, "--db", db, ...extra],
      argsWithoutDb: (...extra) => ["sync", "--token-file", tokenFile, "--base-url", server.baseUrl, ...extra]
    } satisfies Setup
  })

/** Opens a SQLite file for the effect (and closes it after). */
const withSqlite = <A, E>(file: string, effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.scoped(Effect.provide(effect, SqliteClient.layer({ filename: file })))

/** Opens the database and the sync store over it for the effect (and closes it after). */
const withDb = <A, E>(db: string, effect: Effect.Effect<A, E, SqlClient.SqlClient | SyncStore.SyncStore>) =>
  Effect.scoped(Effect.provide(inOnlyLocation(effect), SqlSyncStore.layer.pipe(Layer.provideMerge(SqliteClient.layer({ filename: db })))))

/** Opens the database with the sync store scoped to the location `uId` (the unscoped store when `undefined`). */
const withDbAt = <A, E>(db: string, uId: string | undefined, effect: Effect.Effect<A, E, SqlClient.SqlClient | SyncStore.SyncStore>) =>
  Effect.scoped(
    Effect.provide(
      uId === undefined ? effect : effect.pipe(SyncStore.forLocation(uId)),
      SqlSyncStore.layer.pipe(Layer.provideMerge(SqliteClient.layer({ filename: db })))
    )
  )

const integrity = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql.unsafe<{ readonly integrity_check: string }>("PRAGMA integrity_check")
  return rows.map((row) => row.integrity_check).join("; ")
})

/** Every resource's table holds exactly the server's records. */
const assertAllSame = (simulator: Simulator.Service) =>
  Effect.gen(function*() {
    for (const resource of Resources.all) {
      const { different, extra, missing, server } = yield* compare(simulator, resource)
      assert.isAbove(server.size, 0, resource.name)
      assert.deepStrictEqual(
        { missing: missing.length, extra: extra.length, different: different.length },
        { missing: 0, extra: 0, different: 0 },
        resource.name
      )
    }
  })

const assertOk = (exit: Exit) => assert.strictEqual(exit.code, 0, `exit ${exit.code} ${exit.signal}: ${exit.stderr}`)

/** A resource's rows (canonical, in key order) and its sync_state row, where the database has them. */
const committed = (resource: Resources.Resource) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tables = new Set(
      (yield* sql<{ readonly name: string }>`SELECT ${sql("name")} FROM ${sql("sqlite_master")} WHERE ${sql("type")} = ${"table"}`)
        .map((row) => row.name)
    )
    const rows = tables.has(resource.table)
      ? (yield* SyncStore.rows(resource.descriptor)).map(({ key, record }) => `${key} ${canonical(resource, record)}`)
      : []
    const state = tables.has(SqlSyncStore.stateTable) ? Option.getOrUndefined(yield* SyncStore.readState(resource.name)) : undefined
    return { rows, state }
  })

const dataRequests = (simulator: Simulator.Service) => Effect.map(simulator.log, (log) => log.length)

describe("vppkit sync (the built bin)", () => {
  it.scopedLive("sync, churn, sync: the database equals the server; --full after deletions reconciles them", () =>
    Effect.gen(function*() {
      const { args, db, simulator } = yield* setup({
        seed: 11,
        pageSize: 60,
        // one of the assets an unlimited free asset: stored marked unlimited (the comparison expects it so)
        records: { assets: 2, unlimitedAssets: 1, users: 150, assignments: 300 }
      })
      const first = yield* run(args())
      assertOk(first)
      assert.strictEqual(first.stdout, "")
      const lines = first.stderr.trim().split("\n")
      assert.deepStrictEqual(lines.map((line) => line.split(":")[0]), [...Resources.names])
      assert.match(lines[1]!, /^assignments: full, 300 records, 5 pages, 0 retries, consistent, \d+\.\d s$/)
      yield* withDb(db, assertAllSame(simulator))

      yield* simulator.churn("assignments", { inserts: 20, updates: 10 })
      yield* simulator.churn("users", { inserts: 10, updates: 10, deletes: 6 })
      yield* simulator.subscriptions.churn("subscriptions", { inserts: 2, updates: 2, deletes: 1 })
      const second = yield* run(args())
      assertOk(second)
      assert.match(second.stderr, /^users: incremental, \d+ records \([1-6] deleted\), 1 page, 0 retries, consistent/m)
      assert.match(second.stderr, /^legacy-licenses: incremental, /m)
      yield* withDb(db, assertAllSame(simulator))

      yield* simulator.churn("assignments", { deletes: 7 })
      const third = yield* run(args("--full", "--quiet"))
      assertOk(third)
      assert.strictEqual(third.stderr, "")
      yield* withDb(db, assertAllSame(simulator))

      // The sToken is nowhere in the database files.
      const secret = Buffer.from(Redacted.value(simulator.token.value))
      for (const file of fs.readdirSync(path.dirname(db)).filter((name) => name.startsWith("vppkit.sqlite"))) {
        assert.strictEqual(fs.readFileSync(path.join(path.dirname(db), file)).indexOf(secret), -1, file)
      }
    }))

  it.scopedLive("kill -9 at random moments of syncs loses nothing: the database stays intact, no checkpoint runs ahead of its data", () =>
    Effect.gen(function*() {
      const { args, db, simulator } = yield* setup({
        seed: 23,
        pageSize: 50,
        latency: 5,
        records: { assets: 2, users: 250, assignments: 600 }
      })
      const seed = Date.now() % 1_000_000
      const next = seeded(seed)
      const kills: Array<string> = []
      for (let round = 0; round < 4; round++) {
        if (round > 0) {
          yield* simulator.churn("assignments", { inserts: 15, updates: 15 })
          yield* simulator.churn("users", { inserts: 8, updates: 8, deletes: 4 })
        }
        // What each resource's last commit left, to tell after the kill what this run committed.
        const previous = fs.existsSync(db)
          ? yield* withDb(db, Effect.forEach(Resources.all, committed))
          : Resources.all.map(() => ({ rows: [], state: undefined }))
        const before = yield* dataRequests(simulator)
        // The first run is full (about 42 requests), the later ones incremental (about 27).
        const after = 1 + next(round === 0 ? 40 : 25)
        const exit = yield* Effect.scoped(Effect.gen(function*() {
          const running = yield* start(args("--quiet"))
          const reached = Effect.gen(function*() {
            while ((yield* dataRequests(simulator)) - before < after) yield* Effect.sleep("2 millis")
          })
          const winner = yield* Effect.raceFirst(Effect.as(reached, "reached" as const), Effect.as(running.exit, "exited" as const))
          if (winner === "reached") {
            yield* Effect.sleep(`${next(20)} millis`)
            running.child.kill("SIGKILL")
          }
          return yield* running.exit
        }))
        kills.push(`round ${round}: after ${after} requests → ${exit.signal ?? exit.code}`)
        const context = `seed ${seed}; ${kills.join(", ")}`
        assert.isTrue(exit.signal === "SIGKILL" || exit.code === 0, `${context}: ${exit.stderr}`)
        if (!fs.existsSync(db)) continue // killed before the database was created

        yield* withDb(db, Effect.gen(function*() {
          assert.strictEqual(yield* integrity, "ok", context)
          // Each resource is whole: either as its previous commit left it, rows and sync_state row alike (the run
          // was killed in its transaction or before it), or committed by this run and then exactly the server's
          // records (the server does not change during a run). Nothing committed is lost, nothing half-written
          // stays, and sync_state.records counts the rows it was committed with.
          for (const [i, resource] of Resources.all.entries()) {
            const now = yield* committed(resource)
            if (now.state !== undefined) assert.strictEqual(now.state.records, now.rows.length, `${context}: ${resource.name} records`)
            if (now.state?.lastSyncAt === previous[i]!.state?.lastSyncAt) {
              assert.deepStrictEqual(now.state, previous[i]!.state, `${context}: ${resource.name} sync_state rolled back`)
              assert.deepStrictEqual(now.rows, previous[i]!.rows, `${context}: ${resource.name} rows rolled back to its last commit`)
            } else {
              const { different, extra, missing } = yield* compare(simulator, resource)
              assert.deepStrictEqual(
                { missing, extra, different },
                { missing: [], extra: [], different: [] },
                `${context}: ${resource.name} committed by this run`
              )
            }
          }
          // Whatever committed is whole: every record unchanged since a stored checkpoint is in its table, as
          // the server has it (so the checkpoint is not ahead of the data it covers).
          for (const name of ["assignments", "users"] as const) {
            const resource = Resources.all.find((r) => r.name === name)!
            const state = yield* SyncStore.readState(name)
            if (Option.isNone(state) || state.value.checkpoint === undefined) continue
            const changed = byKey(resource, (yield* simulator.changedSince(name, state.value.checkpoint)) as ReadonlyArray<Resources.JsonRecord>)
            const stored = new Map((yield* SyncStore.rows(resource.descriptor)).map(({ key, record }) => [key, canonical(resource, record)]))
            for (const record of (yield* simulator.records(name)) as ReadonlyArray<Resources.JsonRecord>) {
              const key = resource.key(record)
              if (changed.has(key)) continue
              assert.strictEqual(stored.get(key), canonical(resource, record), `${context}: ${name} ${key}`)
            }
          }
        }))
      }
      assert.isTrue(kills.some((kill) => kill.endsWith("SIGKILL")), `no run was killed: seed ${seed}; ${kills.join(", ")}`)

      const rerun = yield* run(args("--quiet"))
      assertOk(rerun)
      yield* withDb(db, Effect.gen(function*() {
        assert.strictEqual(yield* integrity, "ok")
        yield* assertAllSame(simulator)
      }))
    }), { timeout: 60_000 })

  it.scopedLive("SIGINT rolls the running resource back and exits 130; the resources before it stay committed", () =>
    Effect.gen(function*() {
      const { args, db, simulator } = yield* setup({ seed: 5, pageSize: 50, records: { assets: 2, users: 60, assignments: 120 } })
      // Subscription assignments never answer: the run hangs in their transaction until it is interrupted.
      yield* simulator.inject({ _tag: "Stall" }, { path: "/v2/subscriptions/assignments" })
      const exit = yield* Effect.scoped(Effect.gen(function*() {
        const running = yield* start(args())
        while (!(yield* simulator.log).some((entry) => entry.path === "/v2/subscriptions")) yield* Effect.sleep("5 millis")
        yield* Effect.sleep("150 millis")
        running.child.kill("SIGINT")
        return yield* running.exit
      }))
      assert.strictEqual(exit.code, 130, exit.stderr)
      assert.include(exit.stderr, "subscription-assignments: interrupted, rolled back (its previous sync is kept)\nvppkit: interrupted\n")
      yield* withDb(db, Effect.gen(function*() {
        assert.strictEqual(yield* integrity, "ok")
        const sql = yield* SqlClient.SqlClient
        const states = yield* sql<{ readonly resource: string }>`SELECT ${sql("resource")} FROM ${sql(SqlSyncStore.stateTable)} ORDER BY ${sql("resource")}`
        assert.deepStrictEqual(states.map((row) => row.resource), ["assets", "assignments", "subscriptions", "users"])
        assert.strictEqual(yield* SyncStore.count(Resources.all.find((r) => r.name === "subscription-assignments")!.descriptor), 0)
      }))
    }))

  it.scopedLive("a second sync of the same database exits at once (6) naming the running one; a killed one leaves no lock", () =>
    Effect.gen(function*() {
      const { args, db, simulator } = yield* setup({ seed: 31, pageSize: 50, records: { assets: 2, users: 60, assignments: 120 } })
      // Subscription assignments never answer the first run: it is still running while the second one starts.
      yield* simulator.inject({ _tag: "Stall" }, { path: "/v2/subscriptions/assignments" })
      yield* Effect.scoped(Effect.gen(function*() {
        const first = yield* start(args())
        const startedAt = Date.now()
        // A stalled request is logged only if it ends: wait for the resource before, then for the stall to begin.
        while (!(yield* simulator.log).some((entry) => entry.path === "/v2/subscriptions")) yield* Effect.sleep("5 millis")
        yield* Effect.sleep("150 millis")
        const requests = yield* dataRequests(simulator)
        const second = yield* run(args()).pipe(
          Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the second run did not exit within 10 s") }),
          Effect.orDie
        )
        const line = assertFailure(second, 6, args())
        const match = /^vppkit: another vppkit sync is running on (.+) \(pid (\d+) on (.+), started at (\S+)\): wait for it to finish, or stop it$/
          .exec(line)
        assert.isNotNull(match, line)
        assert.strictEqual(match![1], db)
        assert.strictEqual(Number(match![2]), first.child.pid)
        assert.strictEqual(match![3], os.hostname())
        assert.approximately(Date.parse(match![4]!), startedAt, 10_000)
        assert.strictEqual(yield* dataRequests(simulator), requests, "the second run sent no request")

        // kill -9 releases the lock with the process: the next run does not wait for a dead one.
        first.child.kill("SIGKILL")
        yield* first.exit
      }))
      const next = yield* run(args("--quiet"))
      assertOk(next)
      yield* withDb(db, assertAllSame(simulator))
      // A run that ends leaves no holder behind.
      const holders = yield* withSqlite(
        `${db}-lock`,
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly n: number }>`SELECT COUNT(*) AS ${sql("n")} FROM ${sql("vppkit_sync_holder")}`)
      )
      assert.strictEqual(holders[0]!.n, 0)
    }))

  it.scopedLive("another location's token on the database: synced into a partition of its own, the first location's rows untouched", () =>
    Effect.gen(function*() {
      const records = { assets: 2, users: 20, assignments: 40 }
      const { args, db, dir, simulator } = yield* setup({ seed: 41, orgName: "First School", pageSize: 50, records })
      assertOk(yield* run(args("--quiet")))
      const other = yield* SimulatorServer.make({ seed: 42, orgName: "Second School", pageSize: 50, records })
      const otherToken = path.join(dir, "other-token")
      fs.writeFileSync(otherToken, Redacted.value(other.simulator.token.value) + "\n", { mode: 0o600 })
      const before = yield* withDb(db, Effect.forEach(Resources.all, committed))

      assertOk(yield* run(["sync", "--token-file", otherToken, "--base-url", other.baseUrl, "--db", db, "--quiet"]))
      const locations = yield* withDbAt(db, undefined, SyncStore.locations)
      assert.deepStrictEqual(locations.map((location) => location.orgName).sort(), ["First School", "Second School"])
      const first = locations.find((location) => location.orgName === "First School")!
      const second = locations.find((location) => location.orgName === "Second School")!
      assert.notStrictEqual(first.uId, second.uId)
      assert.deepStrictEqual(yield* withDbAt(db, first.uId, Effect.forEach(Resources.all, committed)), before, "the first location's rows are untouched")
      yield* withDbAt(db, second.uId, assertAllSame(other.simulator))

      // The first location syncs on.
      yield* simulator.churn("assignments", { inserts: 3, updates: 3 })
      assertOk(yield* run(args("--quiet")))
      yield* withDbAt(db, first.uId, assertAllSame(simulator))
    }))

  it.scopedLive("usage errors: a --db in a missing directory, an unknown resource → one line, exit code 2", () =>
    Effect.gen(function*() {
      const { args, argsWithoutDb, dir } = yield* setup({ records: { assets: 1, users: 1, assignments: 1 } })
      const missing = path.join(dir, "no", "such", "dir", "vppkit.sqlite")
      const [noDirectory, unknown] = yield* Effect.all([
        run(argsWithoutDb("--db", missing)),
        run(args("--resources", "assets,licences"))
      ], { concurrency: 2 })
      assert.strictEqual(noDirectory.code, 2)
      assert.strictEqual(noDirectory.stdout, "")
      assert.strictEqual(noDirectory.stderr, `vppkit: --db ${missing}: directory ${path.dirname(missing)} does not exist\n`)
      assert.isFalse(fs.existsSync(path.join(dir, "no")))
      assert.strictEqual(unknown.code, 2)
      assert.strictEqual(
        unknown.stderr,
        `vppkit: --resources: unknown resource "licences": use one of ${Resources.names.join(", ")}\n`
      )
    }))
})
