import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, layer } from "@effect/vitest"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import type * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import type * as VppClient from "@vppkit/core/VppClient"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as SqlSyncStore from "../src/SqlSyncStore.js"
import * as Sync from "../src/Sync.js"
import * as SyncStore from "../src/SyncStore.js"
import { backends, TestDatabase } from "../../node/test/support/postgres.js"
import { compare, snapshot, tempDir } from "./support/store.js"

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

/** Runs `body` with a fresh simulator and a fresh database of the backend (its `--db` value is handed over). */
const withStore = <A, E>(
  body: (
    filename: string
  ) => Effect.Effect<A, E, Simulator.Simulator | SqlClient.SqlClient | SyncStore.SyncStore | VppClient.VppClient>,
  simulatorSettings: Simulator.Settings = settings
) =>
  Effect.gen(function*() {
    const filename = yield* (yield* TestDatabase).fresh
    return yield* body(filename).pipe(
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

        // The sToken is never written to the database: no row holds it, nor (SQLite) the file or its WAL.
        const secret = Redacted.value(simulator.token.value)
        const sql = yield* SqlClient.SqlClient
        for (const table of [...Resources.all.map(SyncStore.tableName), SqlSyncStore.stateTable]) {
          const rows = yield* sql<Record<string, unknown>>`SELECT * FROM ${sql(table)}`
          assert.isFalse(JSON.stringify(rows).includes(secret), table)
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

  it.scoped("another organisation's token on a database is refused before it is asked anything or anything is written", () =>
    Effect.gen(function*() {
      const filename = yield* (yield* TestDatabase).fresh
      const simulatorOptions = { retry: { baseDelay: 0 }, rateLimitPause: 0 }
      const first = yield* Layer.build(Simulator.layerTest(settings, simulatorOptions))
      // Another organisation, and another library of an organisation of the same name (another uId).
      const other = yield* Layer.build(Simulator.layerTest({ ...settings, seed: 8, orgName: "Other School" }, simulatorOptions))
      const sameName = yield* Layer.build(Simulator.layerTest({ ...settings, seed: 9 }, simulatorOptions))
      const as = <A, E>(
        organisation: typeof first,
        body: Effect.Effect<A, E, Simulator.Simulator | SqlClient.SqlClient | SyncStore.SyncStore | VppClient.VppClient>
      ) => body.pipe(Effect.provide(organisation), Effect.provide(storeLayer(filename)))
      const attempt = (organisation: typeof first) =>
        as(
          organisation,
          Effect.gen(function*() {
            const simulator = yield* Simulator.Simulator
            const result = yield* Effect.either(sync())
            return { result, requests: (yield* simulator.log).length }
          })
        )
      const refusal = (result: Either.Either<unknown, unknown>): Sync.OrganisationMismatchError => {
        assert.isTrue(Either.isLeft(result), "the sync was refused")
        const error = (result as Either.Left<unknown, unknown>).left
        assert.strictEqual((error as { readonly _tag?: unknown })._tag, "OrganisationMismatchError", String(error))
        return error as Sync.OrganisationMismatchError
      }

      yield* as(first, sync())
      const stored = yield* as(first, snapshot(Resources.all))

      const byName = yield* attempt(other)
      assert.strictEqual(byName.requests, 0, "refused before any request")
      assert.deepStrictEqual(yield* as(first, snapshot(Resources.all)), stored, "nothing was written")
      const nameError = refusal(byName.result)

      const byUId = yield* attempt(sameName)
      assert.strictEqual(byUId.requests, 1, "refused at the first response, the first page of assets")
      assert.deepStrictEqual(yield* as(first, snapshot(Resources.all)), stored, "nothing was written")
      const uIdError = refusal(byUId.result)

      // What the database records, and what the messages say.
      const firstUId = Option.getOrThrow(yield* as(first, SyncStore.readOrganisation)).uId
      assert.match(firstUId ?? "", /^\d+$/)
      assert.deepStrictEqual((yield* as(first, stateOf("assignments"))).organisation, {
        orgName: "Simulated School",
        baseUrl: Simulator.testBaseUrl,
        uId: firstUId
      })
      assert.strictEqual(
        nameError.message,
        `the database holds the records of "Simulated School" (uId ${firstUId}, ${Simulator.testBaseUrl}), the sToken is of "Other School" (${Simulator.testBaseUrl}): refused, to keep two organisations apart; sync "Other School" into another database (another --db)`
      )
      const otherUId = uIdError.presented.uId
      assert.match(otherUId ?? "", /^\d+$/)
      assert.notStrictEqual(otherUId, firstUId)
      assert.include(uIdError.message, `"Simulated School" (uId ${firstUId}, `)
      assert.include(uIdError.message, `"Simulated School" (uId ${otherUId}, `)

      // The organisation of the database syncs on.
      const again = yield* as(first, sync())
      assert.deepStrictEqual(again.map((summary) => summary.resource), names)
    }))

  if (backend.name === "sqlite") it.scoped("a database made before migrations opens with its rows and checkpoints, gains the organisation columns, and syncs incrementally", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "old.sqlite")
      const server = yield* Layer.build(Simulator.layerTest(settings, { retry: { baseDelay: 0 }, rateLimitPause: 0 }))
      const simulator = Context.get(server, Simulator.Simulator)
      const assignments = resource("assignments")
      const records = (yield* simulator.records("assignments")) as ReadonlyArray<SyncStore.JsonRecord>
      const checkpoint = yield* simulator.versionId("assignments")
      // The database exactly as vppkit made it before migrations (the statements it issued), holding a full sync
      // of assignments, and a sync_state of the version before the organisation was recorded.
      yield* Effect.provide(
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql.unsafe(
            "CREATE TABLE IF NOT EXISTS \"sync_state\" (\"resource\" TEXT PRIMARY KEY, \"checkpoint_field\" TEXT, \"checkpoint\" TEXT NULL, " +
              "\"consistency\" TEXT, \"records\" INTEGER, \"last_full_sync_at\" TEXT, \"last_sync_at\" TEXT)"
          )
          yield* sql.unsafe(
            "CREATE TABLE IF NOT EXISTS \"assignments\" (\"natural_key\" TEXT PRIMARY KEY, \"adamId\" TEXT, \"pricingParam\" TEXT, " +
              "\"clientUserId\" TEXT, \"serialNumber\" TEXT, \"idHash\" TEXT, \"userStatus\" TEXT)"
          )
          yield* sql.unsafe("CREATE INDEX IF NOT EXISTS \"assignments_adamId\" ON \"assignments\" (\"adamId\")")
          yield* sql.unsafe("CREATE INDEX IF NOT EXISTS \"assignments_clientUserId\" ON \"assignments\" (\"clientUserId\")")
          yield* sql.unsafe("CREATE INDEX IF NOT EXISTS \"assignments_serialNumber\" ON \"assignments\" (\"serialNumber\")")
          for (const record of records) {
            const row: Record<string, unknown> = { natural_key: assignments.key(record) }
            for (const field of ["adamId", "pricingParam", "clientUserId", "serialNumber", "idHash", "userStatus"]) {
              row[field] = record[field] ?? null
            }
            yield* sql`INSERT INTO ${sql("assignments")} ${sql.insert(row)}`
          }
          yield* sql`INSERT INTO ${sql("sync_state")} VALUES (${"assignments"}, ${"versionId"}, ${checkpoint}, ${"consistent"}, ${records.length}, ${"2026-01-01T00:00:00.000Z"}, ${"2026-01-01T00:00:00.000Z"})`
        }),
        SqliteClient.layer({ filename })
      ).pipe(Effect.scoped)
      yield* simulator.churn("assignments", { inserts: 7, updates: 5 })

      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // It opened: the migration brought sync_state to its shape and kept its row.
        const before = yield* stateOf("assignments")
        assert.strictEqual(before.checkpoint, checkpoint)
        assert.strictEqual(before.records, records.length)
        assert.strictEqual(before.organisation, undefined)
        assert.strictEqual(yield* SyncStore.count(assignments), records.length)
        const migrations = yield* sql`SELECT ${sql("migration_id")}, ${sql("name")} FROM ${sql(SqlSyncStore.migrationsTable)}`
        assert.deepStrictEqual(migrations, [{ migration_id: 1, name: "sync_state" }])

        // Its first sync is incremental from the stored checkpoint, and records the organisation.
        const [summary] = yield* sync({ resources: [assignments] })
        assert.strictEqual(summary!.mode, "incremental")
        assert.strictEqual(summary!.records, (yield* simulator.changedSince("assignments", checkpoint)).length)
        assert.strictEqual(summary!.checkpoint, "advanced")
        assert.strictEqual(summary!.rows, records.length + 7)
        yield* assertSame(simulator, assignments)
        const after = yield* stateOf("assignments")
        assert.strictEqual(after.checkpoint, yield* simulator.versionId("assignments"))
        assert.strictEqual(after.lastFullSyncAt, "2026-01-01T00:00:00.000Z", "the full sync it was made by is still the last")
        const [row] = yield* sql`SELECT ${sql("org_name")}, ${sql("base_url")}, ${sql("location_uid")} FROM ${sql("sync_state")}`
        assert.strictEqual(row!["org_name"], "Simulated School")
        assert.strictEqual(row!["base_url"], Simulator.testBaseUrl)
        assert.match(String(row!["location_uid"]), /^\d+$/)
        assert.deepStrictEqual(
          yield* SyncStore.readOrganisation,
          Option.some({ orgName: "Simulated School", baseUrl: Simulator.testBaseUrl, uId: String(row!["location_uid"]) })
        )
      }).pipe(Effect.provide(server), Effect.provide(storeLayer(filename)))

      // Opened again: nothing left to migrate.
      const again = yield* Effect.provide(SqlSyncStore.migrate, SqliteClient.layer({ filename }))
      assert.deepStrictEqual(again, [])
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
        const result = yield* sync({ resources: [users, subscriptions] }).pipe(Effect.timeoutOption("300 millis"))
        assert.isTrue(Option.isNone(result), "the run was interrupted")
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
