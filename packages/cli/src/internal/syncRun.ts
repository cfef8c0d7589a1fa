import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as VppClient from "@vppkit/core/VppClient"
import type * as VppError from "@vppkit/core/VppError"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as Sync from "@vppkit/sync/Sync"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Console from "effect/Console"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as ExitCode from "../ExitCode.js"
import { CommandError, UsageError } from "../ExitCode.js"
import * as Resources from "../Resources.js"
import * as SyncLock from "./syncLock.js"
import * as SyncOutput from "./syncOutput.js"
import { makeClient } from "./client.js"
import { type Globals, parseRetries } from "./globals.js"
import { withLogging } from "./reporting.js"
import { applyRateLimit, warnIfServerReportsExpiry } from "./settings.js"
import { type Flags, parseResources } from "./syncCommand.js"

/** One resource's part of the JSON summary. */
const summaryJson = (summary: Sync.Summary) => ({
  resource: summary.resource,
  mode: summary.mode,
  reason: summary.reason ?? null,
  records: summary.records,
  deleted: summary.deleted,
  rows: summary.rows,
  pages: summary.pages,
  retries: summary.retries,
  passes: summary.passes,
  consistency: summary.consistency,
  checkpoint: summary.checkpoint,
  millis: summary.millis,
  ...(summary.tokenExpiresAt !== undefined ? { tokenExpiresAt: summary.tokenExpiresAt.toISOString() } : {})
})

/**
 * The summary of a run for monitoring (`--json`, `--summary-file`): whether it succeeded, its exit code and
 * one-line error, and each committed resource's summary; `notSynced` names the resources it did not commit.
 */
export const report = (options: {
  readonly db: string
  readonly startedAt: number
  readonly finishedAt: number
  readonly selected: ReadonlyArray<Resources.Resource>
  readonly summaries: ReadonlyArray<Sync.Summary>
  readonly exit: Exit.Exit<unknown, unknown>
}) => {
  const exitCode = Exit.isSuccess(options.exit)
    ? ExitCode.ok
    : Cause.isInterruptedOnly(options.exit.cause)
    ? ExitCode.interrupted
    : ExitCode.of(Cause.squash(options.exit.cause))
  const synced = new Set(options.summaries.map((summary) => summary.resource))
  return {
    ok: exitCode === ExitCode.ok,
    exitCode,
    ...(Exit.isFailure(options.exit)
      ? { error: exitCode === ExitCode.interrupted ? "interrupted" : ExitCode.message(Cause.squash(options.exit.cause)) }
      : {}),
    db: options.db,
    startedAt: new Date(options.startedAt).toISOString(),
    finishedAt: new Date(options.finishedAt).toISOString(),
    millis: options.finishedAt - options.startedAt,
    resources: options.summaries.map(summaryJson),
    notSynced: options.selected.map((resource) => resource.name).filter((name) => !synced.has(name))
  }
}

/** Replaces `path` with `text` atomically (a temporary file beside it, then a rename). */
const replaceFile = (path: string, text: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const temporary = `${path}.${process.pid}.tmp`
    yield* fs.writeFileString(temporary, text)
    yield* fs.rename(temporary, path)
  })

/** Fails with a usage error unless the directory of the file `db` (given with `flag`) exists. */
const checkDirectory = (db: string, flag = "--db") =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = path.dirname(path.resolve(db))
    const info = yield* Effect.option(fs.stat(directory))
    if (info._tag === "None") {
      return yield* new UsageError({ message: `${flag} ${db}: directory ${directory} does not exist` })
    }
    if (info.value.type !== "Directory") {
      return yield* new UsageError({ message: `${flag} ${db}: ${directory} is not a directory` })
    }
  })

export const isSqlError = (u: unknown): u is SqlError.SqlError => u instanceof SqlError.SqlError

const firstLine = (text: string) => text.split("\n")[0]!.trim()

export const describeSqlError = (error: SqlError.SqlError): string => {
  const cause = error.cause as { readonly message?: unknown } | undefined
  return typeof cause?.message === "string" && cause.message.length > 0 ? firstLine(cause.message) : error.message
}

/** A database that cannot be used: a value that names none is a usage error (2), one that cannot be opened exit 1. */
export const databaseError = (error: NodeDatabase.DatabaseError) =>
  error.reason === "url" ? new UsageError({ message: `--db ${error.message}` }) : new CommandError({ message: error.message })

/**
 * Opens the database for the scope (NodeDatabase: SQLite with a WAL journal, a new file created with mode 0600;
 * or PostgreSQL) with the sync store over it (its migrations run). A database that cannot be opened or reached,
 * or whose migration fails, is a one-line command error, never with a password.
 */
export const openDatabase = (db: string) =>
  Either.match(NodeDatabase.parse(db), {
    onLeft: (error) => Effect.fail(databaseError(error)),
    onRight: openTarget
  })

/** {@link openDatabase} of a parsed `--db` value. */
const openTarget = (target: NodeDatabase.Target) =>
  Layer.build(SqlSyncStore.layer.pipe(Layer.provideMerge(NodeDatabase.layerTarget(target)))).pipe(
    Effect.catchAllCause((cause) => {
      const failure = Cause.squash(cause)
      if (failure instanceof NodeDatabase.DatabaseError) return Effect.fail(databaseError(failure))
      const message = isSqlError(failure)
        ? describeSqlError(failure)
        : failure instanceof Error
        ? firstLine(failure.message)
        : String(failure)
      return Effect.fail(new CommandError({ message: `cannot open the database ${target.description}: ${message}` }))
    })
  )

/** The database a `--db` value names (a usage error when it names none). */
export const parseDatabase = (db: string) =>
  Either.match(NodeDatabase.parse(db), {
    onLeft: (error) => Effect.fail(databaseError(error)),
    onRight: Effect.succeed
  })

/** The work of `vppkit sync` (syncCommand.ts), once its command line is parsed. */
export const runSync = ({ concurrency, db, full, json, maxRequestsPerSecond, resources, retries, summaryFile, ...globals }: Flags) =>
  Effect.gen(function*() {
    const selected = yield* Either.match(parseResources(resources), {
      onLeft: (message) => Effect.fail(new UsageError({ message })),
      onRight: Effect.succeed
    })
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 5) {
      return yield* new UsageError({ message: "--concurrency must be between 1 and 5" })
    }
    const maxRetries = yield* parseRetries(retries)
    const target = yield* parseDatabase(db)
    if (target._tag === "Sqlite") yield* checkDirectory(target.filename)
    if (Option.isSome(summaryFile)) yield* checkDirectory(summaryFile.value, "--summary-file")
    const startedAt = Date.now()
    const summaries: Array<Sync.Summary> = []
    const summarise = (exit: Exit.Exit<unknown, unknown>) =>
      Effect.gen(function*() {
        if (!json && Option.isNone(summaryFile)) return
        const text = JSON.stringify(
          report({ db: target.description, startedAt, finishedAt: Date.now(), selected, summaries, exit })
        )
        if (json) yield* Console.log(text)
        if (Option.isSome(summaryFile)) {
          yield* replaceFile(summaryFile.value, text + "\n").pipe(
            Effect.catchAll((error) => Console.error(`vppkit: --summary-file ${summaryFile.value}: cannot write it: ${error.message}`))
          )
        }
      })
    yield* run({ concurrency, target, full, globals, maxRequestsPerSecond, maxRetries, selected, summaries }).pipe(
      Effect.onExit(summarise)
    )
  }).pipe(Effect.scoped, withLogging(globals))

/** The sync itself, once the flags are checked: the client, the lock, the database, and each resource's run. */
const run = (
  { concurrency, full, globals, maxRequestsPerSecond, maxRetries, selected, summaries, target }: {
    readonly concurrency: number
    readonly maxRetries: number
    readonly target: NodeDatabase.Target
    readonly full: boolean
    readonly globals: Globals
    readonly maxRequestsPerSecond: Option.Option<number>
    readonly selected: ReadonlyArray<Resources.Resource>
    readonly summaries: Array<Sync.Summary>
  }
) =>
  Effect.gen(function*() {
    const client = yield* makeClient(globals, { retry: { maxRetries } })
    // One sync per location at a time. SQLite's lock is a file beside the database, taken before it is opened
    // (one sync per SQLite database); besides, Sync.run locks the location in the store once it learned it and
    // before it reads or writes any of it (on PostgreSQL an advisory lock of the location, on a connection of its
    // own), and a second sync of the location fails with LocationBusyError.
    const db = target.description
    if (target._tag === "Sqlite") yield* SyncLock.acquire(target.filename)
    const database = yield* openTarget(target)
    const withDatabase = <A>(
      effect: Effect.Effect<
        A,
        | VppError.VppError
        | SqlError.SqlError
        | Sync.LocationMismatchError
        | Sync.LocationUnknownError
        | SyncStore.LocationBusyError
        | CommandError,
        VppClient.VppClient | SyncStore.SyncStore | SqlClient.SqlClient | Scope.Scope
      >
    ) =>
      effect.pipe(
        Effect.provide(database),
        Effect.provideService(VppClient.VppClient, client),
        Effect.catchIf(isSqlError, (error) => new CommandError({ message: `database ${db}: ${describeSqlError(error)}` })),
        Effect.catchIf(
          (error): error is Sync.LocationMismatchError | Sync.LocationUnknownError =>
            error instanceof Sync.LocationMismatchError || error instanceof Sync.LocationUnknownError,
          (error) => new CommandError({ message: error.message })
        ),
        Effect.catchIf(
          (error): error is SyncStore.LocationBusyError => error instanceof SyncStore.LocationBusyError,
          (error) => SyncLock.lockedError(db, error)
        ),
        // @effect/sql turns a failed COMMIT or ROLLBACK into a defect: it is still a database error.
        Effect.catchSomeDefect((defect) =>
          isSqlError(defect)
            ? Option.some(Effect.fail(new CommandError({ message: `database ${db}: ${describeSqlError(defect)}` })))
            : Option.none()
        )
      )
    yield* applyRateLimit(maxRequestsPerSecond).pipe(Effect.provideService(VppClient.VppClient, client))
    yield* withDatabase(Sync.run<Scope.Scope | VppClient.VppClient>({
      resources: selected.map((resource) => resource.descriptor),
      full,
      concurrency,
      ...SyncOutput.hooks({ quiet: globals.quiet }),
      onSummary: (summary) => Effect.sync(() => summaries.push(summary)),
      lockHolder: SyncLock.holderName()
    }))
    const reported = summaries.map((summary) => summary.tokenExpiresAt).find((date) => date !== undefined)
    yield* warnIfServerReportsExpiry(reported, globals.quiet).pipe(Effect.provideService(VppClient.VppClient, client))
  }).pipe(Effect.scoped)
