import { assert, describe, it, layer } from "@effect/vitest"
import * as Resources from "@vppkit/core/Resources"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Location from "@vppkit/fleet/Location"
import * as Schedules from "@vppkit/fleet/Schedules"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { postgres, serverUrl, TestDatabase } from "../../node/test/support/postgres.js"
import { compare } from "../../sync/test/support/store.js"
import * as FleetCommand from "../src/internal/fleetCommand.js"
import { temporaryDirectory, writeToken } from "./helpers/cli.js"
import { assertBuilt, assertFailure, run, start } from "./support/bin.js"

/**
 * `vppkit fleet …` with the built CLI: two simulated libraries (north, with two tokens; south, with one) served
 * behind one base URL as Apple serves every library (a request goes to the library whose token it carries), a fleet
 * key, `fleet add` of the three tokens, `fleet list`, `fleet sync`, and `fleet run` stopped by SIGTERM.
 */

const north: Simulator.Settings = {
  seed: 81,
  orgName: "North School",
  tokens: 2,
  pageSize: 25,
  records: { assets: 3, users: 40, assignments: 120 }
}
const south: Simulator.Settings = { seed: 82, orgName: "South School", pageSize: 25, records: { assets: 2, users: 15, assignments: 50 } }

/**
 * One simulator in front of several: each request handled by the simulator whose token it carries, after `before`
 * (told of each request as it begins, which the simulator's log is not: it has a request once answered, so never a
 * stalled one; and able to hold it).
 */
const routing = (
  simulators: ReadonlyArray<Simulator.Service>,
  before: (simulator: Simulator.Service, path: string) => Effect.Effect<void>
): Simulator.Service => ({
  ...simulators[0]!,
  handle: (request) => {
    const auth = String(request.headers["authorization"] ?? "")
    const target = simulators.find((s) =>
      s.tokens.some((t) => auth === `Bearer ${Redacted.value(t.value)}` || request.body.includes(Redacted.value(t.value)))
    ) ?? simulators[0]!
    return Effect.zipRight(before(target, request.path), target.handle(request))
  }
})

/** Every text of a token that must never be stored or printed: the file's content, its secret, their hex. */
const secretsOf = (token: Redacted.Redacted<string>): Array<string> => {
  const text = Redacted.value(token)
  const secret = (JSON.parse(Buffer.from(text, "base64").toString("utf8")) as { readonly token: string }).token
  return [text, secret, Buffer.from(text).toString("hex"), Buffer.from(secret).toString("hex")]
}

/** How each resource of the location's partition differs from its simulator (missing, extra, different keys). */
const differences = (db: string, uId: string, simulator: Simulator.Service) =>
  Effect.gen(function*() {
    const result: Record<string, unknown> = {}
    for (const resource of Resources.all) {
      const { different, extra, missing } = yield* compare(simulator, resource).pipe(SyncStore.forLocation(uId))
      result[resource.name] = { missing: [...missing].sort(), extra: [...extra].sort(), different: [...different].sort() }
    }
    return result
  }).pipe(Effect.provide(SqlSyncStore.layer.pipe(Layer.provideMerge(NodeDatabase.layer(db)))), Effect.orDie)

/** Asserts each location's partition of the database equals its simulator, for every resource. */
const assertEqualsSimulators = (db: string, locations: ReadonlyArray<readonly [string, Simulator.Service]>) =>
  Effect.gen(function*() {
    for (const [uId, simulator] of locations) {
      for (const resource of Resources.all) {
        const { different, extra, missing, server } = yield* compare(simulator, resource).pipe(SyncStore.forLocation(uId))
        assert.isAbove(server.size, 0, `${resource.name}: the server has no records; the test proves nothing`)
        assert.deepStrictEqual({ missing, extra, different }, { missing: [], extra: [], different: [] }, `${uId} ${resource.name}`)
      }
    }
  }).pipe(Effect.provide(SqlSyncStore.layer.pipe(Layer.provideMerge(NodeDatabase.layer(db)))), Effect.orDie)

interface ListedToken {
  readonly name: string | null
  readonly fingerprint: string
  readonly uId: string | null
  readonly location: string | null
  readonly orgName: string
  readonly expiresAt: string
  readonly daysLeft: number
  readonly expired: boolean
}

/**
 * The whole story on `db`: no key refused, 3 tokens added, listed, synced to equality, `fleet run` syncing and stopped
 * by SIGTERM in a sync, no token text anywhere (and not in the SQLite file, for a file), remove.
 */
const scenario = (db: string, sqliteFile: boolean) =>
    Effect.gen(function*() {
      yield* assertBuilt
      const directory = yield* temporaryDirectory
      const keyFile = path.join(directory, "fleet.key")
      fs.writeFileSync(keyFile, crypto.randomBytes(32), { mode: 0o600 })
      // the runner polls its storage every 100 ms, and a stop interrupts a running sync at once (VPPKIT_FLEET_POLL_MILLIS)
      const env = { VPPKIT_FLEET_KEY_FILE: keyFile, VPPKIT_FLEET_POLL_MILLIS: "100" }
      const simulators = [yield* Simulator.make(north), yield* Simulator.make(south)] as const
      // north's requests as they are handed to its simulator (`begun`); while `hold` is set, each waits for it first
      // (`held` counts them)
      const begun: Array<string> = []
      let hold: Deferred.Deferred<void> | undefined
      let held = 0
      const server = yield* Effect.orDie(SimulatorServer.serve(routing(simulators, (target, path) =>
        Effect.suspend(() => {
          if (target !== simulators[0]) return Effect.void
          const record = Effect.sync(() => begun.push(path))
          if (hold === undefined) return record
          held++
          return Effect.zipRight(Deferred.await(hold), record)
        })
      )))
      const files = [
        writeToken(directory, simulators[0].tokens[0]!.value, "north.vpptoken"),
        writeToken(directory, simulators[0].tokens[1]!.value, "north-2.vpptoken"),
        writeToken(directory, simulators[1].tokens[0]!.value, "south.vpptoken")
      ]
      const names = ["north", "north-2", "south"]
      const secrets = [...simulators[0].tokens, ...simulators[1].tokens].flatMap((t) => secretsOf(t.value))

      // no key, no fleet: a usage error, one line
      const noKey = yield* run(["fleet", "add", "--token-file", files[0]!, "--base-url", server.baseUrl, "--db", db])
      assert.include(assertFailure(noKey, 2), "VPPKIT_FLEET_KEY_FILE")
      if (sqliteFile) assert.isFalse(fs.existsSync(db), "nothing was created without the key")
      // nor by fleet sync or fleet run (not even the runner's lock, `<db>-lock`)
      for (const command of ["sync", "run"]) {
        const refused = yield* run(["fleet", command, "--base-url", server.baseUrl, "--db", db])
        assert.include(assertFailure(refused, 2), "VPPKIT_FLEET_KEY_FILE", command)
        if (sqliteFile) assert.deepStrictEqual(fs.readdirSync(path.dirname(db)).filter((f) => f.startsWith(path.basename(db))), [], command)
      }

      for (const [i, file] of files.entries()) {
        const added = yield* run(["fleet", "add", "--token-file", file, "--name", names[i]!, "--base-url", server.baseUrl, "--db", db], { env })
        assert.strictEqual(added.code, 0, added.stderr)
        assert.match(added.stderr, new RegExp(`^added ${names[i]}: location .*\\(uId \\d+\\)`))
      }
      // the same token again is refused
      const again = yield* run(["fleet", "add", "--token-file", files[0]!, "--base-url", server.baseUrl, "--db", db], { env })
      assertFailure(again, 1)

      const listed = yield* run(["fleet", "list", "--db", db, "-o", "json"], { env })
      assert.strictEqual(listed.code, 0, listed.stderr)
      const tokens = JSON.parse(listed.stdout) as ReadonlyArray<ListedToken>
      assert.deepStrictEqual(tokens.map((t) => t.name).sort(), [...names].sort())
      const uIdOf = (name: string) => tokens.find((t) => t.name === name)!.uId!
      assert.strictEqual(uIdOf("north"), uIdOf("north-2"))
      assert.notStrictEqual(uIdOf("north"), uIdOf("south"))
      assert.strictEqual(new Set(tokens.map((t) => t.uId)).size, 2)
      for (const t of tokens) {
        assert.strictEqual(t.expired, false)
        assert.isAbove(t.daysLeft, 0)
        assert.strictEqual(t.orgName, t.name!.startsWith("north") ? "North School" : "South School")
      }
      const table = yield* run(["fleet", "list", "--db", db, "-o", "table"], { env })
      assert.strictEqual(table.code, 0, table.stderr)
      assert.deepStrictEqual(table.stdout.split("\n")[0]!.trim().split(/\s{2,}/), ["name", "uId", "location", "org", "expires", "days left"])

      const north_ = uIdOf("north")
      const south_ = uIdOf("south")
      const sync = yield* run(["fleet", "sync", "--db", db, "--base-url", server.baseUrl], { env })
      assert.strictEqual(sync.code, 0, sync.stderr)
      assert.strictEqual(sync.stdout.trim().split("\n").length, 2, sync.stdout)
      assert.include(sync.stdout, `location ${north_}: synced`)
      assert.include(sync.stdout, `location ${south_}: synced`)
      yield* assertEqualsSimulators(db, [[north_, simulators[0]], [south_, simulators[1]]])

      // one location by its token's name, full
      const one = yield* run(["fleet", "sync", "south", "--full", "--db", db, "--base-url", server.baseUrl], { env })
      assert.strictEqual(one.code, 0, one.stderr)
      assert.strictEqual(one.stdout.trim(), one.stdout.trim().split("\n")[0])
      assert.match(one.stdout, new RegExp(`^location ${south_}: synced \\(full`))
      const unknown = yield* run(["fleet", "sync", "nowhere", "--db", db, "--base-url", server.baseUrl], { env })
      assert.include(assertFailure(unknown, 2), "nowhere")

      // a retention of the cluster's messages that is not a duration: refused, one line, exit 2
      const badRetention = yield* run(["fleet", "run", "--db", db, "--base-url", server.baseUrl], {
        env: { ...env, VPPKIT_FLEET_MESSAGE_RETENTION: "soon" }
      })
      assert.include(assertFailure(badRetention, 2), "VPPKIT_FLEET_MESSAGE_RETENTION")

      // fleet run: incremental every 2 seconds (the test's cron; --every counts minutes); changes on north arrive
      yield* simulators[0].churn("assignments", { inserts: 6, updates: 4 })
      yield* simulators[1].churn("users", { inserts: 3, updates: 2 })
      const running = yield* start(["fleet", "run", "--db", db, "--base-url", server.baseUrl], {
        env: { ...env, VPPKIT_FLEET_INCREMENTAL_CRON: "*/2 * * * * *" }
      })
      for (let i = 0; ; i++) {
        const { stderr } = yield* running.output
        if ((stderr.match(new RegExp(`location (${north_}|${south_}): synced`, "g")) ?? []).length >= 2) break
        if (running.child.exitCode !== null) assert.fail(`fleet run ended: ${stderr}`)
        if (i > 3000) assert.fail(`fleet run synced nothing: ${stderr}`)
        yield* Effect.sleep("20 millis")
      }
      yield* assertEqualsSimulators(db, [[north_, simulators[0]], [south_, simulators[1]]])
      const busy = yield* run(["fleet", "sync", "--db", db, "--base-url", server.baseUrl], { env })
      const second = sqliteFile ? yield* run(["fleet", "run", "--db", db, "--base-url", server.baseUrl], { env }) : busy
      if (sqliteFile) {
        // SQLite: one fleet runner per database: a fleet sync while fleet run runs is refused at once (exit 6), and so
        // is a second fleet run; neither syncs
        assert.match(assertFailure(busy, 6), /another vppkit/)
        assert.match(assertFailure(second, 6), /another vppkit/)
      } else {
        // PostgreSQL: fleet run is a runner of the database's cluster; a fleet sync goes through it (the runner syncs)
        assert.strictEqual(busy.code, 0, busy.stderr)
        assert.match(busy.stderr, /^fleet sync: 2 location\(s\) through the runners of /)
        assert.include(busy.stdout, `location ${north_}: synced`)
        assert.include(busy.stdout, `location ${south_}: synced`)
      }
      // SIGTERM while the next syncs run: the process ends cleanly (a stop is its normal end), and each resource is
      // either as before that sync (rolled back) or as on the server (committed), never in between
      // north's next sync is held at its first request (the ticks come every 2 seconds: no sync may write the changes
      // before `pending` is read), then let go
      hold = yield* Deferred.make<void>()
      for (let i = 0; held === 0; i++) {
        if (i > 3000) assert.fail(`no further sync: ${(yield* running.output).stderr}`)
        yield* Effect.sleep("5 millis")
      }
      const equal = yield* differences(db, north_, simulators[0])
      yield* simulators[0].churn("assignments", { inserts: 9, updates: 7 })
      yield* simulators[0].churn("users", { inserts: 5, updates: 3 })
      const pending = yield* differences(db, north_, simulators[0])
      // that sync of north stalls at its users request (never answered), so once that request has begun it cannot
      // end before the SIGTERM, nor write the users' changes
      yield* simulators[0].inject({ _tag: "Stall" }, { path: "/v2/users" })
      begun.length = 0
      yield* Deferred.succeed(hold, undefined)
      hold = undefined
      for (let i = 0; !begun.some((p) => /\/v2\/users\/?$/.test(p)); i++) {
        if (i > 3000) assert.fail(`no further sync: ${(yield* running.output).stderr}`)
        yield* Effect.sleep("5 millis")
      }
      running.child.kill("SIGTERM")
      const stopped = yield* running.exit
      assert.strictEqual(stopped.code, 0, stopped.stderr)
      assert.notMatch(stopped.stderr, /internal error|failed|No healthy runners/, stopped.stderr)
      const afterStop = yield* differences(db, north_, simulators[0])
      assert.notStrictEqual(JSON.stringify(pending["assignments"]), JSON.stringify(equal["assignments"]))
      for (const resource of Resources.all) {
        const now = JSON.stringify(afterStop[resource.name])
        assert.oneOf(now, [JSON.stringify(equal[resource.name]), JSON.stringify(pending[resource.name])], resource.name)
      }
      // the stop came during the users run: none of its changes were written
      assert.notStrictEqual(JSON.stringify(pending["users"]), JSON.stringify(equal["users"]))
      assert.strictEqual(JSON.stringify(afterStop["users"]), JSON.stringify(pending["users"]))
      // nothing half-written: the database opens, and a sync after the stop brings each location to equality
      const after = yield* run(["fleet", "sync", "--db", db, "--base-url", server.baseUrl], { env })
      assert.strictEqual(after.code, 0, after.stderr)
      yield* assertEqualsSimulators(db, [[north_, simulators[0]], [south_, simulators[1]]])

      // no token text in any output, nor in the database (nor its WAL)
      for (const output of [listed, table, sync, one, busy, second, stopped, after].flatMap((r) => [r.stdout, r.stderr])) {
        for (const secret of secrets) assert.notInclude(output, secret)
      }
      for (const file of (sqliteFile ? [db, `${db}-wal`] : []).filter((f) => fs.existsSync(f))) {
        const bytes = fs.readFileSync(file).toString("latin1")
        for (const secret of secrets) assert.notInclude(bytes, secret, file)
      }

      // remove by name: the list shrinks
      const removed = yield* run(["fleet", "remove", "north-2", "--db", db], { env })
      assert.strictEqual(removed.code, 0, removed.stderr)
      const rest = yield* run(["fleet", "list", "--db", db, "-o", "json"], { env })
      assert.deepStrictEqual((JSON.parse(rest.stdout) as ReadonlyArray<ListedToken>).map((t) => t.name).sort(), ["north", "south"])
      assert.include(assertFailure(yield* run(["fleet", "remove", "north-2", "--db", db], { env }), 2), "north-2")
    })

describe("vppkit fleet's command line", () => {
  it("shows the schedules' and pools' defaults as Schedules and Location have them (the command line does not load @vppkit/fleet)", () => {
    assert.strictEqual(FleetCommand.defaultEvery, Schedules.defaultEvery)
    assert.strictEqual(FleetCommand.defaultFullCron, Schedules.defaultFullCron)
    assert.strictEqual(FleetCommand.defaultFullWindow, Schedules.defaultFullWindow)
    assert.strictEqual(FleetCommand.defaultIncrementalConcurrency, Location.defaultIncrementalConcurrency)
    assert.strictEqual(FleetCommand.defaultFullConcurrency, Location.defaultFullConcurrency)
  })
})

// the two backends' stories at once (each has its own simulators, key, database and processes): most of their time
// is the CLI's start-ups, each one core's work
describe.concurrent("vppkit fleet on SQLite and on PostgreSQL, at once", () => {
  describe("vppkit fleet on SQLite", () => {
    it.scopedLive("add 3 tokens of 2 libraries, list them (never a token), sync each location to equality, run on a schedule, SIGTERM", () =>
      Effect.gen(function*() {
        const directory = yield* temporaryDirectory
        yield* scenario(path.join(directory, "fleet.sqlite"), true)
      }), 180_000)
  })

  describe.skipIf(serverUrl === undefined)("vppkit fleet on PostgreSQL (a runner of the database's cluster)", () => {
    layer(serverUrl === undefined ? postgres("postgres://unused@127.0.0.1/unused") : postgres(serverUrl), {
      excludeTestServices: true
    })((it) => {
      it.scoped("add 3 tokens of 2 libraries, list them, sync each location to equality, run on a schedule, SIGTERM", () =>
        Effect.gen(function*() {
          const db = yield* (yield* TestDatabase).fresh
          yield* scenario(db, false)
        }), 180_000)
    })
  })
})
