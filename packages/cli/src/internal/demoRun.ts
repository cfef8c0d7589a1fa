import * as FileSystem from "@effect/platform/FileSystem"
import * as Legacy from "@vppkit/core/Legacy"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as VppClient from "@vppkit/core/VppClient"
import * as NodeVppClient from "@vppkit/node/NodeVppClient"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Sync from "@vppkit/sync/Sync"
import * as SyncStore from "@vppkit/sync/SyncStore"
import Table from "cli-table3"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { CommandError, UsageError } from "../ExitCode.js"
import * as Resources from "../Resources.js"
import type { Flags } from "./demoCommand.js"
import { openDatabase } from "./syncRun.js"
import * as SyncOutput from "./syncOutput.js"
import { survivableFaults } from "./mockServerCommand.js"
import { count, seconds } from "./progress.js"
import * as Verify from "./verify.js"

/** No colours: the output may go to a file or a CI log. */
const plain = { head: [], border: [] }

const say = (quiet: boolean, line: string) => (quiet ? Effect.void : Console.log(line))

const legacyPaths: ReadonlySet<string> = new Set([Legacy.licensesService.path, Legacy.usersService.path])
const legacyResources: ReadonlySet<string> = new Set(Resources.all.filter((r) => r.family === "legacy").map((r) => r.name))

/** The changes the demo makes on the server between the syncs. */
const changes: ReadonlyArray<{ readonly resource: Parameters<Simulator.Service["churn"]>[0]; readonly inserts: number; readonly updates: number; readonly deletes: number }> = [
  { resource: "assignments", inserts: 600, updates: 400, deletes: 250 },
  { resource: "users", inserts: 120, updates: 90, deletes: 60 },
  { resource: "assets", inserts: 5, updates: 30, deletes: 3 }
]

/** The work of `vppkit demo` (demoCommand.ts), once its command line is parsed. */
export const runDemo = (flags: Flags) =>
  Effect.gen(function*() {
    if (flags.assignments < 0) return yield* new UsageError({ message: "--assignments must not be negative" })
    if (flags.assets < 1) return yield* new UsageError({ message: "--assets must be at least 1" })
    if (flags.faultRate < 0 || flags.faultRate > 1) {
      return yield* new UsageError({ message: "--fault-rate is a probability between 0 and 1" })
    }
    const fs = yield* FileSystem.FileSystem
    for (const suffix of ["", "-wal", "-shm", "-journal"]) {
      yield* fs.remove(flags.db + suffix, { force: true }).pipe(
        Effect.mapError((error) => new CommandError({ message: `cannot replace ${flags.db}: ${error.message}` }))
      )
    }
    const settings: Simulator.Settings = {
      seed: flags.seed,
      orgName: "Demo School District",
      records: { assets: flags.assets, users: Math.max(1, Math.round(flags.assignments / 4)), assignments: flags.assignments },
      subscriptions: { subscriptions: 40, assignments: 2_500, admins: 30 },
      pageSize: 1000,
      latency: 10,
      randomFaults: { probability: flags.faultRate, faults: survivableFaults },
      // Writes while the first sync reads, so pages shift and versionIds change mid-scan.
      churn: { every: 6, resources: ["assignments", "users"], inserts: 4, updates: 4, deletes: 2, limit: 12 }
    }
    const server = yield* SimulatorServer.make(settings).pipe(
      Effect.mapError((error) => new CommandError({ message: `cannot start the simulator: ${error.message}` }))
    )
    const simulator = server.simulator
    const say_ = (line: string) => say(flags.quiet, line)
    yield* say_(
      `Simulating "${settings.orgName}" on ${server.baseUrl}: ${count(flags.assignments)} assignments, ${
        count(settings.records!.users!)
      } users, ${settings.records!.assets} assets, subscriptions and legacy licences;`
    )
    yield* say_(
      `${Math.round(flags.faultRate * 100)} % of requests meet a fault (429, 503, 500, 502, 504, bad JSON, reset, …); writes happen during the first sync.\n`
    )
    const client = yield* NodeVppClient.make({ token: simulator.token, baseUrl: server.baseUrl })
    const database = yield* openDatabase(flags.db)
    // The simulated location (its uId), as the first sync learned it: the partition the checks read.
    let location = ""
    const phase = (title: string, full: boolean) =>
      Effect.gen(function*() {
        yield* say_(title)
        const before = yield* client.stats
        const log = (yield* simulator.log).length
        const started = Date.now()
        const summaries = yield* Sync.run({ resources: Resources.all.map((resource) => resource.descriptor), full, concurrency: 5, ...SyncOutput.hooks({ quiet: flags.quiet }) }).pipe(
          Effect.provide(database),
          Effect.provideService(VppClient.VppClient, client)
        )
        location = summaries[0]?.location ?? location
        const after = yield* client.stats
        const entries = (yield* simulator.log).slice(log)
        const faults = entries.filter((entry) => entry.fault !== undefined).length
        return {
          title,
          summaries,
          legacyRecords: summaries.reduce((n, s) => legacyResources.has(s.resource) ? n + s.records : n, 0),
          legacyRequests: entries.filter((entry) => legacyPaths.has(entry.path)).length,
          requests: after.requests - before.requests,
          retries: after.retries - before.retries,
          faults,
          millis: Date.now() - started
        }
      })
    const check = (title: string) =>
      Effect.gen(function*() {
        const comparisons = yield* Effect.forEach(Resources.all, (resource) => Verify.compare(simulator, resource)).pipe(
          SyncStore.forLocation(location),
          Effect.provide(database),
          Effect.mapError((error) => new CommandError({ message: `database ${flags.db}: ${error.message}` }))
        )
        const table = new Table({ style: plain, head: ["resource", "on the server", "in the database", "missing or stale", "deleted on the server"] })
        for (const c of comparisons) table.push([c.resource, count(c.server), count(c.stored), count(c.missingOrStale), count(c.extra)])
        yield* say_(`${title}\n${table.toString()}`)
        return comparisons
      })

    const first = yield* phase("1. Full sync of every resource", false)
    yield* simulator.setChurn(undefined)
    yield* say_("\n2. Changes on the server")
    for (const change of changes) {
      yield* simulator.churn(change.resource, change)
      yield* say_(
        `   ${change.resource}: ${change.inserts} new, ${change.updates} updated, ${change.deletes} removed or retired`
      )
    }
    yield* simulator.subscriptions.churn("subscriptionAssignments", { inserts: 50, updates: 20, deletes: 15 })
    yield* say_("   subscription assignments: 50 new, 20 updated, 15 removed\n")
    const incremental = yield* phase("3. Incremental sync (deltas since the checkpoints, where Apple offers them)", false)
    const afterIncremental = yield* check("\n4. The database against the server")
    const missing = afterIncremental.reduce((n, c) => n + c.missingOrStale, 0)
    if (missing > 0) {
      return yield* new CommandError({ message: `the incremental sync missed ${missing} written records: please report this` })
    }
    yield* say_(
      "   Every record written on the server is in the database. Rows removed on the server are still there:\n" +
        "   Apple's deltas do not report deletions, so a full sync reconciles them.\n"
    )
    const full = yield* phase("5. Full sync (reconciles deletions)", true)
    const afterFull = yield* check("\n6. The database against the server")
    const differences = afterFull.reduce((n, c) => n + c.missingOrStale + c.extra, 0)
    if (differences > 0) {
      return yield* new CommandError({ message: `the database differs from the server in ${differences} rows: please report this` })
    }
    const summary = new Table({ style: plain, head: ["phase", "records", "requests", "faults met", "retries", "time"] })
    for (const p of [first, incremental, full]) {
      summary.push([
        p.title.replace(/ \(.*\)$/, ""),
        count(p.summaries.reduce((n, s) => n + s.records, 0)),
        count(p.requests),
        count(p.faults),
        count(p.retries),
        seconds(p.millis)
      ])
    }
    yield* say_(`\nSummary\n${summary.toString()}`)
    yield* say_(
      `Legacy services (${[...legacyResources].join(", ")}): the incremental sync fetched ${
        count(incremental.legacyRecords)
      } records in ${count(incremental.legacyRequests)} requests, against ${count(first.legacyRecords)} in ${
        count(first.legacyRequests)
      } for the first full sync.`
    )
    yield* say_(
      `The database equals the server. The incremental sync took ${count(incremental.requests)} requests against ${
        count(first.requests)
      } for the first full sync. Explore it: sqlite3 ${flags.db} "SELECT * FROM sync_state"`
    )
  }).pipe(Effect.scoped)
