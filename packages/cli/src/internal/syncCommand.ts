import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as VppClient from "@vppkit/core/VppClient"
import type * as VppError from "@vppkit/core/VppError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { CommandError, UsageError } from "../ExitCode.js"
import * as Resources from "../Resources.js"
import * as Sync from "../Sync.js"
import * as SyncLock from "./syncLock.js"
import {
  applyRateLimit,
  globalOptions,
  makeClient,
  maxRequestsPerSecondOption,
  parseRetries,
  retriesOption,
  warnIfServerReportsExpiry
} from "./globals.js"
import { withLogging } from "./reporting.js"

const options = {
  maxRequestsPerSecond: maxRequestsPerSecondOption,
  db: Options.text("db").pipe(
    Options.withPseudoName("PATH"),
    Options.withDescription("the SQLite database (created when missing; its directory must exist)"),
    Options.withDefault("vppkit.sqlite")
  ),
  resources: Options.text("resources").pipe(
    Options.withPseudoName("NAMES"),
    Options.withDescription(`the resources to sync, comma-separated or repeated (default: all of ${Resources.names.join(", ")})`),
    Options.repeated
  ),
  full: Options.boolean("full").pipe(
    Options.withDescription("fetch everything and delete rows no longer present, even where a checkpoint allows an incremental run")
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withDescription("requests in flight at once, 1 to 5"),
    Options.withDefault(5)
  ),
  retries: retriesOption
}

/** The resources named by `--resources` (every one when none is named), in registry order. */
export const parseResources = (values: ReadonlyArray<string>): Either.Either<ReadonlyArray<Resources.Resource>, string> => {
  const names = values.flatMap((value) => value.split(",")).map((name) => name.trim()).filter((name) => name.length > 0)
  if (names.length === 0) {
    return values.length === 0 ? Either.right(Resources.all) : Either.left(`--resources names no resource: use ${Resources.names.join(", ")}`)
  }
  for (const name of names) {
    const found = Resources.byName(name)
    if (Either.isLeft(found)) return Either.left(`--resources: ${found.left}`)
  }
  return Either.right(Resources.all.filter((resource) => names.includes(resource.name)))
}

/** Fails with a usage error unless the database's directory exists. */
const checkDirectory = (db: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = path.dirname(path.resolve(db))
    const info = yield* Effect.option(fs.stat(directory))
    if (info._tag === "None") {
      return yield* new UsageError({ message: `--db ${db}: directory ${directory} does not exist` })
    }
    if (info.value.type !== "Directory") {
      return yield* new UsageError({ message: `--db ${db}: ${directory} is not a directory` })
    }
  })

const isSqlError = (u: unknown): u is SqlError.SqlError => u instanceof SqlError.SqlError

const firstLine = (text: string) => text.split("\n")[0]!.trim()

const describeSqlError = (error: SqlError.SqlError): string => {
  const cause = error.cause as { readonly message?: unknown } | undefined
  return typeof cause?.message === "string" && cause.message.length > 0 ? firstLine(cause.message) : error.message
}

/**
 * Opens the database (WAL journal) for the scope. better-sqlite3 throws when a file cannot be opened or is not
 * a database; that arrives as a defect of the layer and becomes a one-line command error.
 */
export const openDatabase = (db: string) =>
  Layer.build(SqliteClient.layer({ filename: db })).pipe(
    Effect.catchAllCause((cause) => {
      const failure = Cause.squash(cause)
      const message = failure instanceof Error ? firstLine(failure.message) : String(failure)
      return new CommandError({ message: `cannot open the database ${db}: ${message}` })
    })
  )

/** `vppkit sync`: resources into SQLite, full the first time and incremental where the API allows after. */
export const syncCommand = Command.make(
  "sync",
  { ...globalOptions, ...options },
  ({ concurrency, db, full, maxRequestsPerSecond, resources, retries, ...globals }) =>
    Effect.gen(function*() {
      const selected = yield* Either.match(parseResources(resources), {
        onLeft: (message) => Effect.fail(new UsageError({ message })),
        onRight: Effect.succeed
      })
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 5) {
        return yield* new UsageError({ message: "--concurrency must be between 1 and 5" })
      }
      const maxRetries = yield* parseRetries(retries)
      yield* checkDirectory(db)
      const client = yield* makeClient(globals, { retry: { maxRetries } })
      // Before any request: a second run on the database stops here, at once; so does a token of another
      // organisation than the one the database holds.
      yield* SyncLock.acquire(db)
      const database = yield* openDatabase(db)
      const withDatabase = <A>(
        effect: Effect.Effect<
          A,
          VppError.VppError | SqlError.SqlError | Sync.OrganisationMismatchError,
          VppClient.VppClient | SqlClient.SqlClient
        >
      ) =>
        effect.pipe(
          Effect.provide(database),
          Effect.provideService(VppClient.VppClient, client),
          Effect.catchIf(isSqlError, (error) => new CommandError({ message: `database ${db}: ${describeSqlError(error)}` })),
          Effect.catchTag("OrganisationMismatchError", (error) => new UsageError({ message: `--db ${db}: ${error.message}` })),
          // @effect/sql turns a failed COMMIT or ROLLBACK into a defect: it is still a database error.
          Effect.catchSomeDefect((defect) =>
            isSqlError(defect)
              ? Option.some(Effect.fail(new CommandError({ message: `database ${db}: ${describeSqlError(defect)}` })))
              : Option.none()
          )
        )
      yield* withDatabase(Sync.checkOrganisation)
      yield* applyRateLimit(maxRequestsPerSecond).pipe(Effect.provideService(VppClient.VppClient, client))
      const summaries = yield* withDatabase(Sync.run({ resources: selected, full, concurrency, quiet: globals.quiet }))
      const reported = summaries.map((summary) => summary.tokenExpiresAt).find((date) => date !== undefined)
      yield* warnIfServerReportsExpiry(reported, globals.quiet).pipe(Effect.provideService(VppClient.VppClient, client))
    }).pipe(Effect.scoped, withLogging(globals))
).pipe(
  Command.withDescription(
    "Sync resources into a SQLite database: a table per resource keyed by the natural key, checkpoints in sync_state; the first run is full, later runs incremental where the API allows"
  )
)
