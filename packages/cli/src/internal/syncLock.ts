/**
 * One `vppkit sync` per database at a time.
 *
 * The lock is SQLite's own: a write transaction (`BEGIN IMMEDIATE`) held for the whole run on a small database
 * next to the synced one, `<db>-lock`. The operating system releases it when the process ends, however it
 * ends, so a `kill -9` leaves no lock behind. Before it takes the lock for the run, the holder commits its pid,
 * host and start time there, so a second run can name it (a reader is not blocked by a write transaction that
 * has written nothing). The synced database itself is never held: readers and other tools keep using it.
 *
 * On PostgreSQL ({@link acquireAdvisory}) the lock is a session-level advisory lock, `pg_try_advisory_lock(vppk,
 * hashtext(current_schema() || ':' || uId))`, held by a connection reserved for the run: one sync per location
 * (Apple's library `uId`) in a database and schema, so different locations sync into one database at once. The
 * server releases it when the session ends, so a `kill -9` leaves none behind either. The holder names itself in
 * that session's `application_name` (`vppkit sync <pid>@<host>`), which a second run reads from `pg_stat_activity`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as os from "node:os"
import { CommandError, SyncLockedError } from "../ExitCode.js"
import { createPrivateDatabaseFile } from "./privateFile.js"

/** The lock database of a synced database. */
export const lockPath = (db: string): string => `${db}-lock`

const holderTable = "vppkit_sync_holder"

/** How long a statement other than taking the lock waits for the lock database (a holder committing). */
const waitMillis = 2_000

interface Holder {
  readonly pid: number
  readonly host: string
  readonly started_at: string
}

const isBusy = (error: SqlError.SqlError): boolean => {
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED"
}

/**
 * Takes the lock of `db` for the scope, or fails at once with {@link SyncLockedError} naming the run that holds
 * it. Closing the scope deletes the holder's row and releases the lock.
 */
export const acquire = (db: string): Effect.Effect<void, SyncLockedError | CommandError, Scope.Scope> =>
  Effect.gen(function*() {
    const path = lockPath(db)
    const cannot = (message: string) => new CommandError({ message: `cannot lock ${db} (${path}): ${message}` })
    yield* createPrivateDatabaseFile(path)
    const context = yield* Layer.build(SqliteClient.layer({ filename: path, disableWAL: true })).pipe(
      Effect.catchAllCause((cause) => {
        const failure = Cause.squash(cause)
        return Effect.fail(cannot(failure instanceof Error ? failure.message.split("\n")[0]! : String(failure)))
      })
    )
    const sql = Context.get(context, SqlClient.SqlClient)
    const waiting = (millis: number) => sql.unsafe(`PRAGMA busy_timeout = ${millis}`)

    const locked = Effect.gen(function*() {
      const holder = (yield* waiting(waitMillis).pipe(
        Effect.zipRight(sql.unsafe<Holder>(`SELECT pid, host, started_at FROM ${holderTable}`)),
        Effect.orElseSucceed((): ReadonlyArray<Holder> => [])
      ))[0]
      // This run's own row: it lost the lock to a run that has not written its row yet.
      const own = holder !== undefined && holder.pid === process.pid && holder.host === os.hostname()
      const who = holder !== undefined && !own
        ? ` (pid ${holder.pid} on ${holder.host}, started at ${holder.started_at})`
        : ""
      return yield* new SyncLockedError({
        message: `another vppkit sync is running on ${db}${who}: wait for it to finish, or stop it`
      })
    })
    // Taking the lock does not wait: a busy lock database means a run holds it.
    const take = waiting(0).pipe(
      Effect.zipRight(sql.unsafe("BEGIN IMMEDIATE")),
      Effect.catchIf(isBusy, () => locked)
    )

    yield* Effect.gen(function*() {
      yield* waiting(waitMillis)
      yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${holderTable} (pid INTEGER, host TEXT, started_at TEXT)`)
      yield* take
      const startedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
      yield* sql.unsafe(`DELETE FROM ${holderTable}`)
      yield* sql.unsafe(`INSERT INTO ${holderTable} (pid, host, started_at) VALUES (?, ?, ?)`, [
        process.pid,
        os.hostname(),
        startedAt
      ])
      yield* waiting(waitMillis)
      yield* sql.unsafe("COMMIT")
      // Another run may take the lock between the commit and this: then it is the holder, and this run stops.
      yield* take
    }).pipe(
      Effect.catchIf(
        (error): error is SqlError.SqlError => error instanceof SqlError.SqlError,
        (error): Effect.Effect<never, SyncLockedError | CommandError> => isBusy(error) ? locked : Effect.fail(cannot(describe(error)))
      )
    )
    yield* Effect.addFinalizer(() =>
      waiting(waitMillis).pipe(
        Effect.zipRight(sql.unsafe(`DELETE FROM ${holderTable}`)),
        Effect.zipRight(sql.unsafe("COMMIT")),
        Effect.ignore
      )
    )
  }).pipe(Effect.withSpan("SyncLock.acquire"))

/** The advisory lock's first key: vppkit's, `vppk` in ASCII. The second is the hash of the schema synced into. */
export const advisoryClass = 0x7670706b

const advisoryKey = `$1::int4, hashtext(current_schema() || ':' || $2::text)`

/** `application_name` of the session holding the lock (at most 63 bytes: PostgreSQL truncates longer ones). */
const holderName = () => `vppkit sync ${process.pid}@${os.hostname()}`.slice(0, 63)

/**
 * Takes vppkit's advisory lock of the location `uId` on the database of the `SqlClient` (PostgreSQL) for the
 * scope, on a connection reserved for it, or fails at once with {@link SyncLockedError} naming the run that holds
 * it (`database` is the database as messages show it). Closing the scope unlocks it and hands the connection back.
 * (The key is a 32-bit hash of schema and `uId`: two locations whose hashes collide take turns.)
 */
export const acquireAdvisory = (
  database: string,
  uId: string
): Effect.Effect<void, SyncLockedError | CommandError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const connection = yield* sql.reserve
    const query = <A>(text: string, params: ReadonlyArray<unknown>) =>
      connection.execute(text, params, undefined) as Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>
    yield* query("SELECT set_config('application_name', $1, false)", [holderName()])
    const [taken] = yield* query<{ readonly locked: boolean }>(`SELECT pg_try_advisory_lock(${advisoryKey}) AS locked`, [advisoryClass, uId])
    if (taken?.locked !== true) {
      const holders = yield* query<{ readonly name: string | null; readonly started: Date | string | null }>(
        `SELECT a.application_name AS name, a.backend_start AS started FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND l.classid = $1::int4::oid AND l.objid = hashtext(current_schema() || ':' || $2::text)::oid AND l.objsubid = 2`,
        [advisoryClass, uId]
      ).pipe(Effect.orElseSucceed(() => []))
      const holder = holders[0]
      const named = /^vppkit sync (\d+)@(.+)$/.exec(holder?.name ?? "")
      const started = holder?.started instanceof Date ? holder.started.toISOString() : holder?.started ?? undefined
      const who = named !== null
        ? ` (pid ${named[1]} on ${named[2]}${started !== undefined ? `, started at ${started}` : ""})`
        : ""
      return yield* new SyncLockedError({
        message: `another vppkit sync of location uId ${uId} is running on ${database}${who}: wait for it to finish, or stop it`
      })
    }
    yield* Effect.addFinalizer(() => query(`SELECT pg_advisory_unlock(${advisoryKey})`, [advisoryClass, uId]).pipe(Effect.ignore))
  }).pipe(
    Effect.catchIf(
      (error): error is SqlError.SqlError => error instanceof SqlError.SqlError,
      (error) => Effect.fail(new CommandError({ message: `cannot lock ${database}: ${describe(error)}` }))
    ),
    Effect.withSpan("SyncLock.acquireAdvisory")
  )

const describe = (error: SqlError.SqlError): string => {
  const cause = error.cause as { readonly message?: unknown } | undefined
  return typeof cause?.message === "string" && cause.message.length > 0 ? cause.message.split("\n")[0]! : error.message
}
