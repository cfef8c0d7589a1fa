import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as VppClient from "@vppkit/core/VppClient"
import * as NodeVppClient from "@vppkit/node/NodeVppClient"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as Sync from "@vppkit/sync/Sync"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { survivableFaults } from "../src/internal/mockServerCommand.js"
import * as Resources from "../src/Resources.js"
import { seeded } from "../test/support/random.js"
import { canonical, serverRecords, tempDir } from "../test/support/store.js"

/**
 * The soak (`npm run soak`): a large simulated organisation served on 127.0.0.1 (the undici client over real
 * sockets), random survivable faults on a share of the requests, writes landing during the traversals, and
 * repeated sync cycles into one SQLite file for a bounded time.
 *
 * A cycle syncs every resource with `Sync.run`, one resource at a time, and checks each one against the
 * simulator right after its sync committed (churn is switched on only while that resource is read, so the
 * server is still when it is compared):
 *
 * - after a consistent full pass the table equals the server's records, row for row;
 * - after a consistent incremental pass every server record is in the table as the server has it (rows of
 *   records deleted on the server may remain: deltas do not show deletions, the next full pass removes them);
 * - after a drifted pass the stored checkpoint is the previous one (never one ahead of the data);
 * - always: `sync_state.records` equals the table's row count, the database passes `PRAGMA quick_check`
 *   (`integrity_check` at the end), never more than 5 requests were in flight.
 *
 * Cycle 0 is the first (full) sync, every third cycle after it is `--full`, the others incremental where the
 * API has deltas. Between cycles the organisation changes (inserts, updates, deletions, retirements).
 *
 * Environment: VPPKIT_SOAK_MINUTES (default 10; no new cycle starts after it, at least two cycles run),
 * VPPKIT_SOAK_ASSIGNMENTS (default 1,000,000; users, assets and subscriptions scale with it),
 * VPPKIT_SOAK_FAULT_RATE (default 0.1), VPPKIT_SOAK_RPS (the client's request-rate limit, default 100: Apple's
 * 15 would make a full pass of this size take minutes of waiting, which tests nothing), VPPKIT_SOAK_SEED.
 */

const numberFromEnv = (name: string, fallback: number): number => {
  const text = process.env[name]
  if (text === undefined || text.trim() === "") return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${text}: expected a non-negative number`)
  return value
}

const minutes = numberFromEnv("VPPKIT_SOAK_MINUTES", 10)
const assignments = Math.floor(numberFromEnv("VPPKIT_SOAK_ASSIGNMENTS", 1_000_000))
const faultRate = numberFromEnv("VPPKIT_SOAK_FAULT_RATE", 0.1)
const requestsPerSecond = numberFromEnv("VPPKIT_SOAK_RPS", 100)
const seed = Math.floor(numberFromEnv("VPPKIT_SOAK_SEED", Date.now() % 100_000))
const pageSize = 1000

const users = Math.max(20, Math.round(assignments / 10))
const assets = Math.max(4, Math.round(assignments / 500))
const subscriptionCounts = {
  subscriptions: Math.max(5, Math.min(200, Math.round(assignments / 5000))),
  assignments: Math.max(20, Math.min(20_000, Math.round(assignments / 50))),
  admins: 20
}

const settings: Simulator.Settings = {
  seed,
  orgName: "Soak School District",
  records: { assignments, users, assets },
  subscriptions: subscriptionCounts,
  pageSize,
  // A few milliseconds per response, as a network has: requests overlap, so the in-flight bound is tested.
  latency: 5,
  randomFaults: { probability: faultRate, faults: survivableFaults }
}

const count = (n: number) => n.toLocaleString("en-US")
const seconds = (millis: number) => `${(millis / 1000).toFixed(1)} s`
const megabytes = (bytes: number) => `${Math.round(bytes / 1_048_576)} MB`

/** How many records a resource has on the server now (for the churn plan). */
const serverSize = (simulator: Simulator.Service, resource: Resources.Resource) =>
  Effect.map(serverRecords(simulator, resource), (records) => records.length)

type ChurnTarget = Simulator.PageResource | Simulator.SubscriptionResource

/** The resource whose writes a resource's own traversal sees drift from; legacy walks are cut when they start. */
const churnTargets: Record<Resources.Name, ChurnTarget | undefined> = {
  "assets": "assets",
  "assignments": "assignments",
  "users": "users",
  "subscriptions": "subscriptions",
  "subscription-assignments": "subscriptionAssignments",
  "subscription-admins": "subscriptionAdmins",
  // A legacy walk is cut into batches at its first request (Apple's "batch data"): writes after it are the
  // next walk's; they come from the churn of assignments and users earlier in the cycle.
  "legacy-licenses": undefined,
  "legacy-users": undefined
}

/** Records written per write batch: a few per thousand of the resource, at least two. */
const batchSize = (size: number) => Math.max(2, Math.round(size / 20_000))

interface Verdict {
  readonly server: number
  readonly stored: number
  readonly missing: number
  readonly different: number
  readonly extra: number
  readonly examples: ReadonlyArray<string>
}

const digest = (text: string) => crypto.createHash("sha1").update(text).digest("base64")

/**
 * Compares a table with the server's records by natural key, reading the table in key order in chunks (a
 * million rows as objects would not fit comfortably next to the simulator).
 */
const verify = (simulator: Simulator.Service, resource: Resources.Resource) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const expected = new Map<string, string>()
    let server = 0
    for (const record of yield* serverRecords(simulator, resource)) {
      const key = resource.key(record)
      if (expected.has(key)) throw new Error(`${resource.name}: natural key ${JSON.stringify(key)} repeats on the server`)
      expected.set(key, digest(canonical(resource, record)))
      server++
    }
    const examples: Array<string> = []
    let stored = 0
    let different = 0
    let extra = 0
    let after: string | undefined
    for (;;) {
      const table = sql(resource.table)
      const key = sql(SqlSyncStore.keyColumn)
      const rows = after === undefined
        ? yield* sql<Record<string, unknown>>`SELECT * FROM ${table} ORDER BY ${key} LIMIT ${10_000}`
        : yield* sql<Record<string, unknown>>`SELECT * FROM ${table} WHERE ${key} > ${after} ORDER BY ${key} LIMIT ${10_000}`
      if (rows.length === 0) break
      for (const row of rows) {
        stored++
        const naturalKey = String(row[SqlSyncStore.keyColumn])
        const record: Record<string, unknown> = {}
        for (const field of resource.fields) {
          const value = SqlSyncStore.fromColumn(field, row[field.name])
          if (value !== undefined) record[field.name] = value
        }
        const wanted = expected.get(naturalKey)
        if (wanted === undefined) extra++
        else {
          if (wanted !== digest(canonical(resource, record))) {
            different++
            if (examples.length < 3) examples.push(`different: ${naturalKey}`)
          }
          expected.delete(naturalKey)
        }
      }
      after = String(rows[rows.length - 1]![SqlSyncStore.keyColumn])
    }
    for (const key of expected.keys()) {
      if (examples.length >= 6) break
      examples.push(`missing: ${key}`)
    }
    return { server, stored, missing: expected.size, different, extra, examples } satisfies Verdict
  })

const pragma = (name: "quick_check" | "integrity_check") =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(sql.unsafe<Record<string, unknown>>(`PRAGMA ${name}`), (rows) => rows.map((row) => Object.values(row)[0]).join("; ")))

/** Writes between cycles: every resource changes, with deletions (retirements for users). */
const changeBetweenCycles = (simulator: Simulator.Service) =>
  Effect.gen(function*() {
    const a = batchSize(assignments) * 4
    yield* simulator.churn("assignments", { inserts: a, updates: a, deletes: a })
    const u = batchSize(users) * 4
    yield* simulator.churn("users", { inserts: u, updates: u, deletes: u })
    yield* simulator.churn("assets", { inserts: 2, updates: 5, deletes: 2 })
    for (const resource of ["subscriptions", "subscriptionAssignments", "subscriptionAdmins"] as const) {
      yield* simulator.subscriptions.churn(resource, { inserts: 3, updates: 3, deletes: 2 })
    }
  })

interface ResourceRun {
  readonly summary: Sync.Summary
  readonly verdict: Verdict
  readonly checked: string
  /** The writes during the pass. */
  readonly plan: string
}

const syncAndCheck = (
  simulator: Simulator.Service,
  resource: Resources.Resource,
  full: boolean,
  next: (below: number) => number,
  context: string
) =>
  Effect.gen(function*() {
    const previous = Option.getOrUndefined(yield* SyncStore.readState(resource.name))
    const target = churnTargets[resource.name]
    let plan = "no writes during the walk"
    if (target !== undefined) {
      // Write batches land somewhere in the traversal: the first after 1..pages data requests (a delta is a
      // page or two), then as often again, 1 to 3 times. One resource pass in four is written to all along
      // (every third of a pass, no limit): every re-read drifts too, and the pass ends drifted.
      const records = yield* serverSize(simulator, resource)
      const pages = Math.max(1, Math.ceil(records / pageSize))
      const incremental = !full && previous?.checkpoint !== undefined
      const size = batchSize(records)
      const writes = { inserts: size, updates: size, deletes: target === "assets" ? 1 : Math.max(1, Math.round(size / 2)) }
      const churn: NonNullable<Simulator.Settings["churn"]> = next(4) === 0
        ? { every: Math.max(1, Math.floor(pages / 3)), resources: [target], ...writes }
        : { every: 1 + next(incremental ? 2 : pages), resources: [target], ...writes, limit: 1 + next(3) }
      plan = churn.limit === undefined
        ? `writes every ${churn.every} requests`
        : `${churn.limit} write${churn.limit === 1 ? "" : "s"} every ${churn.every} requests`
      yield* simulator.setChurn(churn)
    }
    const [summary] = yield* Sync.run({ resources: [resource.descriptor], full }).pipe(
      Effect.ensuring(simulator.setChurn(undefined))
    )
    const state = Option.getOrThrow(yield* SyncStore.readState(resource.name))
    const verdict = yield* verify(simulator, resource)
    const where = `${context} ${resource.name} (${summary!.mode}, ${summary!.consistency}): ${verdict.examples.join(", ")}`
    assert.strictEqual(state.records, verdict.stored, `sync_state.records is the row count: ${where}`)
    let checked: string
    if (summary!.consistency === "consistent") {
      assert.strictEqual(verdict.missing, 0, `missing rows: ${where}`)
      assert.strictEqual(verdict.different, 0, `stale rows: ${where}`)
      if (summary!.mode === "full") {
        assert.strictEqual(verdict.extra, 0, `rows the server no longer has after a consistent full pass: ${where}`)
        checked = "equals the server"
      } else {
        checked = verdict.extra === 0
          ? "equals the server"
          : `every server record; ${count(verdict.extra)} row${
            verdict.extra === 1 ? "" : "s"
          } deleted on the server remain${verdict.extra === 1 ? "s" : ""} until a full pass`
      }
      if (resource.name === "assignments" || resource.name === "users") {
        assert.strictEqual(state.checkpoint, yield* simulator.versionId(resource.name), `checkpoint: ${where}`)
      }
    } else {
      // A drifted pass stores no new checkpoint: the previous one is kept.
      assert.strictEqual(state.checkpoint, previous?.checkpoint, `a drifted pass kept the checkpoint: ${where}`)
      checked = `drifted (${verdict.missing} missing, ${verdict.different} stale, ${verdict.extra} extra): checkpoint kept`
    }
    return { summary: summary!, verdict, checked, plan } satisfies ResourceRun
  })

const resourceLine = (run: ResourceRun) => {
  const s = run.summary
  return `  ${s.resource.padEnd(25)} ${s.mode.padEnd(11)} ${count(s.records).padStart(10)} records ${
    count(s.pages).padStart(6)
  } pages ${count(s.retries).padStart(5)} retries ${s.passes} pass${s.passes === 1 ? " " : "es"} ${
    seconds(s.millis).padStart(8)
  } (${run.plan})  ${count(run.verdict.stored).padStart(10)} rows: ${run.checked}`
}

const soak = (client: VppClient.Service, server: SimulatorServer.Service, db: string) =>
  Effect.gen(function*() {
    const simulator = server.simulator
    const started = Date.now()
    const deadline = started + minutes * 60_000
    const next = seeded(seed * 7919 + 1)
    const totals = { cycles: 0, consistentFull: 0, consistentIncremental: 0, drifted: 0 }
    yield* SyncStore.ensureResources(Resources.all.map((resource) => resource.descriptor))
    for (let cycle = 0; cycle < 2 || Date.now() < deadline; cycle++) {
      const context = `seed ${seed}, cycle ${cycle}:`
      const full = cycle % 3 === 0
      if (cycle > 0) yield* changeBetweenCycles(simulator)
      // Batch data of earlier walks is no longer needed (their tokens would get 9633, as at Apple after a while).
      yield* simulator.legacy.forgetBatches
      yield* simulator.clearLog
      const before = yield* client.stats
      const cycleStarted = Date.now()
      const runs: Array<ResourceRun> = []
      console.log(`cycle ${cycle} (${cycle === 0 ? "first sync" : full ? "--full" : "incremental"})`)
      for (const resource of Resources.all) {
        const run = yield* syncAndCheck(simulator, resource, full, next, context)
        runs.push(run)
        console.log(resourceLine(run))
        if (run.summary.consistency === "drifted") totals.drifted++
        else if (run.summary.mode === "full") totals.consistentFull++
        else totals.consistentIncremental++
      }
      const after = yield* client.stats
      const log = yield* simulator.log
      const maxInFlight = yield* simulator.maxInFlight
      assert.isAtMost(maxInFlight, 5, `${context} requests in flight`)
      assert.strictEqual(yield* pragma("quick_check"), "ok", `${context} PRAGMA quick_check`)
      const size = ["", "-wal"].map((suffix) => fs.existsSync(db + suffix) ? fs.statSync(db + suffix).size : 0)
      console.log(`cycle ${cycle} done: ${[
        seconds(Date.now() - cycleStarted),
        `${count(runs.reduce((n, r) => n + r.summary.records, 0))} records`,
        `${count(after.requests - before.requests)} requests`,
        `${count(log.filter((entry) => entry.fault !== undefined).length)} faults met`,
        `${count(after.retries - before.retries)} retries`,
        `max ${maxInFlight} in flight`,
        `database ${megabytes(size[0]!)} + WAL ${megabytes(size[1]!)}`,
        `heap ${megabytes(process.memoryUsage().heapUsed)}, rss ${megabytes(process.memoryUsage().rss)}`
      ].join(", ")}`)
      totals.cycles++
    }
    assert.strictEqual(yield* pragma("integrity_check"), "ok", "PRAGMA integrity_check at the end")
    console.log(
      `soak done: ${totals.cycles} cycles in ${seconds(Date.now() - started)}; ${totals.consistentFull} consistent full and ${totals.consistentIncremental} consistent incremental resource passes checked against the server, ${totals.drifted} drifted (checkpoint kept)`
    )
    assert.isAbove(totals.consistentFull, 0, "at least one consistent full pass was checked")
  })

describe("soak", () => {
  it.scopedLive(
    `${count(assignments)} assignments, ${Math.round(faultRate * 100)} % faults, churn during traversals, sync cycles for ${minutes} min`,
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const db = path.join(dir, "soak.sqlite")
        const generating = Date.now()
        const server = yield* Effect.orDie(SimulatorServer.make(settings))
        const client = yield* Effect.orDie(NodeVppClient.make({
          token: server.simulator.token,
          baseUrl: server.baseUrl,
          maxRequestsPerSecond: requestsPerSecond
        }))
        const legacyLicences = (yield* server.simulator.legacy.records("licenses")).length
        console.log(
          `soak: seed ${seed}; ${count(assignments)} assignments, ${count(users)} users, ${count(assets)} assets, ${
            count(legacyLicences)
          } legacy licences, ${count(subscriptionCounts.assignments)} subscription assignments (generated in ${
            seconds(Date.now() - generating)
          }); pages of ${pageSize}; ${Math.round(faultRate * 100)} % of requests meet a random survivable fault; client limit ${requestsPerSecond} requests/s; ${minutes} min on ${server.baseUrl}`
        )
        yield* Effect.flatMap(Sync.learnLocation, (location) => soak(client, server, db).pipe(SyncStore.forLocation(location.uId))).pipe(
          Effect.provide(SqlSyncStore.layer.pipe(Layer.provideMerge(SqliteClient.layer({ filename: db })))),
          Effect.provideService(VppClient.VppClient, client)
        )
      }),
    // The soak stops starting cycles when its time is up; this only ends one that hangs.
    (minutes + 45) * 60_000
  )
})
