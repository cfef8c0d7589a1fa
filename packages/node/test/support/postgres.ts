/**
 * The databases the store suites run against, shared by every package's tests: SQLite always, PostgreSQL when a
 * server is named.
 *
 * `VPPKIT_TEST_PG_URL` names the server: a URL of a database on it, as a user that may `CREATE DATABASE`
 * (e.g. `postgres://postgres@127.0.0.1:5432/postgres`, the default when `CI=true`). Each PostgreSQL suite gets
 * a database of its own, `vppkit_test_<random>` (with ICU's English collation where the server has ICU), dropped
 * `WITH (FORCE)` when the suite ends, and each test in it
 * a schema of its own (the URL's `search_path`), dropped when the test ends. Without a server named, the
 * PostgreSQL suites are skipped and the global setup prints {@link skipNotice} once; with one named that
 * cannot be reached, the global setup fails the run.
 */
import type * as SqlError from "@effect/sql/SqlError"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeDatabase from "../../src/NodeDatabase.js"

/** The server the PostgreSQL suites use, if any: `VPPKIT_TEST_PG_URL`, else the CI's default when `CI=true`. */
export const serverUrl: string | undefined = process.env["VPPKIT_TEST_PG_URL"] !== undefined &&
    process.env["VPPKIT_TEST_PG_URL"] !== ""
  ? process.env["VPPKIT_TEST_PG_URL"]
  : process.env["CI"] === "true"
  ? "postgres://postgres@127.0.0.1:5432/postgres"
  : undefined

/** The line printed once when the PostgreSQL suites are skipped. */
export const skipNotice =
  "PostgreSQL suites skipped: set VPPKIT_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/postgres (a user that may CREATE DATABASE) to run them"

/** `url` with another database (its path). */
const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/** `url` with `search_path` set to `schema` for every connection (libpq's `options`). */
export const withSchema = (url: string, schema: string): string => {
  const parsed = new URL(url)
  parsed.searchParams.set("options", `-c search_path=${schema}`)
  return parsed.toString()
}

const randomName = (prefix: string) => `${prefix}_${crypto.randomBytes(6).toString("hex")}`

/** Runs `body` with a client of `url` (its own pool, closed afterwards). */
const withClient = <A, E>(url: string, body: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.scoped(Effect.provide(body, NodeDatabase.layer(url)))

/** Fails unless the server answers. */
export const checkServer = (url: string): Effect.Effect<void, NodeDatabase.DatabaseError | SqlError.SqlError> =>
  withClient(url, Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`))

/**
 * A database of its own on the server for the scope: `CREATE DATABASE vppkit_test_<random>`, dropped
 * `WITH (FORCE)` (its connections ended) when the scope closes. Answers its URL.
 */
export const freshDatabase = (
  server: string
): Effect.Effect<string, NodeDatabase.DatabaseError | SqlError.SqlError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const name = randomName("vppkit_test")
      // A language's collation where the server has ICU (not byte order, as a production database may have),
      // else the server's default.
      yield* withClient(
        server,
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql.unsafe(`CREATE DATABASE "${name}" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en'`).pipe(
            Effect.orElse(() => sql.unsafe(`CREATE DATABASE "${name}"`))
          ))
      )
      return name
    }),
    (name) =>
      withClient(server, Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)))
        .pipe(Effect.orDie)
  ).pipe(Effect.map((name) => withDatabase(server, name)))

/**
 * A database to run a store suite against: {@link TestDatabase.fresh} answers a `--db` value of an empty
 * database of its own for the scope (a SQLite file, or a PostgreSQL schema of its own).
 */
export class TestDatabase extends Context.Tag("@vppkit/test/TestDatabase")<TestDatabase, {
  readonly name: "sqlite" | "postgres"
  readonly fresh: Effect.Effect<string, never, Scope.Scope>
}>() {}

/** SQLite: a file of its own in a temporary directory of the suite. */
export const sqlite: Layer.Layer<TestDatabase> = Layer.scoped(
  TestDatabase,
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-store-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    let n = 0
    return { name: "sqlite" as const, fresh: Effect.sync(() => path.join(dir, `store-${++n}.sqlite`)) }
  })
)

/** PostgreSQL: a database of the suite's own on `server`; each test a schema of its own in it, dropped afterwards. */
export const postgres = (server: string): Layer.Layer<TestDatabase, NodeDatabase.DatabaseError | SqlError.SqlError> =>
  Layer.scoped(
    TestDatabase,
    Effect.gen(function*() {
      const database = yield* freshDatabase(server)
      const inDatabase = <A, E>(body: Effect.Effect<A, E, SqlClient.SqlClient>) => withClient(database, body)
      return {
        name: "postgres" as const,
        fresh: Effect.acquireRelease(
          Effect.gen(function*() {
            const schema = randomName("t")
            yield* inDatabase(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE SCHEMA "${schema}"`)))
            return schema
          }),
          (schema) => inDatabase(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA "${schema}" CASCADE`)))
            .pipe(Effect.orDie)
        ).pipe(Effect.map((schema) => withSchema(database, schema)), Effect.orDie)
      }
    })
  )

/**
 * The store suites' databases: SQLite, and PostgreSQL, `enabled` when {@link serverUrl} names a server (a suite
 * skips it otherwise: `describe.skipIf(!backend.enabled)`; its layer then fails).
 */
export const backends: ReadonlyArray<{
  readonly name: "sqlite" | "postgres"
  readonly enabled: boolean
  readonly layer: Layer.Layer<TestDatabase, NodeDatabase.DatabaseError | SqlError.SqlError>
}> = [
  { name: "sqlite", enabled: true, layer: sqlite },
  {
    name: "postgres",
    enabled: serverUrl !== undefined,
    layer: serverUrl === undefined ? Layer.die(new Error(skipNotice)) : postgres(serverUrl)
  }
]
