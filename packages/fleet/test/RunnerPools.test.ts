import * as EntityId from "@effect/cluster/EntityId"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, layer } from "@effect/vitest"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as FleetKey from "../src/FleetKey.js"
import * as FleetStatus from "../src/FleetStatus.js"
import * as Location from "../src/Location.js"
import * as TokenStore from "../src/TokenStore.js"
import { sqlite, TestDatabase } from "../../node/test/support/postgres.js"

/**
 * Two runners of one cluster in this process: two `Sharding`s over one in-memory message storage and one in-memory
 * runner storage whose shard locks each go to one runner (`@effect/cluster`'s own memory storage grants every shard
 * to every runner). A message to an entity of the other runner goes through the message storage, as between
 * processes with SQL storage. Each runner has its own `Location` entities (its own pools) and its own HttpClient,
 * which names the runner in each request it holds; the tokens, outcomes and records are in one SQLite database.
 */

/** Shard locks in memory, each held by one runner at most. */
const sharedRunnerStorage = Effect.sync(() => {
  const runners = new Map<string, string>()
  const owners = new Map<string, string>()
  let machine = 0
  return RunnerStorage.makeEncoded({
    getRunners: Effect.sync(() => Array.from(runners.values(), (runner) => [runner, true] as const)),
    register: (address, runner) =>
      Effect.sync(() => {
        runners.set(address, runner)
        return machine++
      }),
    unregister: (address) => Effect.sync(() => void runners.delete(address)),
    setRunnerHealth: () => Effect.void,
    acquire: (address, shardIds) =>
      Effect.sync(() => {
        for (const shard of shardIds) if (!owners.has(shard)) owners.set(shard, address)
        return [...owners].flatMap(([shard, owner]) => owner === address ? [shard] : [])
      }),
    refresh: (address, shardIds) => Effect.sync(() => shardIds.filter((shard) => owners.get(shard) === address)),
    release: (address, shard) => Effect.sync(() => void (owners.get(shard) === address && owners.delete(shard))),
    releaseAll: (address) =>
      Effect.sync(() => {
        for (const [shard, owner] of owners) if (owner === address) owners.delete(shard)
      })
  })
})

/** The cluster's timings, short: the runners see each other's messages and shards within tens of milliseconds. */
const config = (port: number) =>
  ShardingConfig.layer({
    runnerAddress: Option.some(RunnerAddress.make("runner", port)),
    entityMessagePollInterval: "20 millis",
    entityReplyPollInterval: "20 millis",
    refreshAssignmentsInterval: "20 millis",
    sendRetryInterval: "20 millis",
    shardsPerGroup: 30
  })

const clientOptions = {
  baseUrl: Simulator.testBaseUrl,
  maxRequestsPerSecond: Infinity,
  retry: { baseDelay: 0 },
  rateLimitPause: 0
}

/** A sync's first request (Client Config), held until the test lets it go: who holds it, for which location. */
interface Held {
  readonly runner: number
  readonly uId: string
  readonly go: Deferred.Deferred<void>
}

/**
 * One HttpClient over the simulators (a request goes to the simulator whose token it carries) that holds every
 * Client Config in `held`, named by `runner`, while `holding()`.
 */
const gated = (
  runner: number,
  simulators: ReadonlyArray<Simulator.Service>,
  held: Array<Held>,
  holding: () => boolean
) =>
  HttpClient.make((request) =>
    Effect.gen(function*() {
      const auth = request.headers["authorization"] ?? ""
      // (a legacy POST carries its token in its body)
      const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
      const target = simulators.find((s) =>
        s.tokens.some((t) => auth === `Bearer ${Redacted.value(t.value)}` || body.includes(Redacted.value(t.value)))
      ) ?? simulators[0]!
      if (holding() && request.url.endsWith("/client/config")) {
        const go = yield* Deferred.make<void>()
        held.push({ runner, uId: target.uId, go })
        yield* Deferred.await(go)
      }
      return yield* Simulator.makeHttpClient(target).execute(request)
    })
  )

describe("Location's pools: per runner that runs the syncs", () => {
  // real time: the cluster's polls and the runners' messages run as they would between processes
  layer(sqlite, { excludeTestServices: true })((it) => {
    it.scoped(
      "two runners with 1 incremental sync at once each: 2 run at once, one on each, whichever runner sends; a location's second slot is an overrun, wherever it was sent from",
      () =>
        Effect.gen(function*() {
          const db = yield* (yield* TestDatabase).fresh
          const shared = yield* Layer.build(Layer.mergeAll(
            MessageStorage.layerMemory.pipe(Layer.provide(config(0))),
            Layer.effect(RunnerStorage.RunnerStorage, sharedRunnerStorage)
          ))
          const stores = yield* Layer.build(
            Layer.merge(TokenStore.layer, FleetStatus.layer).pipe(
              Layer.provideMerge(SqlSyncStore.layer),
              Layer.provideMerge(Layer.merge(NodeDatabase.layer(db), FleetKey.layer(crypto.randomBytes(32))))
            )
          )
          // simulators, until each runner owns two of their locations (the owner is known once the shards settle)
          const simulators: Array<Simulator.Service> = []
          const held: Array<Held> = []
          let holding = true
          const runner = (index: number) =>
            Layer.build(
              Location.layerWith({ incrementalConcurrency: 1, fullConcurrency: 1 }).pipe(
                Layer.provideMerge(Sharding.layer),
                Layer.provide(Runners.layerNoop),
                Layer.provide(RunnerHealth.layerNoop),
                Layer.provide(Layer.succeedContext(shared)),
                Layer.provide(config(index + 1)),
                Layer.provide(Layer.succeedContext(stores)),
                Layer.provide(Layer.succeed(HttpClient.HttpClient, gated(index, simulators, held, () => holding))),
                Layer.provide(Layer.succeed(Location.ClientOptions, clientOptions))
              )
            )
          const runners = [yield* runner(0), yield* runner(1)]
          const shardings = runners.map((context) => Context.get(context, Sharding.Sharding))
          // the shards settle: each held by one runner, every one by some runner
          const shardIds = Array.from({ length: 30 }, (_, i) => shardings[0]!.getShardId(EntityId.make(String(i)), "default"))
          for (let i = 0;; i++) {
            const owned = shardIds.map((shard) => shardings.filter((s) => s.hasShardId(shard)).length)
            const byRunner = shardings.map((s) => shardIds.filter((shard) => s.hasShardId(shard)).length)
            if (owned.every((n) => n === 1) && byRunner.every((n) => n > 0)) break
            if (i > 500) return assert.fail(`the shards did not settle: ${byRunner.join(", ")}`)
            yield* Effect.sleep("20 millis")
          }
          const ownerOf = (uId: string) =>
            shardings.findIndex((s) => s.hasShardId(s.getShardId(EntityId.make(uId), "default")))
          const owned: Array<Array<string>> = [[], []]
          for (let seed = 1; owned.some((uIds) => uIds.length < 2); seed++) {
            if (seed > 200) return assert.fail("no two locations for each runner")
            const simulator = yield* Simulator.make({ seed, pageSize: 20, records: { assets: 3, users: 10, assignments: 10 } })
            const owner = ownerOf(simulator.uId)
            if (owned[owner]!.length >= 2) continue
            owned[owner]!.push(simulator.uId)
            simulators.push(simulator)
            yield* Effect.flatMap(TokenStore.TokenStore, (tokens) =>
              tokens.add({ token: simulator.token.value, uId: simulator.uId, name: `sim${seed}` })).pipe(
                Effect.provide(stores)
              )
          }

          // every location's slot sent from runner 0 (as one runner's tick sends every due location)
          const slot = new Date("2026-12-06T03:00:00Z")
          const client = yield* Location.Location.client.pipe(Effect.provide(runners[0]!))
          const sent = yield* Effect.forEach(
            [...owned[0]!, ...owned[1]!],
            (uId) => Effect.fork(client(uId).Scheduled({ full: false, slot })),
            { concurrency: "unbounded" }
          )
          const syncing = () => [0, 1].map((r) => new Set(held.filter((h) => h.runner === r).map((h) => h.uId)).size)
          for (let i = 0; syncing()[0]! + syncing()[1]! < 2; i++) {
            if (i > 500) return assert.fail(`the syncs did not start: ${syncing().join(", ")}`)
            yield* Effect.sleep("20 millis")
          }
          // each runner runs one of its own locations; the other waits for its runner's pool
          yield* Effect.sleep("300 millis")
          assert.deepStrictEqual(syncing(), [1, 1])
          for (const h of held) assert.include(owned[h.runner]!, h.uId)

          // each location's next slot, sent from either runner, while its first is running or waiting for its pool:
          // an overrun, answered by the location's entity wherever it runs
          const next = new Date(slot.getTime() + 1000)
          for (const [from, uId] of [[0, owned[1]![0]!], [1, owned[1]![1]!], [1, owned[0]![0]!], [0, owned[0]![1]!]] as const) {
            const exit = yield* Location.Location.client.pipe(
              Effect.flatMap((make) => make(uId).Scheduled({ full: false, slot: next })),
              Effect.provide(runners[from]!),
              Effect.exit
            )
            assert.isTrue(Exit.isFailure(exit), `${uId}'s second slot ran`)
            const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
            assert.instanceOf(error, Location.OverrunError)
            if (error instanceof Location.OverrunError) {
              assert.deepStrictEqual(
                { uId: error.uId, slot: error.slot, running: error.running },
                { uId, slot: next, running: { full: false, slot } }
              )
            }
          }
          assert.deepStrictEqual(syncing(), [1, 1])

          // let go: every location syncs (the waiting ones once their runner's first is done)
          holding = false
          for (const h of held) yield* Deferred.succeed(h.go, undefined)
          const outcomes = yield* Effect.forEach(sent, Fiber.join)
          assert.deepStrictEqual(outcomes.map((o) => o.result), ["synced", "synced", "synced", "synced"])
        }),
      60_000
    )
  })
})
