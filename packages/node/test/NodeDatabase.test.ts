import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeDatabase from "../src/NodeDatabase.js"
import { freshDatabase, serverUrl } from "./support/postgres.js"

const target = (value: string) => Either.getOrThrow(NodeDatabase.parse(value))
const refusal = (value: string) => Either.getLeft(NodeDatabase.parse(value)).pipe((o) => o._tag === "Some" ? o.value : assert.fail(value))

describe("NodeDatabase.parse", () => {
  it("paths, file: and sqlite: URLs are SQLite files; postgres:// and postgresql:// URLs PostgreSQL", () => {
    assert.deepStrictEqual(target("vppkit.sqlite"), { _tag: "Sqlite", filename: "vppkit.sqlite", description: "vppkit.sqlite" })
    assert.strictEqual((target("/var/lib/vpp.sqlite") as { filename: string }).filename, "/var/lib/vpp.sqlite")
    assert.strictEqual((target("file:///var/lib/my%20vpp.sqlite") as { filename: string }).filename, "/var/lib/my vpp.sqlite")
    assert.strictEqual((target("sqlite:vpp.sqlite") as { filename: string }).filename, "vpp.sqlite")
    assert.strictEqual((target("sqlite://data/vpp.sqlite") as { filename: string }).filename, "data/vpp.sqlite")
    assert.strictEqual((target("sqlite:///abs/vpp.sqlite") as { filename: string }).filename, "/abs/vpp.sqlite")
    // a colon in a file name is not a scheme
    assert.strictEqual(target("backup:2026.sqlite")._tag, "Sqlite")
    for (const url of ["postgres://u@db.example/vpp", "postgresql://u:secret@db.example:6432/vpp?sslmode=require", "POSTGRES://h/d"]) {
      const found = target(url)
      assert.strictEqual(found._tag, "Postgres", url)
      assert.strictEqual(Redacted.value((found as { url: Redacted.Redacted<string> }).url), url)
    }
    assert.strictEqual(target("postgresql://u:secret@db.example:6432/vpp?sslmode=require").description, "postgresql://u@db.example:6432/vpp")
  })

  it("other URL schemes, malformed PostgreSQL URLs and empty ones are refused, without their password", () => {
    const mysql = refusal("mysql://root:hunter2@db/vpp")
    assert.strictEqual(mysql.reason, "url")
    assert.strictEqual(mysql.message, "mysql://…@db/vpp: unsupported database URL (use a file path, sqlite:, or postgres://)")
    const malformed = refusal("postgres://u:hunter2@[bad/vpp")
    assert.strictEqual(malformed.reason, "url")
    assert.notInclude(malformed.message, "hunter2")
    assert.strictEqual(malformed.message, "postgres://…: not a valid URL (expected postgres://user:password@host:port/database)")
    assert.include(refusal("postgres:///vpp").message, "names no host")
    assert.include(refusal("sqlite:").message, "names no file")
  })

  it.prop("a PostgreSQL URL's description and messages never hold its password", {
    password: FastCheck.string({ minLength: 6, maxLength: 24 }).filter((p) => /[a-z]{3}/i.test(p)),
    query: FastCheck.boolean()
  }, ({ password, query }) => {
    const encoded = encodeURIComponent(password)
    const url = query
      ? `postgres://user@db.example:5432/vpp?password=${encoded}`
      : `postgres://user:${encoded}@db.example:5432/vpp`
    const description = NodeDatabase.describe(url)
    assert.strictEqual(description, "postgres://user@db.example:5432/vpp")
    assert.notInclude(description, encoded)
  })
})

/** A TCP port on the loopback that nothing listens on. */
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
)

describe("NodeDatabase.layer", () => {
  it.scopedLive("SQLite: a new file is created for its owner only; a file that is not a database is an open error", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-db-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const db = path.join(dir, "new.sqlite")
      const rows = yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly n: number }>`SELECT 1 + 1 AS n`),
        NodeDatabase.layer(`sqlite:${db}`)
      )
      assert.deepStrictEqual(rows, [{ n: 2 }])
      assert.strictEqual((fs.statSync(db).mode & 0o777).toString(8), "600")

      const junk = path.join(dir, "junk.sqlite")
      fs.writeFileSync(junk, "not a database, not at all, no".repeat(100))
      const error = yield* Effect.flip(Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT * FROM sqlite_master`),
        NodeDatabase.layer(junk)
      ))
      assert.strictEqual(error._tag, "DatabaseError")
      assert.match(error.message, new RegExp(`^cannot open the database ${junk}: `))
    }))

  it.scopedLive("SQLite read-only: a missing file is an open error and is not created; an existing one is read, never written", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-db-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const missing = path.join(dir, "missing.sqlite")
      const error = yield* Effect.flip(Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`),
        NodeDatabase.layerTarget(target(missing), { readOnly: true })
      ))
      assert.strictEqual(error._tag === "DatabaseError" ? error.reason : error._tag, "open")
      assert.deepStrictEqual(fs.readdirSync(dir), [])

      const db = path.join(dir, "vpp.sqlite")
      yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.zipRight(sql`CREATE TABLE t (x INTEGER)`, sql`INSERT INTO t VALUES (7)`)),
        NodeDatabase.layer(db)
      )
      const readOnly = NodeDatabase.layerTarget(target(db), { readOnly: true })
      const rows = yield* Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly x: number }>`SELECT x FROM t`), readOnly)
      assert.deepStrictEqual(rows, [{ x: 7 }])
      const refused = yield* Effect.flip(Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO t VALUES (8)`), readOnly))
      assert.strictEqual(refused._tag, "SqlError")
      assert.include(String((refused.cause as Error).message), "readonly")
    }))

  it.scopedLive("PostgreSQL that cannot be reached: one line, without the password", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const error = yield* Effect.flip(Layer.build(NodeDatabase.layer(`postgres://vpp:hunter2@127.0.0.1:${port}/vpp`)))
      assert.strictEqual(error._tag, "DatabaseError")
      assert.strictEqual((error as NodeDatabase.DatabaseError).reason, "open")
      assert.strictEqual(
        error.message,
        `cannot open the database postgres://vpp@127.0.0.1:${port}/vpp: connection refused (ECONNREFUSED 127.0.0.1:${port}): is PostgreSQL running there?`
      )
    }))
})

describe.skipIf(serverUrl === undefined)("NodeDatabase.layer on PostgreSQL", () => {
  it.scopedLive("BIGINT and COUNT(*) come back as numbers when safe, else as text; a missing database is an open error", () =>
    Effect.gen(function*() {
      const url = yield* freshDatabase(serverUrl!)
      const row = yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<Record<string, unknown>>`SELECT COUNT(*) AS n, 9007199254740991::bigint AS safe, 9007199254740993::bigint AS big, 2::int AS small, 1.5::float8 AS real`),
        NodeDatabase.layer(url)
      )
      assert.deepStrictEqual(row, [{ n: 1, safe: 9007199254740991, big: "9007199254740993", small: 2, real: 1.5 }])

      const missing = new URL(url)
      missing.pathname = "/vppkit_no_such_database"
      missing.password = "hunter2"
      const error = yield* Effect.flip(Layer.build(NodeDatabase.layer(missing.toString())))
      assert.include(error.message, `cannot open the database ${NodeDatabase.describe(missing.toString())}: `)
      assert.include(error.message, "vppkit_no_such_database")
      assert.notInclude(error.message, "hunter2")
    }))
})
