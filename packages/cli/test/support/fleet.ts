import * as SqlClient from "@effect/sql/SqlClient"
import { assert } from "@effect/vitest"
import * as Resources from "@vppkit/core/Resources"
import * as FleetKey from "@vppkit/fleet/FleetKey"
import * as TokenStore from "@vppkit/fleet/TokenStore"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { compare } from "../../../sync/test/support/store.js"
import { type Running, start } from "./bin.js"

/**
 * A fleet of 30 locations for the tests of `vppkit fleet run` with the built CLI (fleetCluster.test.ts on
 * PostgreSQL, fleetSqlite.test.ts on SQLite): simulators with random faults (every 5th library with a second
 * token), their tokens stored as `fleet add` stores them, a base URL per runner that records every request it
 * routes (so each request is known to come from its runner), and the waits and checks the tests share.
 */

export const locations = 30

/** Every 5th library has a second token (one location, two tokens). */
export const tokensOf = (i: number) => (i % 5 === 0 ? 2 : 1)

const faults: ReadonlyArray<Simulator.Fault> = [
  { _tag: "RateLimited", retryAfter: { seconds: 0 } },
  { _tag: "Unavailable", retryAfter: { seconds: 0 } },
  { _tag: "InternalError" },
  { _tag: "BadGateway" },
  { _tag: "MalformedJson" },
  { _tag: "ConnectionReset" },
  { _tag: "ZeroRecordBatch" }
]

/** How the simulators serve: each request's latency (default 10 ms), records per page (default 25). */
export interface Serving {
  readonly latency?: Duration.DurationInput
  readonly pageSize?: number
}

/** Location `i`'s simulator. */
export const settingsOf = (i: number, serving?: Serving): Simulator.Settings => ({
  seed: 900 + i,
  orgName: `School ${i}`,
  tokens: tokensOf(i),
  pageSize: serving?.pageSize ?? 25,
  latency: serving?.latency ?? "10 millis",
  records: { assets: 2, users: 8, assignments: 24 },
  subscriptions: { subscriptions: 2, assignments: 4, admins: 1 },
  randomFaults: { probability: 0.04, faults }
})

/** One request as a runner's base URL saw it: which runner, which location, when it began and ended. */
export interface Seen {
  readonly runner: number
  readonly location: number
  readonly path: string
  readonly begin: number
  end: number
}

/** A request for data (not Client Config). */
export const isData = (seen: Seen) => !seen.path.endsWith("/config")

export interface Runner {
  readonly running: Running
  readonly index: number
  /** What the runner printed once it was up (the first match of its `ready` pattern). */
  readonly ready: RegExpExecArray
}

export interface Fleet {
  readonly simulators: ReadonlyArray<Simulator.Service>
  readonly uIds: ReadonlyArray<string>
  /** Every request, as the base URL of the runner that sent it saw it. */
  readonly seen: Array<Seen>
  /** The runners started, by index (a runner killed stays). */
  readonly runners: Array<Runner>
  /** The environment of `fleet run`: the key file, a 200 ms poll, an incremental sync of every location every 2 s. */
  readonly env: Readonly<Record<string, string>>
  /** Stores the tokens as `fleet add` stores them (the command itself is tested in fleet.test.ts). */
  readonly addTokens: Effect.Effect<void>
  /** Runs `body` on the fleet's database (a connection of the test's own). */
  readonly inDatabase: <A, E>(body: Effect.Effect<A, E, SqlClient.SqlClient | SyncStore.SyncStore>) => Effect.Effect<A>
  /**
   * Starts a runner: `args(baseUrl)` with a base URL of its own (its requests are known as its own), then waits
   * until its stderr matches `ready`.
   */
  readonly startRunner: (
    args: (baseUrl: string) => ReadonlyArray<string>,
    ready: RegExp
  ) => Effect.Effect<Runner, never, Scope.Scope>
  /**
   * Waits until every location's last run is a success that started after `since` (ISO), then checks every
   * location's tables against its simulator. Fails if a runner ends other than by a signal, or after 90 s.
   */
  readonly allSyncedSince: (since: string, what: string) => Effect.Effect<void>
  /** Waits until `runner` has a data request in flight; answers the locations it is syncing. */
  readonly midSync: (runner: number) => Effect.Effect<Set<number>>
  /** Changes every simulator's data: assignments and users inserted and updated. */
  readonly churn: Effect.Effect<void>
}

export const isoNow = () => new Date().toISOString()

/**
 * The fleet on `db` (a PostgreSQL URL or a SQLite file), its key in `directory`, its simulators serving as
 * `serving` says.
 */
export const makeFleet = (
  db: string,
  directory: string,
  serving?: Serving
): Effect.Effect<Fleet, never, Scope.Scope> =>
  Effect.gen(function*() {
    const key = crypto.randomBytes(32)
    const keyFile = path.join(directory, "fleet.key")
    fs.writeFileSync(keyFile, key, { mode: 0o600 })
    const database = NodeDatabase.layer(db)

    const simulators = yield* Effect.forEach(
      Array.from({ length: locations }, (_, i) => i),
      (i) => Simulator.make(settingsOf(i, serving))
    )
    const byToken = new Map<string, number>()
    simulators.forEach((s, i) => s.tokens.forEach((t) => byToken.set(Redacted.value(t.value), i)))
    const uIds = simulators.map((simulator) => simulator.uId)
    assert.strictEqual(new Set(uIds).size, locations)
    for (const simulator of simulators) yield* simulator.clearLog

    const seen: Array<Seen> = []
    const routed = (runner: number): Simulator.Service => ({
      ...simulators[0]!,
      handle: (request) =>
        Effect.suspend(() => {
          const auth = String(request.headers["authorization"] ?? "")
          const token = auth.startsWith("Bearer ") ? auth.slice("Bearer ".length) : undefined
          let location = token === undefined ? undefined : byToken.get(token)
          if (location === undefined) {
            for (const [text, i] of byToken) if (request.body.includes(text)) location = i
          }
          const entry: Seen = { runner, location: location ?? -1, path: request.path, begin: performance.now(), end: Infinity }
          seen.push(entry)
          return (simulators[location ?? 0]!).handle(request).pipe(
            Effect.ensuring(Effect.sync(() => entry.end = performance.now()))
          )
        })
    })

    const addTokens = Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      for (const [i, simulator] of simulators.entries()) {
        for (const [j, token] of simulator.tokens.entries()) {
          yield* store.add({ token: token.value, name: `school-${i}${j === 0 ? "" : `-${j + 1}`}`, uId: uIds[i]! })
        }
      }
    }).pipe(
      Effect.provide(TokenStore.layer.pipe(Layer.provideMerge(Layer.merge(database, FleetKey.layer(key))))),
      Effect.scoped,
      Effect.orDie
    )

    const env = {
      VPPKIT_FLEET_KEY_FILE: keyFile,
      VPPKIT_FLEET_POLL_MILLIS: "200",
      VPPKIT_FLEET_INCREMENTAL_CRON: "*/2 * * * * *"
    }

    const runners: Array<Runner> = []
    let launched = 0
    const startRunner = (args: (baseUrl: string) => ReadonlyArray<string>, ready: RegExp) =>
      Effect.suspend(() => {
        const index = launched++
        return Effect.gen(function*() {
          const server = yield* Effect.orDie(SimulatorServer.serve(routed(index)))
          const running = yield* start(args(server.baseUrl), { env })
          for (let i = 0;; i++) {
            const { stderr } = yield* running.output
            const match = ready.exec(stderr)
            if (match !== null) {
              const runner = { running, index, ready: match }
              runners[index] = runner
              return runner
            }
            if (running.child.exitCode !== null || i > 1500) assert.fail(`runner ${index} did not start: ${stderr}`)
            yield* Effect.sleep("20 millis")
          }
        })
      })

    const inDatabase = <A, E>(body: Effect.Effect<A, E, SqlClient.SqlClient | SyncStore.SyncStore>) =>
      Effect.orDie(Effect.scoped(Effect.provide(body, SqlSyncStore.layer.pipe(Layer.provideMerge(database)))))

    // allSyncedSince asks 10 times a second, for minutes: on one connection of the test's own, opened at its first
    // question (a connection and the store's migrations each time competed with the runners for the CPU and the
    // database's locks)
    const polling = yield* Layer.memoize(database)

    const allSyncedSince = (since: string, what: string) =>
      Effect.gen(function*() {
        for (let i = 0;; i++) {
          const rows = yield* Effect.orDie(Effect.provide(
            Effect.flatMap(SqlClient.SqlClient, (sql) =>
              sql<{ readonly uid: string }>`SELECT uid FROM vppkit_fleet_outcomes WHERE result = 'synced' AND started_at > ${since}`),
            polling
          ))
          if (rows.length === locations) break
          for (const { index, running } of runners) {
            if (running.child.exitCode !== null && running.child.signalCode === null) {
              assert.fail(`runner ${index} ended: ${(yield* running.output).stderr}`)
            }
          }
          if (i > 900) {
            // the locations left out: their last runs, and what the runners said about them
            const synced = new Set(rows.map((r) => r.uid))
            const missing = uIds.flatMap((uId, location) => synced.has(uId) ? [] : [{ uId, location }])
            const last = yield* Effect.orDie(Effect.provide(
              Effect.flatMap(SqlClient.SqlClient, (sql) =>
                sql<Record<string, unknown>>`SELECT uid, full_sync, result, started_at, finished_at, failure_tag, failure_message,
                  consecutive_failures FROM vppkit_fleet_outcomes WHERE uid IN ${sql.in(missing.map((m) => m.uId))}`),
              polling
            ))
            const outputs = yield* Effect.forEach(runners, (r) => r.running.output)
            const about = missing.map(({ location, uId }) => {
              const lines = outputs.flatMap((o, runner) =>
                o.stderr.split("\n").filter((line) => line.includes(uId)).slice(-5).map((line) => `  runner ${runner}: ${line}`))
              return `location ${location} (${uId}), last run: ${JSON.stringify(last.find((r) => r.uid === uId) ?? null)}\n${lines.join("\n")}`
            })
            const stderr = outputs.map((o) => o.stderr.slice(-2000)).join("\n---\n")
            assert.fail(`${what}: ${rows.length} of ${locations} locations synced after ${since} within 90 s\n${about.join("\n")}\n---\n${stderr}`)
          }
          yield* Effect.sleep("100 millis")
        }
        yield* inDatabase(Effect.forEach([...simulators.entries()], ([i, simulator]) =>
          Effect.gen(function*() {
            for (const resource of Resources.all) {
              const { different, extra, missing, server } = yield* compare(simulator, resource).pipe(SyncStore.forLocation(uIds[i]!))
              assert.isAbove(server.size, 0, `${resource.name}: the server has no records; the test proves nothing`)
              assert.deepStrictEqual({ missing, extra, different }, { missing: [], extra: [], different: [] }, `${what}: location ${i} ${resource.name}`)
            }
          }), { concurrency: 6, discard: true }))
      })

    const midSync = (runner: number) =>
      Effect.gen(function*() {
        for (let i = 0;; i++) {
          const now = performance.now()
          const busy = seen.filter((s) => s.runner === runner && isData(s) && (s.end === Infinity || now - s.end < 5))
          if (busy.length > 0) return new Set(busy.map((s) => s.location))
          if (i > 6000) assert.fail(`runner ${runner} synced nothing for 30 s`)
          yield* Effect.sleep("5 millis")
        }
      })

    const churn = Effect.forEach(simulators, (simulator) =>
      Effect.zipRight(
        simulator.churn("assignments", { inserts: 2, updates: 2 }),
        simulator.churn("users", { inserts: 1, updates: 1 })
      ), { discard: true })

    return { simulators, uIds, seen, runners, env, addTokens, inDatabase, startRunner, allSyncedSince, midSync, churn }
  })
