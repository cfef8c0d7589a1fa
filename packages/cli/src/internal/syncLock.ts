/**
 * One `vppkit sync` per database at a time.
 *
 * The lock is SQLite's own: a write transaction (`BEGIN IMMEDIATE`) held for the whole run on a small database
 * next to the synced one, `<db>-lock`. The operating system releases it when the process ends, however it
 * ends, so a `kill -9` leaves no lock behind. Before it takes the lock for the run, the holder commits its pid,
 * host and start time there, so a second run can name it (a reader is not blocked by a write transaction that
 * has written nothing). The synced database itself is never held: readers and other tools keep using it.
 *
 * Besides, `Sync.run` locks the location it syncs in the store (`SyncStore.withLocationLock`, for every caller): on
 * PostgreSQL a session-level advisory lock per location, so different locations sync into one database at once,
 * released by the server when the session ends. The run names itself there ({@link holderName}), and a second run
 * of the location fails with `LocationBusyError`, which {@link lockedError} turns into this command's message.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SyncStore from "@vppkit/sync/SyncStore"
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

/** The name a run gives itself in a location's lock (at most 63 bytes: PostgreSQL's `application_name`). */
export const holderName = (): string => `vppkit sync ${process.pid}@${os.hostname()}`.slice(0, 63)

/**
 * The {@link SyncLockedError} of a sync that found its location locked by another (`SyncStore.LocationBusyError`,
 * from `Sync.run`), naming the run that holds it (`database` is the database as messages show it).
 */
export const lockedError = (database: string, error: SyncStore.LocationBusyError): SyncLockedError => {
  const named = /^vppkit sync (\d+)@(.+)$/.exec(error.holder?.name ?? "")
  const since = error.holder?.since
  const started = since !== undefined ? `, started at ${since}` : ""
  // another kind of holder (a fleet's runner) is named as it named itself
  const who = named !== null
    ? ` (pid ${named[1]} on ${named[2]}${started})`
    : error.holder !== undefined
    ? ` (${error.holder.name}${started})`
    : ""
  return new SyncLockedError({
    message: `another vppkit sync of location uId ${error.location} is running on ${database}${who}: wait for it to finish, or stop it`
  })
}

const describe = (error: SqlError.SqlError): string => {
  const cause = error.cause as { readonly message?: unknown } | undefined
  return typeof cause?.message === "string" && cause.message.length > 0 ? cause.message.split("\n")[0]! : error.message
}
