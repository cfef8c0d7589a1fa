import { createRequire } from "node:module"
import { assert, describe, it, layer } from "@effect/vitest"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { postgres, serverUrl, TestDatabase } from "../../node/test/support/postgres.js"
import * as Resources from "../src/Resources.js"
import { locationJson, rows } from "../src/internal/locationsRun.js"
import { type Served, serve, temporaryDirectory, writeToken } from "./helpers/cli.js"
import { assertBuilt, assertFailure, run, start } from "./support/bin.js"
import { lines, startOnTerminal } from "./support/pseudoTerminal.js"
import { byKey, serverRecords } from "./support/store.js"

/**
 * `vppkit locations`: the locations a database holds, read from the built CLI after `vppkit sync` of two
 * simulated locations (one synced with both of its tokens) into one SQLite and one PostgreSQL database; what it
 * says of a database that is missing, empty or unreachable; and that it answers while a sync holds the lock.
 */

const north: Simulator.Settings = {
  seed: 71,
  orgName: "North School",
  tokens: 2,
  pageSize: 50,
  records: { assets: 3, users: 40, assignments: 150 }
}
const south: Simulator.Settings = { seed: 72, orgName: "South School", pageSize: 50, records: { assets: 2, users: 15, assignments: 60 } }

interface LocationJson {
  readonly uId: string
  readonly locationName: string
  readonly orgName: string
  readonly baseUrl: string
  readonly tokenExpiresAt: string | null
  readonly tokenDaysLeft: number | null
  readonly tokenExpired: boolean | null
  readonly tokens: number
  readonly firstSeenAt: string
  readonly lastSeenAt: string
  readonly resources: ReadonlyArray<{
    readonly resource: string
    readonly lastSyncAt: string
    readonly lastFullSyncAt: string | null
    readonly consistency: string
    readonly records: number
  }>
}

interface Synced {
  readonly north: Served
  readonly south: Served
  /** `--base-url … --token-file …` with north's second token. */
  readonly northSecond: ReadonlyArray<string>
}

/** Syncs north with each of its two tokens, then south, into `db`. */
const syncTwoLocations = (db: string) =>
  Effect.gen(function*() {
    const served = { north: yield* serve(north), south: yield* serve(south) }
    assert.strictEqual(served.north.simulator.tokens.length, 2)
    const second = writeToken(served.north.directory, served.north.simulator.tokens[1]!.value, "second.vpptoken")
    const northSecond = ["--token-file", second, "--base-url", served.north.server.baseUrl]
    for (const connect of [served.north.connect, northSecond, served.south.connect]) {
      const result = yield* run(["sync", "-q", "--db", db, ...connect])
      assert.strictEqual(result.code, 0, result.stderr)
    }
    return { ...served, northSecond } satisfies Synced
  })

/** `vppkit locations -o json`: exactly the two locations, their tokens, and each resource's records as on the server. */
const assertLocations = (db: string, synced: Synced) =>
  Effect.gen(function*() {
    const result = yield* run(["locations", "--db", db, "-o", "json"])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stderr, "")
    const found = JSON.parse(result.stdout) as ReadonlyArray<LocationJson>
    assert.deepStrictEqual(found.map((l) => l.locationName), ["North School", "South School"])
    const expected = [[synced.north, 2], [synced.south, 1]] as const
    for (const [i, [served, tokens]] of expected.entries()) {
      const location = found[i]!
      assert.strictEqual(location.uId, served.simulator.uId)
      assert.strictEqual(location.orgName, served.simulator.settings.orgName)
      assert.strictEqual(location.baseUrl, served.server.baseUrl)
      assert.strictEqual(location.tokens, tokens, location.locationName)
      assert.strictEqual(location.tokenExpiresAt, "2030-11-08T22:33:22.000Z")
      assert.strictEqual(location.tokenExpired, false)
      assert.isAbove(location.tokenDaysLeft!, 0)
      assert.deepStrictEqual(location.resources.map((r) => r.resource).sort(), [...Resources.names].sort())
      for (const resource of Resources.all) {
        const stored = location.resources.find((r) => r.resource === resource.name)!
        const server = byKey(resource, yield* serverRecords(served.simulator, resource)).size
        assert.isAbove(server, 0, resource.name)
        assert.strictEqual(stored.records, server, `${location.locationName} ${resource.name}`)
        assert.strictEqual(stored.consistency, "consistent")
        assert.isFalse(Number.isNaN(Date.parse(stored.lastSyncAt)))
      }
    }
    assert.notStrictEqual(found[0]!.uId, found[1]!.uId)
    // ndjson: the same objects, one a line.
    const ndjson = yield* run(["locations", "--db", db, "-o", "ndjson"])
    assert.strictEqual(ndjson.code, 0, ndjson.stderr)
    assert.deepStrictEqual(
      ndjson.stdout.trim().split("\n").map((line) => JSON.parse(line) as LocationJson).map((l) => [l.uId, l.tokens]),
      found.map((l) => [l.uId, l.tokens])
    )
    return found
  })

/**
 * While a sync of north runs (its subscription assignments never answer, so it holds the lock), `locations`
 * answers at once with both locations; the sync is still running after.
 */
const assertAnswersDuringSync = (db: string, synced: Synced) =>
  Effect.scoped(Effect.gen(function*() {
    const { simulator } = synced.north
    yield* simulator.clearLog
    yield* simulator.inject({ _tag: "Stall" }, { path: "/v2/subscriptions/assignments" })
    const running = yield* start(["sync", "--db", db, ...synced.north.connect])
    while (!(yield* simulator.log).some((entry) => entry.path === "/v2/subscriptions")) {
      if (running.child.exitCode !== null) assert.fail(`the sync ended: ${(yield* running.output).stderr}`)
      yield* Effect.sleep("10 millis")
    }
    yield* Effect.sleep("150 millis")
    const blocked = yield* run(["sync", "-q", "--db", db, ...synced.north.connect])
    assert.strictEqual(blocked.code, 6, `the lock is held: ${blocked.stderr}`)
    const result = yield* run(["locations", "--db", db, "-o", "json"]).pipe(
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("locations did not answer within 10 s") }),
      Effect.orDie
    )
    assert.strictEqual(result.code, 0, result.stderr)
    assert.deepStrictEqual(
      (JSON.parse(result.stdout) as ReadonlyArray<LocationJson>).map((l) => l.locationName),
      ["North School", "South School"]
    )
    assert.isNull(running.child.exitCode, "the sync is still running")
  }))

describe("vppkit locations on SQLite", () => {
  it.scopedLive("two locations, one synced with both its tokens: exactly them, tokens 2, the server's record counts; answers while a sync holds the lock", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const directory = yield* temporaryDirectory
      const db = path.join(directory, "vpp.sqlite")
      const synced = yield* syncTwoLocations(db)
      yield* assertLocations(db, synced)
      // VPPKIT_DB names the database as it does for sync.
      const fromEnv = yield* run(["locations", "-o", "ndjson"], { env: { VPPKIT_DB: db } })
      assert.strictEqual(fromEnv.stdout.trim().split("\n").length, 2, fromEnv.stderr)
      // CSV: a header and a row per location, a column per resource value.
      const csv = yield* run(["locations", "--db", db, "-o", "csv"])
      const csvLines = csv.stdout.trim().split("\n")
      assert.strictEqual(csvLines.length, 3, csv.stdout)
      assert.include(csvLines[0]!, "uId,locationName,orgName")
      assert.include(csvLines[0]!, "assignments.records,assignments.lastSyncAt")
      // wide: nothing cut, each resource's last sync and last full sync.
      const wide = yield* run(["locations", "--db", db, "-o", "wide"])
      const wideLines = wide.stdout.trimEnd().split("\n")
      assert.deepStrictEqual(
        wideLines[0]!.split(/\s+/),
        ["name", "uId", "orgName", "baseUrl", "expires", "tokens", "firstSeen", "lastSeen", "resources"]
      )
      assert.strictEqual(wideLines.length, 3, wide.stdout)
      assert.include(wideLines[1]!, synced.north.server.baseUrl)
      assert.strictEqual(wideLines[1]!.match(/ synced \d{4}-\d\d-\d\d \d\d:\d\d full \d{4}-/g)?.length, Resources.names.length)
      assert.notInclude(wide.stdout, "…")
      yield* assertAnswersDuringSync(db, synced)
    }), 60_000)

  it.scopedLive("on a 70-column terminal: a table that fits, with each name, whole uId, days left and token count", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const directory = yield* temporaryDirectory
      const db = path.join(directory, "vpp.sqlite")
      const synced = yield* syncTwoLocations(db)
      const terminal = yield* startOnTerminal(["locations", "--db", db], { columns: 70 })
      const exit = yield* terminal.exit
      assert.strictEqual(exit.code, 0, exit.screen)
      const shown = lines(exit.screen)
      for (const line of shown) assert.isAtMost(line.length, 70, `wider than the terminal: ${JSON.stringify(line)}`)
      assert.deepStrictEqual(shown[0]!.split(/\s+/), ["name", "uId", "expires", "tokens", "synced", "records"])
      assert.strictEqual(shown.length, 3, exit.screen)
      for (const [row, served, tokens] of [[shown[1]!, synced.north, "2"], [shown[2]!, synced.south, "1"]] as const) {
        const cells = row.split(/ {2,}/)
        assert.isTrue(served.simulator.settings.orgName!.startsWith(cells[0]!.replace(/…$/, "")), row)
        assert.strictEqual(cells[1], served.simulator.uId, row)
        assert.match(cells[2]!, /^[\d,]+ days$/, row)
        assert.strictEqual(cells[3], tokens, row)
        assert.match(cells[4]!, /^(just now|\d+ min ago)$/, row)
        assert.match(cells[5]!, /^assets \d/, row)
      }
    }), 60_000)

  it.scopedLive("a database that does not exist: one line, exit 2, and no file is created", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const directory = yield* temporaryDirectory
      const missing = path.join(directory, "missing.sqlite")
      const args = ["locations", "--db", missing]
      assert.strictEqual(
        assertFailure(yield* run(args), 2, args),
        `vppkit: --db ${missing}: no such database (vppkit sync --db ${missing} creates it)`
      )
      // The default (vppkit.sqlite in the working directory) and VPPKIT_DB alike.
      assert.strictEqual(
        assertFailure(yield* run(["locations"], { cwd: directory }), 2),
        "vppkit: --db vppkit.sqlite: no such database (vppkit sync --db vppkit.sqlite creates it)"
      )
      assertFailure(yield* run(["locations", "-o", "json"], { env: { VPPKIT_DB: missing } }), 2)
      assert.deepStrictEqual(fs.readdirSync(directory), [], "nothing was created")
      const inMissingDirectory = ["locations", "--db", path.join(directory, "nowhere", "vpp.sqlite")]
      assertFailure(yield* run(inMissingDirectory), 2, inMissingDirectory)
      assert.deepStrictEqual(fs.readdirSync(directory), [])
    }))

  it.scopedLive("an empty database: no locations (one line on stderr), exit 0; JSON []; nothing written to it", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const directory = yield* temporaryDirectory
      const db = path.join(directory, "empty.sqlite")
      fs.writeFileSync(db, "")
      const table = yield* run(["locations", "--db", db, "-o", "table"])
      assert.strictEqual(table.code, 0, table.stderr)
      assert.strictEqual(table.stdout, "")
      assert.strictEqual(table.stderr, `no locations in ${db} (vppkit sync records the location of its token)\n`)
      const json = yield* run(["locations", "--db", db, "-o", "json"])
      assert.strictEqual(json.code, 0, json.stderr)
      assert.strictEqual(json.stdout, "[]\n")
      const quiet = yield* run(["locations", "-q", "--db", db, "-o", "ndjson"])
      assert.deepStrictEqual([quiet.code, quiet.stdout, quiet.stderr], [0, "", ""])
      assert.strictEqual(fs.statSync(db).size, 0, "no table was created: nothing is written")
      assert.deepStrictEqual(fs.readdirSync(directory), ["empty.sqlite"])
    }))

  it.scopedLive("a database that is not vppkit's, or vppkit's from before locations: one line, exit 2, not changed", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const directory = yield* temporaryDirectory
      const Database = createRequire(import.meta.url)("better-sqlite3") as new(file: string) => {
        exec(sql: string): void
        close(): void
      }
      const other = path.join(directory, "other.sqlite")
      const old = path.join(directory, "old.sqlite")
      for (const [file, sql] of [
        [other, "CREATE TABLE invoices (id INTEGER PRIMARY KEY)"],
        [old, "CREATE TABLE vppkit_sync_migrations (migration_id INTEGER PRIMARY KEY); CREATE TABLE sync_state (resource TEXT)"]
      ] as const) {
        const database = new Database(file)
        database.exec(sql)
        database.close()
      }
      const before = [fs.readFileSync(other), fs.readFileSync(old)]
      assert.strictEqual(
        assertFailure(yield* run(["locations", "--db", other, "-o", "json"]), 2),
        `vppkit: --db ${other}: not a vppkit database (no vppkit_sync_migrations table)`
      )
      assert.strictEqual(
        assertFailure(yield* run(["locations", "--db", old]), 2),
        `vppkit: --db ${old}: a vppkit database from before locations were recorded: vppkit sync --db ${old} upgrades it`
      )
      assert.deepStrictEqual([fs.readFileSync(other), fs.readFileSync(old)], before, "nothing written")
      assert.deepStrictEqual(fs.readdirSync(directory).sort(), ["old.sqlite", "other.sqlite"])
    }))

  it.scopedLive("bad input: a file that is not a database (exit 1), a directory or an unknown format (exit 2)", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const directory = yield* temporaryDirectory
      const db = path.join(directory, "not.sqlite")
      fs.writeFileSync(db, "this is not a database, but long enough to have a header of one.......................")
      const args = ["locations", "--db", db]
      assert.strictEqual(assertFailure(yield* run(args), 1, args), `vppkit: database ${db}: file is not a database`)
      const directoryArgs = ["locations", "--db", directory]
      assert.strictEqual(assertFailure(yield* run(directoryArgs), 2, directoryArgs), `vppkit: --db ${directory}: not a database file`)
      const format = ["locations", "--db", db, "-o", "yaml"]
      assert.strictEqual(
        assertFailure(yield* run(format), 2, format),
        `vppkit: --format "yaml": expected one of ndjson, json, csv, table, wide`
      )
    }))
})

describe("vppkit locations --db postgres://… without a server", () => {
  it.scopedLive("a server that is not there: one line, exit 1, never the password", () =>
    Effect.gen(function*() {
      yield* assertBuilt
      const args = ["locations", "--db", "postgres://vpp:hunter2@127.0.0.1:1/vpp"]
      const result = yield* run(args)
      assert.strictEqual(
        assertFailure(result, 1, args),
        "vppkit: cannot open the database postgres://vpp@127.0.0.1:1/vpp: connection refused (ECONNREFUSED 127.0.0.1:1): is PostgreSQL running there?"
      )
      assert.notInclude(result.stdout + result.stderr, "hunter2")
    }))
})

describe.skipIf(serverUrl === undefined)("vppkit locations on PostgreSQL", () => {
  layer(serverUrl === undefined ? postgres("postgres://unused@127.0.0.1/unused") : postgres(serverUrl), {
    excludeTestServices: true
  })((it) => {
    it.scoped("two locations, one synced with both its tokens: exactly them, tokens 2, the server's record counts; answers while a sync holds the location's lock", () =>
      Effect.gen(function*() {
        yield* assertBuilt
        const db = yield* (yield* TestDatabase).fresh
        const empty = yield* run(["locations", "--db", db, "-o", "json"])
        assert.strictEqual(empty.code, 0, empty.stderr)
        assert.strictEqual(empty.stdout, "[]\n")
        assert.match(empty.stderr, /^no locations in postgres:\/\//)
        const synced = yield* syncTwoLocations(db)
        yield* assertLocations(db, synced)
        yield* assertAnswersDuringSync(db, synced)
      }), 60_000)
  })
})

describe("vppkit locations: the rows of a location", () => {
  const now = Date.parse("2026-12-05T12:00:00.000Z")
  const location = (tokenExpiresAt: string | undefined) =>
    locationJson({
      uId: "2049025000431439",
      locationName: "North School",
      orgName: "North Org",
      baseUrl: "https://vpp.itunes.apple.com/mdm",
      tokenExpiresAt,
      tokens: 3,
      firstSeenAt: "2026-01-01T00:00:00.000Z",
      lastSeenAt: "2026-12-05T11:00:00.000Z",
      resources: [
        { resource: "users", lastSyncAt: "2026-12-05T11:00:00.000Z", lastFullSyncAt: undefined, consistency: "drifted", records: 2000 },
        { resource: "assets", lastSyncAt: "2026-12-05T11:55:30.000Z", lastFullSyncAt: "2026-12-01T00:00:00.000Z", consistency: "consistent", records: 200 }
      ]
    }, now)

  it("days left, EXPIRED, or nothing; the latest sync, how long ago; the resources in registry order", () => {
    const table = (expiresAt: string | undefined) => rows("table", [location(expiresAt)], { now, width: 200 }).records[0]!
    assert.deepStrictEqual(table("2027-01-04T12:00:00.000Z"), {
      name: "North School",
      uId: "2049025000431439",
      expires: "30 days",
      tokens: "3",
      synced: "4 min ago",
      records: "assets 200, users 2,000"
    })
    assert.strictEqual(table("2026-12-06T11:00:00.000Z")["expires"], "0 days")
    assert.strictEqual(table("2026-12-05T12:00:00.000Z")["expires"], "EXPIRED")
    assert.strictEqual(table(undefined)["expires"], "")
    const expired = location("2026-11-01T00:00:00.000Z")
    assert.deepStrictEqual([expired.tokenExpired, expired.tokenDaysLeft], [true, -35])
    assert.deepStrictEqual([location(undefined).tokenExpired, location(undefined).tokenDaysLeft, location(undefined).tokenExpiresAt], [
      null,
      null,
      null
    ])
    const wide = rows("wide", [expired], { now, width: 80 }).records[0]!
    assert.strictEqual(wide["expires"], "2026-11-01 EXPIRED")
    assert.strictEqual(
      wide["resources"],
      "assets 200 synced 2026-12-05 11:55 full 2026-12-01 00:00; users 2,000 synced 2026-12-05 11:00 drifted"
    )
    const csv = rows("csv", [expired], { now, width: 80 })
    assert.deepStrictEqual(csv.fields.map((field) => field.name).slice(-8), [
      "assets.records",
      "assets.lastSyncAt",
      "assets.lastFullSyncAt",
      "assets.consistency",
      "users.records",
      "users.lastSyncAt",
      "users.lastFullSyncAt",
      "users.consistency"
    ])
    assert.strictEqual(csv.records[0]!["users.lastFullSyncAt"], null)
    assert.strictEqual(csv.records[0]!["tokenExpired"], true)
  })

  it("a narrow table cuts the records first, then the name; the uId stays whole", () => {
    const cells = (width: number) => rows("table", [location("2027-01-04T12:00:00.000Z")], { now, width }).records[0]!
    const wide = cells(200)
    assert.strictEqual(wide["records"], "assets 200, users 2,000")
    const narrow = cells(66)
    // name 12 + uId 16 + expires 7 + tokens 6 + synced 9 + gaps 10 = 60: 6 left, below the records' 10.
    assert.deepStrictEqual([narrow["name"], narrow["uId"], narrow["records"]], ["North S…", "2049025000431439", "assets 20…"])
  })
})
