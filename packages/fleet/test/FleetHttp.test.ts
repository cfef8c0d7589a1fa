import * as TestRunner from "@effect/cluster/TestRunner"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, layer } from "@effect/vitest"
import * as VppClient from "@vppkit/core/VppClient"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as Sync from "@vppkit/sync/Sync"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import { createServer } from "node:http"
import * as FleetHttp from "../src/FleetHttp.js"
import * as FleetKey from "../src/FleetKey.js"
import * as FleetStatus from "../src/FleetStatus.js"
import * as Location from "../src/Location.js"
import * as TokenStore from "../src/TokenStore.js"
import { sqlite, TestDatabase } from "../../node/test/support/postgres.js"

/**
 * The runner's HTTP port on a real socket (port 0): after syncs through the Location entity (TestRunner, the
 * in-memory simulator with injected 429s and a 503, SQLite), `/healthz`, `/status` and `/metrics` answer what the
 * syncs did — the metrics checked against the simulator's request log and the outcomes.
 */

const settings: Simulator.Settings = { seed: 5, pageSize: 20, records: { assets: 5, users: 30, assignments: 50 } }

const clientOptions = { baseUrl: Simulator.testBaseUrl, maxRequestsPerSecond: Infinity, retry: { baseDelay: 0 }, rateLimitPause: 0 }

const fleet = (db: string) =>
  FleetHttp.layer.pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(Location.layer),
    Layer.provideMerge(TestRunner.layer),
    Layer.provideMerge(Layer.merge(TokenStore.layer, FleetStatus.layer)),
    Layer.provideMerge(SqlSyncStore.layer),
    Layer.provideMerge(Layer.merge(NodeDatabase.layer(db), FleetKey.layer(crypto.randomBytes(32)))),
    Layer.provideMerge(Simulator.layerHttpClient),
    Layer.provideMerge(Simulator.layer(settings)),
    Layer.provideMerge(Layer.succeed(Location.ClientOptions, clientOptions))
  )

const get = (path: string) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const address = server.address as HttpServer.TcpAddress
    return yield* Effect.promise(async () => {
      const response = await fetch(`http://127.0.0.1:${address.port}${path}`)
      return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() }
    })
  })

/** The samples of a Prometheus text: `name{labels}` → value. */
const samples = (text: string): Map<string, number> =>
  new Map(
    text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).map((line) => {
      const at = line.lastIndexOf(" ")
      return [line.slice(0, at), Number(line.slice(at + 1))]
    })
  )

describe("FleetHttp", () => {
  layer(sqlite, { excludeTestServices: true })((it) => {
    it.scoped("/healthz, /status and /metrics on port 0 answer what the syncs did", () =>
      Effect.gen(function*() {
        const db = yield* (yield* TestDatabase).fresh
        yield* Effect.gen(function*() {
          const simulator = yield* Simulator.Simulator
          const client = yield* VppClient.make({ ...clientOptions, token: simulator.token })
          const uId = (yield* Sync.learnLocation.pipe(Effect.provideService(VppClient.VppClient, client))).uId
          yield* Effect.flatMap(TokenStore.TokenStore, (tokens) => tokens.add({ token: simulator.token.value, uId, name: "sim" }))
          yield* simulator.clearLog

          const health = yield* get("/healthz")
          assert.deepStrictEqual([health.status, health.body], [200, "ok\n"])

          yield* simulator.inject({ _tag: "RateLimited" }, { path: "/v2/assets", times: 2 })
          yield* simulator.inject({ _tag: "Unavailable" }, { path: "/v2/users", times: 1 })
          const locations = yield* Location.Location.client
          const outcome = yield* locations(uId).Sync({ full: false })
          assert.strictEqual(outcome.result, "synced")
          // a location without a token: a failed sync
          const failed = yield* Effect.flip(locations("4242").Sync({ full: true }))
          assert.strictEqual(failed._tag, "LocationSyncError")

          // /status: both locations, from the database
          const statusResponse = yield* get("/status")
          assert.strictEqual(statusResponse.status, 200)
          assert.include(statusResponse.type, "application/json")
          const status = JSON.parse(statusResponse.body) as {
            readonly runner: { readonly activeEntities: number }
            readonly locations: ReadonlyArray<{
              readonly uId: string
              readonly ownedHere: boolean
              readonly nextIncrementalAt: string | null
              readonly nextFullAt: string | null
              readonly tokenExpiresAt: string | undefined
              readonly tokenDaysLeft: number | undefined
              readonly tokens: ReadonlyArray<{ readonly name: string; readonly fingerprint: string; readonly expiresAt: string }>
              readonly resources: ReadonlyArray<{ readonly resource: string; readonly records: number }>
              readonly lastRun: {
                readonly result: string
                readonly records: number
                readonly retries: number
                readonly consecutiveFailures: number
                readonly failure?: { readonly tag: string }
              }
            }>
          }
          assert.strictEqual(status.runner.activeEntities, 2)
          assert.deepStrictEqual(status.locations.map((l) => l.uId), ["4242", uId].sort())
          const synced = status.locations.find((l) => l.uId === uId)!
          // one runner: it owns every shard
          assert.deepStrictEqual(status.locations.map((l) => l.ownedHere), [true, true])
          // no schedules started on this database: no next syncs known (fleet status's test has a runner's)
          assert.deepStrictEqual(status.locations.map((l) => [l.nextIncrementalAt, l.nextFullAt]), [[null, null], [null, null]])
          assert.strictEqual(synced.lastRun.result, "synced")
          assert.strictEqual(synced.lastRun.records, outcome.resources.reduce((sum, r) => sum + r.records, 0))
          assert.deepStrictEqual(
            synced.resources.map((r) => [r.resource, r.records]).sort(),
            outcome.resources.map((r) => [r.resource, r.rows]).sort()
          )
          assert.strictEqual(synced.tokenExpiresAt, simulator.token.expiresAt.toISOString())
          assert.deepStrictEqual(synced.tokens.map((t) => [t.name, t.expiresAt]), [["sim", simulator.token.expiresAt.toISOString()]])
          assert.notInclude(statusResponse.body, Redacted.value(simulator.token.value))
          const other = status.locations.find((l) => l.uId === "4242")!
          assert.strictEqual(other.lastRun.result, "failed")
          assert.strictEqual(other.lastRun.failure?.tag, "TokenNotFoundError")
          assert.strictEqual(other.lastRun.consecutiveFailures, 1)
          assert.deepStrictEqual(other.resources, [])

          // /metrics: against the simulator's log and the outcomes
          const metricsResponse = yield* get("/metrics")
          assert.strictEqual(metricsResponse.status, 200)
          assert.include(metricsResponse.type, "text/plain")
          assert.include(metricsResponse.body, "# TYPE vppkit_fleet_syncs_total counter\n")
          assert.include(metricsResponse.body, "# TYPE vppkit_fleet_sync_duration_seconds histogram\n")
          const metrics = samples(metricsResponse.body)
          assert.strictEqual(metrics.get("vppkit_fleet_syncs_total{mode=\"incremental\",result=\"synced\"}"), 1)
          assert.strictEqual(metrics.get("vppkit_fleet_syncs_total{mode=\"full\",result=\"failed\"}"), 1)
          assert.strictEqual(metrics.get("vppkit_fleet_sync_duration_seconds_count"), 2)
          for (const r of outcome.resources) {
            assert.strictEqual(metrics.get(`vppkit_fleet_records_total{resource="${r.resource}"}`), r.records, r.resource)
          }
          const log = yield* simulator.log
          const byStatus = new Map<string, number>()
          for (const entry of log) byStatus.set(String(entry.status), (byStatus.get(String(entry.status)) ?? 0) + 1)
          assert.strictEqual(byStatus.get("429"), 2)
          assert.strictEqual(byStatus.get("503"), 1)
          for (const [code, count] of byStatus) {
            assert.strictEqual(metrics.get(`vppkit_fleet_requests_total{status="${code}"}`), count, code)
          }
          assert.strictEqual(metrics.get("vppkit_fleet_rate_limited_total"), 2)
          assert.strictEqual(metrics.get("vppkit_fleet_retries_total"), 3)
          assert.strictEqual(
            outcome.resources.reduce((sum, r) => sum + r.retries, 0),
            3,
            "the outcome's retries are the client's"
          )
          const daysLeft = metrics.get(`vppkit_fleet_token_days_left{location="${uId}"}`)!
          const expected = (simulator.token.expiresAt.getTime() - Date.now()) / 86_400_000
          assert.isAtMost(Math.abs(daysLeft - expected), 0.01)
          assert.isUndefined(metrics.get("vppkit_fleet_token_days_left{location=\"4242\"}"))

          const missing = yield* get("/nothing")
          assert.strictEqual(missing.status, 404)
        }).pipe(Effect.provide(fleet(db)))
      }))
  })
})
