import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import * as VppClient from "@vppkit/core/VppClient"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as SqlSyncStore from "../src/SqlSyncStore.js"
import * as Sync from "../src/Sync.js"
import * as SyncStore from "../src/SyncStore.js"
import { backends, TestDatabase } from "../../node/test/support/postgres.js"
import { byKey, canonical, compare, serverRecords, snapshot } from "./support/store.js"

/**
 * Sync and SqlSyncStore in process: the in-memory simulator, an empty database of its own per test — SQLite, and
 * PostgreSQL when VPPKIT_TEST_PG_URL or CI names a server (the same cases on both). Every assertion compares the
 * tables, decoded back to Apple's JSON shape, with the simulator's current records by natural key.
 */

const settings: Simulator.Settings = {
  seed: 7,
  pageSize: 25,
  records: { assets: 6, users: 90, assignments: 160 },
  subscriptions: { subscriptions: 30, assignments: 60, admins: 6 }
}

const resource = (name: string): Resource.Any => Resources.byName(name)!

const names = Resources.all.map((r) => r.name)

/** The sync store over a database (a SQLite file or a PostgreSQL URL; its migrations run as it opens). */
const storeLayer = (db: string) => SqlSyncStore.layer.pipe(Layer.provideMerge(NodeDatabase.layer(db)))

/**
 * Runs `body` with a fresh simulator and a fresh database of the backend (its `--db` value is handed over), the
 * store scoped to the simulator's location (its `uId`, learned as a sync learns it).
 */
const withStore = <A, E>(
  body: (
    filename: string
  ) => Effect.Effect<A, E, Simulator.Simulator | SqlClient.SqlClient | SyncStore.SyncStore | VppClient.VppClient>,
  simulatorSettings: Simulator.Settings = settings
) =>
  Effect.gen(function*() {
    const filename = yield* (yield* TestDatabase).fresh
    return yield* Effect.flatMap(Sync.learnLocation, (location) => body(filename).pipe(SyncStore.forLocation(location.uId))).pipe(
      Effect.provide(Layer.merge(
        Simulator.layerTest(simulatorSettings, { retry: { baseDelay: 0 }, rateLimitPause: 0 }),
        storeLayer(filename)
      ))
    )
  })

const sync = (options: Sync.Options = {}) => Sync.run(options)

/** Asserts a table holds exactly the server's records. */
const assertSame = (simulator: Simulator.Service, r: Resource.Any) =>
  Effect.gen(function*() {
    const { different, extra, missing, server } = yield* compare(simulator, r)
    assert.isAbove(server.size, 0, `${r.name}: the server has no records; the test proves nothing`)
    assert.deepStrictEqual({ missing, extra, different }, { missing: [], extra: [], different: [] }, r.name)
  })

const stateOf = (name: string) => Effect.map(SyncStore.readState(name), Option.getOrThrow)

/** Every table of the database (SQLite's `sqlite_master`, PostgreSQL's current schema). */
const tablesOf = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql.onDialectOrElse({
      pg: () =>
        sql<{ readonly name: string }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`,
      orElse: () => sql<{ readonly name: string }>`SELECT ${sql("name")} FROM ${sql("sqlite_master")} WHERE ${sql("type")} = ${"table"}`
    }),
    (rows) => {
      const names = rows.map((row) => row.name)
      for (const table of [SqlSyncStore.stateTable, SqlSyncStore.locationsTable, SqlSyncStore.locationTokensTable]) {
        assert.include(names, table)
      }
      return names
    }
  ))

const simulatorOptions = { retry: { baseDelay: 0 }, rateLimitPause: 0 }

/** A location's rows of a resource: natural key → canonical record. */
const rowsOf = (uId: string, r: Resource.Any) =>
  Effect.map(
    SyncStore.rows(r).pipe(SyncStore.forLocation(uId)),
    (rows) => new Map(rows.map(({ key, record }) => [key, canonical(r, record)]))
  )

/** A resource table's rows per location. */
const rowsPerLocation = (r: Resource.Any) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly location_uid: string; readonly n: number | string }>`SELECT ${sql(SqlSyncStore.locationColumn)}, COUNT(*) AS ${
        sql("n")
      } FROM ${sql(SyncStore.tableName(r))} GROUP BY ${sql(SqlSyncStore.locationColumn)} ORDER BY 1`,
      (rows): Record<string, number> => Object.fromEntries(rows.map((row) => [row.location_uid, Number(row.n)]))
    ))

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`Sync (${backend.name})`, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
  it.scoped("a full sync of every resource equals the server's state; the next run is incremental where the API allows", () =>
    withStore((filename) =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        const first = yield* sync()
        assert.deepStrictEqual(first.map((s) => s.resource), names)
        for (const summary of first) {
          assert.strictEqual(summary.mode, "full")
          assert.strictEqual(summary.consistency, "consistent")
          assert.strictEqual(summary.deleted, 0)
        }
        for (const r of Resources.all) yield* assertSame(simulator, r)

        const assignments = yield* stateOf("assignments")
        assert.strictEqual(assignments.checkpointField, "versionId")
        assert.strictEqual(assignments.checkpoint, yield* simulator.versionId("assignments"))
        assert.strictEqual(assignments.records, (yield* simulator.records("assignments")).length)
        assert.isDefined(assignments.lastFullSyncAt)
        const assets = yield* stateOf("assets")
        assert.strictEqual(assets.checkpointField, undefined)
        assert.strictEqual(assets.checkpoint, undefined)

        const second = yield* sync()
        assert.deepStrictEqual(
          second.map((s) => [s.resource, s.mode]),
          Resources.all.map((r) => [r.name, r.delta === undefined ? "full" : "incremental"])
        )
        for (const r of Resources.all) yield* assertSame(simulator, r)

        // The sToken is never written to the database: no row of any table holds it (the location's token is
        // its SHA-256), nor (SQLite) the file or its WAL.
        const secret = Redacted.value(simulator.token.value)
        const sql = yield* SqlClient.SqlClient
        const tokens = yield* sql<{ readonly fingerprint: string }>`SELECT ${sql("fingerprint")} FROM ${sql(SqlSyncStore.locationTokensTable)}`
        assert.deepStrictEqual(tokens, [{ fingerprint: crypto.createHash("sha256").update(secret).digest("hex") }])
        for (const table of yield* tablesOf) {
          const rows = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql(table)}`
          assert.isFalse(JSON.stringify(rows).includes(secret), table)
          if (rows.length > 0) assert.isFalse(JSON.stringify(rows).includes(secret.slice(8, 40)), `${table}: part of the token`)
        }
        for (const file of [filename, `${filename}-wal`]) {
          if (fs.existsSync(file)) assert.strictEqual(fs.readFileSync(file).indexOf(Buffer.from(secret)), -1, file)
        }
      })
    ))

  it.scoped("unlimited free assets are stored marked unlimited, without counts, also in a database made before that column", () =>
    withStore(() =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        const assets = resource("assets")
        // the assets table of a database written before the unlimited column existed
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(SqlSyncStore.createTableSql(assets).replace(", \"unlimited\" INTEGER", ""))
        const [summary] = yield* sync({ resources: [assets] })
        assert.strictEqual(summary!.records, 10)
        yield* assertSame(simulator, assets)
        const unlimited = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql("assets")} WHERE ${sql("unlimited")} = 1`
        assert.strictEqual(unlimited.length, 3)
        for (const row of unlimited) {
          assert.isNull(row["totalCount"])
          assert.isNull(row["availableCount"])
          assert.isNotNull(row["assignedCount"])
        }
        // the server's view without the parameter: the same assets, with totalCount 2147483647
        const listed = (yield* simulator.records("assets")) as ReadonlyArray<Record<string, unknown>>
        assert.deepStrictEqual(
          unlimited.map((row) => row["natural_key"]).sort(),
          listed.filter((a) => a["totalCount"] === 2_147_483_647).map((a) => `${a["adamId"]}:${a["pricingParam"]}`).sort()
        )
      }), { ...settings, records: { assets: 10, unlimitedAssets: 3, users: 10, assignments: 30 } }))

  it.scoped("after churn an incremental run brings every record written; users' retirements replace their entries", () =>
    withStore(() =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        yield* sync()
        const checkpoint = (yield* stateOf("assignments")).checkpoint!
        const assignmentsBefore = (yield* compare(simulator, resource("assignments"))).server
        const activeBefore = new Set([...(yield* compare(simulator, resource("users"))).server.keys()].filter((key) => !key.includes("\u001f")))
        yield* simulator.churn("assignments", { inserts: 12, updates: 8, deletes: 5 })
        yield* simulator.churn("users", { inserts: 6, updates: 6, deletes: 5 })
        yield* simulator.subscriptions.churn("subscriptionAssignments", { inserts: 3, updates: 3, deletes: 2 })
        const summaries = yield* sync()
        const of = (name: string) => summaries.find((s) => s.resource === name)!
        assert.strictEqual(of("assignments").mode, "incremental")
        assert.strictEqual(of("assignments").records, (yield* simulator.changedSince("assignments", checkpoint)).length)
        assert.strictEqual(of("users").mode, "incremental")
        const activeAfter = new Set([...(yield* compare(simulator, resource("users"))).server.keys()])
        const retired = [...activeBefore].filter((key) => !activeAfter.has(key))
        assert.isAbove(retired.length, 0)
        assert.strictEqual(of("users").deleted, retired.length, "each retired user's earlier entry is deleted")

        // Every current record is in its table as the server has it.
        for (const r of Resources.all) {
          const { different, missing } = yield* compare(simulator, r)
          assert.deepStrictEqual({ missing, different }, { missing: [], different: [] }, r.name)
        }
        // v2 users are never deleted, only retired, so the users table is exact after a delta; so are legacy
        // users (retired ones are asked for) and the cursor resources (always full).
        for (const name of ["users", "legacy-users", "subscriptions", "subscription-assignments", "subscription-admins"] as const) {
          yield* assertSame(simulator, resource(name))
        }
        // Deltas do not show deletions: the deleted assignments stay until a full run.
        const assignments = yield* compare(simulator, resource("assignments"))
        const deleted = [...assignmentsBefore.keys()].filter((key) => !assignments.server.has(key))
        assert.isAbove(deleted.length, 0)
        assert.deepStrictEqual(assignments.extra.sort(), deleted.sort())
        assert.strictEqual((yield* stateOf("assignments")).checkpoint, yield* simulator.versionId("assignments"))
        assert.strictEqual((yield* stateOf("users")).checkpoint, yield* simulator.versionId("users"))
        // An incremental run keeps sync_state.records from its inserts and deletions (without counting the table).
        assert.isAbove(of("assignments").rows, assignmentsBefore.size, "the delta inserted assignments")
        for (const r of Resources.all) {
          const rows = yield* SyncStore.count(r)
          assert.strictEqual((yield* stateOf(r.name)).records, rows, r.name)
          assert.strictEqual(of(r.name).rows, rows, r.name)
        }

        // --full reconciles them.
        const full = yield* sync({ full: true })
        for (const summary of full) assert.strictEqual(summary.mode, "full")
        assert.strictEqual(full.find((s) => s.resource === "assignments")!.deleted, deleted.length)
        assert.strictEqual(full.find((s) => s.resource === "assignments")!.reason, "forced")
        for (const r of Resources.all) yield* assertSame(simulator, r)
      })
    ))

  it.scoped("a checkpoint the server refuses (9721) falls back to a full run", () =>
    withStore(() =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        const users = [resource("users")]
        yield* sync({ resources: users })
        yield* simulator.churn("users", { inserts: 3, deletes: 2 })
        yield* simulator.inject({ _tag: "Error", status: 400, errorNumber: 9721 }, { path: "/v2/users" })
        const [summary] = yield* sync({ resources: users })
        assert.strictEqual(summary!.mode, "full")
        assert.strictEqual(summary!.reason, "checkpoint-unusable")
        assert.strictEqual(summary!.consistency, "consistent")
        assert.strictEqual(summary!.deleted, 2, "the retired users' earlier entries are reconciled")
        yield* assertSame(simulator, users[0]!)
        assert.strictEqual((yield* stateOf("users")).checkpoint, yield* simulator.versionId("users"))
        const log = yield* simulator.log
        assert.isTrue(log.some((entry) => entry.errorNumber === 9721), "the fault was met")
      })
    ))

  it.scoped("a legacy checkpoint the server refuses (9602, 9629, 9633) falls back to a full run that says why", () =>
    withStore(() =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        const legacyUsers = [resource("legacy-users")]
        yield* sync({ resources: legacyUsers })
        const refusals: ReadonlyArray<readonly [number, Simulator.Fault]> = [
          [9602, { _tag: "Error", status: 200, errorNumber: 9602 }],
          [9629, { _tag: "Error", status: 200, errorNumber: 9629 }],
          [9633, { _tag: "BatchDataLost" }]
        ]
        for (const [errorNumber, fault] of refusals) {
          yield* simulator.churn("users", { inserts: 2, updates: 2 })
          // the first request of the delta is refused; the full walk after it is not
          yield* simulator.inject(fault, { path: "/getVPPUsersSrv" })
          const notices: Array<Sync.Notice> = []
          const [summary] = yield* sync({ resources: legacyUsers, onNotice: (notice) => Effect.sync(() => void notices.push(notice)) })
          assert.strictEqual(summary!.mode, "full", `${errorNumber}`)
          assert.strictEqual(summary!.reason, "checkpoint-unusable", `${errorNumber}`)
          assert.strictEqual(summary!.checkpoint, "advanced", `${errorNumber}`)
          assert.deepStrictEqual(
            notices.map((notice) => [notice._tag, notice.resource, notice._tag === "CheckpointRefused" ? notice.error.errorNumber : undefined]),
            [["CheckpointRefused", "legacy-users", errorNumber]]
          )
          yield* assertSame(simulator, legacyUsers[0]!)
          // and the next run is incremental again, from the new checkpoint
          const [next] = yield* sync({ resources: legacyUsers })
          assert.strictEqual(next!.mode, "incremental", `${errorNumber}`)
        }
      })
    ))

  it.scoped("a drifted full pass deletes nothing and keeps the previous checkpoint; a consistent one reconciles", () =>
    withStore(() =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        const assignments = resource("assignments")
        yield* sync({ resources: [assignments] })
        const before = yield* stateOf("assignments")
        // A row the server does not have (as if deleted on the server).
        const phantom = { adamId: "1", pricingParam: "STDQ", serialNumber: "PHANTOM" }
        yield* SyncStore.upsert(assignments, [phantom])
        // A write before every request: every pass drifts.
        yield* simulator.setChurn({ every: 1, resources: ["assignments"], updates: 1 })
        const [drifted] = yield* sync({ resources: [assignments], full: true })
        assert.strictEqual(drifted!.consistency, "drifted")
        assert.strictEqual(drifted!.passes, 3)
        assert.strictEqual(drifted!.deleted, 0)
        assert.strictEqual(drifted!.checkpoint, "kept")
        const after = yield* stateOf("assignments")
        assert.strictEqual(after.checkpoint, before.checkpoint)
        assert.strictEqual(after.consistency, "drifted")
        assert.strictEqual(after.lastFullSyncAt, before.lastFullSyncAt, "a drifted pass did not reconcile")
        assert.include((yield* compare(simulator, assignments)).extra, assignments.key(phantom))

        yield* simulator.setChurn(undefined)
        const [consistent] = yield* sync({ resources: [assignments], full: true })
        assert.strictEqual(consistent!.consistency, "consistent")
        assert.strictEqual(consistent!.deleted, 1)
        yield* assertSame(simulator, assignments)
        assert.strictEqual((yield* stateOf("assignments")).checkpoint, yield* simulator.versionId("assignments"))
      })
    ))

  it.scoped("two locations in one database are kept apart: each partition equals its server, full passes reconcile only their own, checkpoints per location", () =>
    Effect.gen(function*() {
      const filename = yield* (yield* TestDatabase).fresh
      const north = yield* Layer.build(Simulator.layerTest(settings, simulatorOptions))
      const south = yield* Layer.build(Simulator.layerTest({ ...settings, seed: 8, orgName: "Other School" }, simulatorOptions))
      const database = yield* Layer.build(storeLayer(filename))
      const as = <A, E>(
        location: typeof north,
        body: Effect.Effect<A, E, Simulator.Simulator | SqlClient.SqlClient | SyncStore.SyncStore | VppClient.VppClient>
      ) => body.pipe(Effect.provide(location), Effect.provide(database))
      const northUId = yield* as(north, Effect.map(Sync.learnLocation, (location) => location.uId))
      const southUId = yield* as(south, Effect.map(Sync.learnLocation, (location) => location.uId))
      assert.notStrictEqual(northUId, southUId)
      const assertPartition = (location: typeof north, uId: string, resources: ReadonlyArray<Resource.Any> = Resources.all) =>
        as(
          location,
          Effect.gen(function*() {
            const simulator = yield* Simulator.Simulator
            for (const r of resources) {
              const server = byKey(r, yield* serverRecords(simulator, r))
              assert.isAbove(server.size, 0, r.name)
              assert.deepStrictEqual(yield* rowsOf(uId, r), server, `${uId} ${r.name}`)
            }
          })
        )
      const checkpointOf = (uId: string) => Effect.map(stateOf("assignments").pipe(SyncStore.forLocation(uId)), (state) => state.checkpoint)

      const first = yield* as(north, sync())
      assert.deepStrictEqual([...new Set(first.map((summary) => summary.location))], [northUId])
      const second = yield* as(south, sync())
      assert.deepStrictEqual([...new Set(second.map((summary) => summary.location))], [southUId])
      for (const summary of second) assert.strictEqual(summary.mode, "full", `${summary.resource}: the other location's checkpoint is not its own`)
      yield* assertPartition(north, northUId)
      yield* assertPartition(south, southUId)
      assert.strictEqual(yield* as(north, checkpointOf(northUId)), yield* as(north, Effect.flatMap(Simulator.Simulator, (s) => s.versionId("assignments"))))
      assert.strictEqual(yield* as(south, checkpointOf(southUId)), yield* as(south, Effect.flatMap(Simulator.Simulator, (s) => s.versionId("assignments"))))

      // Deletions on both servers; a full run of north reconciles north's partition and leaves south's as it was.
      yield* as(north, Effect.flatMap(Simulator.Simulator, (s) => s.churn("assignments", { deletes: 6, inserts: 2 })))
      yield* as(south, Effect.flatMap(Simulator.Simulator, (s) => s.churn("assignments", { deletes: 5 })))
      const southBefore = yield* as(south, rowsOf(southUId, resource("assignments")))
      const northBefore = yield* as(north, rowsOf(northUId, resource("assignments")))
      const northServer = byKey(resource("assignments"), yield* as(north, Effect.flatMap(Simulator.Simulator, (s) => serverRecords(s, resource("assignments")))))
      const northDeleted = [...northBefore.keys()].filter((key) => !northServer.has(key)).length
      assert.isAbove(northDeleted, 0)
      const [northFull] = yield* as(north, sync({ resources: [resource("assignments")], full: true }))
      assert.strictEqual(northFull!.deleted, northDeleted)
      yield* assertPartition(north, northUId, [resource("assignments")])
      assert.deepStrictEqual(yield* as(south, rowsOf(southUId, resource("assignments"))), southBefore, "south's rows are untouched")
      // South's next run is incremental from its own checkpoint; its deletions wait for its own full run.
      const [southDelta] = yield* as(south, sync({ resources: [resource("assignments")] }))
      assert.strictEqual(southDelta!.mode, "incremental")
      assert.strictEqual(southDelta!.deleted, 0)
      const [southFull] = yield* as(south, sync({ resources: [resource("assignments")], full: true }))
      assert.strictEqual(southFull!.deleted, 5)
      yield* assertPartition(south, southUId, [resource("assignments")])

      // The locations, as `vppkit locations` lists them.
      const locations = yield* as(north, SyncStore.locations)
      assert.deepStrictEqual(
        locations.map((l) => [l.uId, l.locationName, l.orgName, l.baseUrl, l.tokens, l.resources.map((r) => r.resource).sort()]).sort(),
        [
          [northUId, "Simulated School", "Simulated School", Simulator.testBaseUrl, 1, [...names].sort()],
          [southUId, "Other School", "Other School", Simulator.testBaseUrl, 1, [...names].sort()]
        ].sort()
      )
      for (const location of locations) {
        assert.strictEqual(location.tokenExpiresAt, "2030-11-08T22:33:22.000Z")
        const assignments = location.resources.find((r) => r.resource === "assignments")!
        assert.strictEqual(assignments.records, (yield* as(location.uId === northUId ? north : south, rowsOf(location.uId, resource("assignments")))).size)
      }
    }))

  it.scoped("two tokens of one library write its rows once and share its v2 checkpoints; a legacy checkpoint refused for the other token falls back to full", () =>
    Effect.gen(function*() {
      const filename = yield* (yield* TestDatabase).fresh
      const server = yield* Layer.build(Simulator.layerTest({ ...settings, tokens: 2 }, simulatorOptions))
      const simulator = Context.get(server, Simulator.Simulator)
      assert.strictEqual(simulator.tokens.length, 2)
      const database = yield* Layer.build(storeLayer(filename))
      const secondClient = yield* VppClient.make({
        ...simulatorOptions,
        maxRequestsPerSecond: Infinity,
        token: simulator.tokens[1]!,
        baseUrl: Simulator.testBaseUrl
      }).pipe(Effect.provideService(HttpClient.HttpClient, Simulator.makeHttpClient(simulator)))
      const withToken = <A, E>(
        token: 1 | 2,
        body: Effect.Effect<A, E, Simulator.Simulator | SqlClient.SqlClient | SyncStore.SyncStore | VppClient.VppClient>
      ) =>
        body.pipe(
          Effect.provide(token === 1 ? server : Context.add(server, VppClient.VppClient, secondClient)),
          Effect.provide(database)
        )
      const first = yield* withToken(1, sync())
      const uId = first[0]!.location
      const counts = () => withToken(1, Effect.forEach(Resources.all, (r) => rowsPerLocation(r)))
      const expected = yield* Effect.forEach(Resources.all, (r) => Effect.map(serverRecords(simulator, r), (records) => ({ [uId]: records.length })))
      assert.deepStrictEqual(yield* counts(), expected)

      yield* simulator.churn("assignments", { inserts: 5, updates: 5 })
      yield* simulator.churn("users", { inserts: 3, updates: 3 })
      const assignmentsCheckpoint = (yield* withToken(1, stateOf("assignments").pipe(SyncStore.forLocation(uId)))).checkpoint!
      // The server keeps legacy checkpoints per token: the second token's first legacy delta is refused.
      yield* simulator.inject({ _tag: "Error", status: 200, errorNumber: 9629 }, { path: "/getVPPUsersSrv" })
      const notices: Array<Sync.Notice> = []
      const secondRun = yield* withToken(2, sync({ onNotice: (notice) => Effect.sync(() => void notices.push(notice)) }))
      const of = (name: string) => secondRun.find((summary) => summary.resource === name)!
      for (const summary of secondRun) assert.strictEqual(summary.location, uId, "the same location")
      assert.strictEqual(of("assignments").mode, "incremental", "the first token's checkpoint serves the second")
      assert.strictEqual(of("assignments").records, (yield* simulator.changedSince("assignments", assignmentsCheckpoint)).length)
      assert.strictEqual(of("users").mode, "incremental")
      assert.strictEqual(of("legacy-users").mode, "full")
      assert.strictEqual(of("legacy-users").reason, "checkpoint-unusable")
      assert.deepStrictEqual(notices.map((notice) => [notice._tag, notice.resource]), [["CheckpointRefused", "legacy-users"]])

      // One partition, each record once, equal to the server's.
      const after = yield* Effect.forEach(Resources.all, (r) => Effect.map(serverRecords(simulator, r), (records) => ({ [uId]: records.length })))
      assert.deepStrictEqual(yield* counts(), after)
      for (const r of Resources.all) {
        if (r.name === "assignments") continue // its deletions wait for a full run; none happened here
        assert.deepStrictEqual(yield* withToken(2, rowsOf(uId, r)), byKey(r, yield* serverRecords(simulator, r)), r.name)
      }
      const locations = yield* withToken(2, SyncStore.locations)
      assert.deepStrictEqual(locations.map((l) => [l.uId, l.tokens]), [[uId, 2]])
      const fingerprints = yield* withToken(2, Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ readonly fingerprint: string; readonly uid: string }>`SELECT ${sql("fingerprint")}, ${sql("uid")} FROM ${
          sql(SqlSyncStore.locationTokensTable)
        } ORDER BY 1`))
      assert.deepStrictEqual(
        fingerprints,
        simulator.tokens.map((token) => ({ fingerprint: crypto.createHash("sha256").update(Redacted.value(token.value)).digest("hex"), uid: uId }))
          .sort((a, b) => a.fingerprint < b.fingerprint ? -1 : 1)
      )
      // Neither token, nor a part of it, is in any table.
      yield* withToken(1, Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        for (const table of yield* tablesOf) {
          const text = JSON.stringify(yield* sql`SELECT * FROM ${sql(table)}`)
          for (const token of simulator.tokens) {
            assert.isFalse(text.includes(Redacted.value(token.value)), table)
            assert.isFalse(text.includes(Redacted.value(token.value).slice(8, 40)), table)
          }
        }
      }))
    }))

  it.scoped("a page of another library (uId) than the location's is refused before anything of it is written", () =>
    Effect.gen(function*() {
      const filename = yield* (yield* TestDatabase).fresh
      const data = yield* Simulator.make(settings)
      const config = yield* Simulator.make({ ...settings, seed: 9 })
      // A server whose Client Config names another library than its data pages carry.
      const http = HttpClient.make((request, url) =>
        url.pathname.endsWith("/v2/client/config")
          ? Simulator.makeHttpClient(config).execute(HttpClientRequest.bearerToken(request, config.token.value))
          : Simulator.makeHttpClient(data).execute(request)
      )
      const client = yield* VppClient.make({ ...simulatorOptions, maxRequestsPerSecond: Infinity, token: data.token, baseUrl: Simulator.testBaseUrl })
        .pipe(Effect.provideService(HttpClient.HttpClient, http))
      const configUId = yield* Effect.map(Sync.learnLocation, (location) => location.uId).pipe(Effect.provideService(VppClient.VppClient, client))
      const result = yield* Effect.either(sync()).pipe(
        Effect.provideService(VppClient.VppClient, client),
        Effect.provide(storeLayer(filename))
      )
      assert.isTrue(Either.isLeft(result), "the sync was refused")
      const error = (result as Either.Left<unknown, unknown>).left as Sync.LocationMismatchError
      assert.strictEqual(error._tag, "LocationMismatchError")
      assert.strictEqual(error.location, configUId)
      assert.strictEqual(error.resource, "assets")
      assert.match(error.presented, /^\d+$/)
      assert.notStrictEqual(error.presented, configUId)
      assert.strictEqual((yield* data.log).filter((entry) => entry.path === "/v2/assets").length, 1, "refused at the first page")
      // No record and no checkpoint of any location.
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        for (const r of Resources.all) assert.deepStrictEqual(yield* rowsPerLocation(r), {}, r.name)
        assert.deepStrictEqual(yield* sql`SELECT * FROM ${sql(SqlSyncStore.stateTable)}`, [])
      }).pipe(Effect.provide(storeLayer(filename)))
    }))

  it.scoped("a database made by the previous version is migrated; its rows are adopted by its location on that location's next sync, which runs incrementally", () =>
    Effect.gen(function*() {
      const filename = yield* (yield* TestDatabase).fresh
      const server = yield* Layer.build(Simulator.layerTest(settings, simulatorOptions))
      const other = yield* Layer.build(Simulator.layerTest({ ...settings, seed: 8, orgName: "Other School" }, simulatorOptions))
      const simulator = Context.get(server, Simulator.Simulator)
      const assignments = resource("assignments")
      const users = resource("users")
      const uId = yield* Effect.map(Sync.learnLocation, (location) => location.uId).pipe(Effect.provide(server))
      const records = {
        assignments: yield* serverRecords(simulator, assignments),
        users: yield* serverRecords(simulator, users)
      }
      const checkpoints = { assignments: yield* simulator.versionId("assignments"), users: yield* simulator.versionId("users") }
      // The database exactly as the previous version left it (its statements): migration 0001 recorded, sync_state
      // keyed by resource with the organisation, resource tables keyed by natural_key alone; a full sync of
      // assignments and users.
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(sql.onDialectOrElse({
          pg: () =>
            "CREATE TABLE \"vppkit_sync_migrations\" (migration_id integer primary key, created_at timestamp with time zone not null default now(), name text not null)",
          orElse: () =>
            "CREATE TABLE IF NOT EXISTS \"vppkit_sync_migrations\" (migration_id integer PRIMARY KEY NOT NULL, created_at datetime NOT NULL DEFAULT current_timestamp, name VARCHAR(255) NOT NULL)"
        }))
        yield* sql.unsafe("INSERT INTO \"vppkit_sync_migrations\" (migration_id, name) VALUES (1, 'sync_state')")
        yield* sql.unsafe(
          "CREATE TABLE IF NOT EXISTS \"sync_state\" (\"resource\" TEXT PRIMARY KEY, \"checkpoint_field\" TEXT, \"checkpoint\" TEXT NULL, " +
            "\"consistency\" TEXT, \"records\" INTEGER, \"last_full_sync_at\" TEXT, \"last_sync_at\" TEXT, \"org_name\" TEXT, \"location_uid\" TEXT, \"base_url\" TEXT)"
        )
        yield* sql.unsafe(
          "CREATE TABLE IF NOT EXISTS \"assignments\" (\"natural_key\" TEXT PRIMARY KEY, \"adamId\" TEXT, \"pricingParam\" TEXT, " +
            "\"clientUserId\" TEXT, \"serialNumber\" TEXT, \"idHash\" TEXT, \"userStatus\" TEXT)"
        )
        yield* sql.unsafe("CREATE INDEX IF NOT EXISTS \"assignments_adamId\" ON \"assignments\" (\"adamId\")")
        yield* sql.unsafe("CREATE INDEX IF NOT EXISTS \"assignments_clientUserId\" ON \"assignments\" (\"clientUserId\")")
        yield* sql.unsafe("CREATE INDEX IF NOT EXISTS \"assignments_serialNumber\" ON \"assignments\" (\"serialNumber\")")
        yield* sql.unsafe(
          "CREATE TABLE IF NOT EXISTS \"users\" (\"natural_key\" TEXT PRIMARY KEY, \"clientUserId\" TEXT, \"email\" TEXT, \"idHash\" TEXT, " +
            "\"inviteCode\" TEXT, \"status\" TEXT)"
        )
        yield* sql.unsafe("CREATE INDEX IF NOT EXISTS \"users_clientUserId\" ON \"users\" (\"clientUserId\")")
        for (const [r, table] of [[assignments, records.assignments], [users, records.users]] as const) {
          for (const record of table) {
            const row: Record<string, unknown> = { natural_key: r.key(record) }
            for (const field of Resource.columns(r)) row[field.name] = record[field.name] ?? null
            yield* sql`INSERT INTO ${sql(SyncStore.tableName(r))} ${sql.insert(row)}`
          }
          yield* sql`INSERT INTO ${sql("sync_state")} VALUES (${r.name}, ${"versionId"}, ${checkpoints[r.name as "users"]}, ${"consistent"}, ${table.length}, ${"2026-01-01T00:00:00.000Z"}, ${"2026-01-01T00:00:00.000Z"}, ${"Simulated School"}, ${r.name === "assignments" ? uId : null}, ${Simulator.testBaseUrl})`
        }
      }).pipe(Effect.provide(NodeDatabase.layer(filename)), Effect.scoped)
      yield* simulator.churn("assignments", { inserts: 7, updates: 5 })
      yield* simulator.churn("users", { updates: 4 })

      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const migrations = yield* sql`SELECT ${sql("migration_id")}, ${sql("name")} FROM ${sql(SqlSyncStore.migrationsTable)} ORDER BY 1`
        assert.deepStrictEqual(migrations, [{ migration_id: 1, name: "sync_state" }, { migration_id: 2, name: "locations" }])
        // Another organisation's location syncs first: it does not take the unassigned rows.
        const [otherSummary] = yield* sync({ resources: [assignments, users] }).pipe(Effect.provide(other))
        assert.strictEqual(otherSummary!.mode, "full")
        const otherUId = otherSummary!.location
        assert.deepStrictEqual(
          Object.keys(yield* rowsPerLocation(assignments)).sort(),
          [SyncStore.unassigned, otherUId].sort(),
          "the old rows are still unassigned"
        )

        // The location the rows are of: adopted, and incremental from the stored checkpoints.
        const summaries = yield* sync({ resources: [assignments, users] }).pipe(Effect.provide(server))
        const [assignmentsRun, usersRun] = summaries
        assert.strictEqual(assignmentsRun!.location, uId)
        assert.strictEqual(assignmentsRun!.mode, "incremental")
        assert.strictEqual(assignmentsRun!.records, (yield* simulator.changedSince("assignments", checkpoints.assignments)).length)
        assert.strictEqual(assignmentsRun!.rows, records.assignments.length + 7)
        assert.strictEqual(usersRun!.mode, "incremental")
        assert.strictEqual(usersRun!.records, (yield* simulator.changedSince("users", checkpoints.users)).length)
        for (const r of [assignments, users]) {
          assert.deepStrictEqual(yield* rowsOf(uId, r), byKey(r, yield* serverRecords(simulator, r)), r.name)
          const perLocation = yield* rowsPerLocation(r)
          assert.isUndefined(perLocation[SyncStore.unassigned], `${r.name}: no row left unassigned`)
          assert.deepStrictEqual(Object.keys(perLocation).sort(), [uId, otherUId].sort())
        }
        const state = yield* stateOf("assignments").pipe(SyncStore.forLocation(uId))
        assert.strictEqual(state.checkpoint, yield* simulator.versionId("assignments"))
        assert.strictEqual(state.lastFullSyncAt, "2026-01-01T00:00:00.000Z", "the full sync the rows came from is still the last")
        const unassignedStates = yield* sql`SELECT * FROM ${sql(SqlSyncStore.stateTable)} WHERE ${sql(SqlSyncStore.locationColumn)} = ${SyncStore.unassigned}`
        assert.deepStrictEqual(unassignedStates, [])
        assert.deepStrictEqual((yield* SyncStore.locations).map((l) => l.uId).sort(), [uId, otherUId].sort())
      }).pipe(Effect.provide(storeLayer(filename)))

      // Opened again: nothing left to migrate.
      assert.deepStrictEqual(yield* Effect.provide(SqlSyncStore.migrate, NodeDatabase.layer(filename)), [])
    }))

  it.scoped("a full run none of whose passes was consistent stores no checkpoint, and the next run is full again", () =>
    withStore(() =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        const assignments = resource("assignments")
        // A write before every request: no pass of the first run is consistent, so it has no checkpoint to store.
        yield* simulator.setChurn({ every: 1, resources: ["assignments"], updates: 1 })
        const [first] = yield* sync({ resources: [assignments] })
        assert.strictEqual(first!.mode, "full")
        assert.strictEqual(first!.consistency, "drifted")
        assert.strictEqual(first!.passes, 3)
        assert.strictEqual(first!.checkpoint, "none")
        assert.strictEqual((yield* stateOf("assignments")).checkpoint, undefined)

        // And so it is; once a pass is consistent, it stores one.
        yield* simulator.setChurn(undefined)
        const [second] = yield* sync({ resources: [assignments] })
        assert.strictEqual(second!.mode, "full")
        assert.strictEqual(second!.consistency, "consistent")
        assert.strictEqual(second!.checkpoint, "advanced")
      })
    ))

  it.scoped("a first sync into an empty table whose first pass drifts deletes what only that pass delivered", () =>
    withStore(() =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        const assignments = resource("assignments")
        // One write batch, before the second request of the first pass: page 0 was delivered, then some of its
        // records may be deleted; the second pass is consistent.
        yield* simulator.setChurn({ every: 2, resources: ["assignments"], deletes: 40, limit: 1 })
        const [summary] = yield* sync({ resources: [assignments] })
        assert.strictEqual(summary!.mode, "full")
        assert.strictEqual(summary!.passes, 2)
        assert.strictEqual(summary!.consistency, "consistent")
        assert.isAbove(summary!.deleted, 0, "records the first pass delivered were deleted on the server")
        yield* assertSame(simulator, assignments)
        assert.strictEqual((yield* stateOf("assignments")).records, (yield* simulator.records("assignments")).length)
      })
    ))

  it.scoped("a drifted delta is written but keeps the old checkpoint; the next delta fetches it again", () =>
    withStore(() =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        const assignments = resource("assignments")
        yield* sync({ resources: [assignments] })
        const before = yield* stateOf("assignments")
        yield* simulator.churn("assignments", { updates: 60 }) // a delta of several pages
        yield* simulator.setChurn({ every: 1, resources: ["assignments"], updates: 1 })
        const [drifted] = yield* sync({ resources: [assignments] })
        assert.strictEqual(drifted!.mode, "incremental")
        assert.strictEqual(drifted!.consistency, "drifted")
        assert.strictEqual(drifted!.checkpoint, "kept")
        assert.strictEqual((yield* stateOf("assignments")).checkpoint, before.checkpoint)

        yield* simulator.setChurn(undefined)
        const [caughtUp] = yield* sync({ resources: [assignments] })
        assert.strictEqual(caughtUp!.consistency, "consistent")
        assert.strictEqual(caughtUp!.checkpoint, "advanced")
        assert.strictEqual(caughtUp!.records, (yield* simulator.changedSince("assignments", before.checkpoint!)).length)
        assert.isAbove(caughtUp!.records, drifted!.records / 2, "the drifted delta's records were fetched again")
        yield* assertSame(simulator, assignments)
      })
    ))

  it.scoped("an interruption rolls the running resource back to its last commit; the ones before stay committed", () =>
    withStore(() =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        const users = resource("users")
        const subscriptions = resource("subscription-assignments")
        yield* sync({ resources: [users, subscriptions] })
        const committed = yield* snapshot([subscriptions])
        yield* simulator.churn("users", { inserts: 4, updates: 4, deletes: 2 })
        yield* simulator.subscriptions.churn("subscriptionAssignments", { inserts: 5, updates: 5, deletes: 3 })
        // The second page of subscription assignments never answers: the first is written in the open
        // transaction, then the run hangs until it is interrupted.
        yield* simulator.inject({ _tag: "Stall" }, { path: "/v2/subscriptions/assignments", skip: 1 })
        yield* simulator.clearLog
        const running = yield* Effect.fork(sync({ resources: [users, subscriptions] }))
        // interrupted once the interrupted resource's first page is delivered and its second request hangs (not
        // after a fixed time, which a loaded machine can outlast before any page comes; nor at the first page alone,
        // which left the stall armed for the sync below when it came first)
        const stalled = Effect.zipWith(
          simulator.log,
          simulator.pendingFaults,
          (log, pending) => pending === 0 && log.some((entry) => entry.path === "/v2/subscriptions/assignments" && entry.records > 0)
        )
        for (let i = 0; i < 2_000 && !(yield* stalled); i++) yield* Effect.sleep("10 millis")
        assert.strictEqual(yield* simulator.pendingFaults, 0, "the second page's request hangs")
        const exit = yield* Fiber.interrupt(running)
        assert.isTrue(Exit.isInterrupted(exit), "the run was interrupted")
        const log = yield* simulator.log
        assert.isTrue(
          log.some((entry) => entry.path === "/v2/subscriptions/assignments" && entry.records > 0),
          "a page of the interrupted resource was delivered before the interruption"
        )
        // users committed before the interruption; subscription assignments are exactly as before.
        yield* assertSame(simulator, users)
        assert.deepStrictEqual(yield* snapshot([subscriptions]), committed)
        const [again] = yield* sync({ resources: [subscriptions] })
        assert.strictEqual(again!.consistency, "consistent")
        yield* assertSame(simulator, subscriptions)
      })
    ))
})
  })
}
