/**
 * `vppkit fleet …`: many locations kept in sync with `@vppkit/fleet` (issue 16). Tokens are stored encrypted in the
 * database with the key of `VPPKIT_FLEET_KEY_FILE` (no key, no fleet command); the `Location` entity syncs each
 * location on `@effect/cluster`'s `SingleRunner` (one process; messages in the same database as the records).
 *
 * The command line only: each subcommand loads its work (`fleetRun.ts`, with `@effect/cluster`) when it runs.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { globalOptions } from "./globals.js"
import * as Reporting from "./reporting.js"
import { load } from "./lazy.js"
import { dbOption } from "./syncCommand.js"

const db = dbOption(
  "the fleet's database (tokens, records, the cluster's messages): a SQLite file (created when missing) or a postgres://user@host/db URL"
)

/** Minutes between incremental syncs, and the full pass's cron, by default (as `Schedules` has them). */
export const defaultEvery = 15
export const defaultFullCron = "0 2 * * *"
/** The full pass's window in minutes (as `Schedules`), and the scheduled syncs at once per runner (as `Location`), by default. */
export const defaultFullWindow = 240
export const defaultIncrementalConcurrency = 16
export const defaultFullConcurrency = 4

const baseUrlOption = globalOptions.baseUrl

const work = load("vppkit fleet", () => import("./fleetRun.js"))

const addCommandOptions = { ...globalOptions, db, name: Options.text("name").pipe(Options.withDescription("a name for the token (default: none; its fingerprint names it)"), Options.optional) }

/** Everything `vppkit fleet add` parses. */
export type AddFlags = Command.Command.ParseConfig<typeof addCommandOptions>

/** `fleet add --token-file F [--name N]`: learns the location from Client Config, then stores the token sealed. */
const addCommand = Command.make("add", addCommandOptions, (flags) => Effect.flatMap(work, (run) => run.runAdd(flags))).pipe(
  Command.withDescription("Add a location's token to the fleet: its location is learned from Apple's Client Config, the token stored encrypted (needs VPPKIT_FLEET_KEY_FILE)")
)

const removeCommandOptions = { db, quiet: globalOptions.quiet, ref: Args.text({ name: "NAME|FINGERPRINT" }) }

/** Everything `vppkit fleet remove` parses. */
export type RemoveFlags = Command.Command.ParseConfig<typeof removeCommandOptions>

/** `fleet remove NAME|FINGERPRINT`. */
const removeCommand = Command.make("remove", removeCommandOptions, (flags) => Effect.flatMap(work, (run) => run.runRemove(flags))).pipe(
  Command.withDescription("Remove a token from the fleet, by its name or fingerprint (a prefix of 8 hex digits or more)")
)

const listCommandOptions = {
  db,
  format: Options.text("format").pipe(
    Options.withAlias("o"),
    Options.withPseudoName("table|json|ndjson|csv"),
    Options.withDescription("output format (default: table on a terminal, ndjson otherwise)"),
    Options.optional
  ),
  quiet: globalOptions.quiet
}

/** Everything `vppkit fleet list` parses. */
export type ListFlags = Command.Command.ParseConfig<typeof listCommandOptions>

/** `fleet list`: the stored tokens (never the token): name, uId, location, organisation, expiry, days left. */
const listCommand = Command.make("list", listCommandOptions, (flags) => Effect.flatMap(work, (run) => run.runList(flags))).pipe(
  Command.withDescription("List the fleet's tokens: name, uId, location, organisation, expiry, days left (never the token)")
)

const statusCommandOptions = listCommandOptions

/** Everything `vppkit fleet status` parses. */
export type StatusFlags = Command.Command.ParseConfig<typeof statusCommandOptions>

/** `fleet status`: each location's last run, records, token expiry and next scheduled sync. */
const statusCommand = Command.make("status", statusCommandOptions, (flags) => Effect.flatMap(work, (run) => run.runStatus(flags))).pipe(
  Command.withDescription("Show each location's status: last run (synced or failed, when, full or incremental, failures in a row, the runner that ran it), records, token days left, next scheduled sync")
)

const syncCommandOptions = {
  db,
  baseUrl: baseUrlOption,
  full: Options.boolean("full").pipe(Options.withDescription("a full sync (deleted records removed), not incremental")),
  quiet: globalOptions.quiet,
  locations: Args.text({ name: "LOCATION" }).pipe(Args.withDescription("a uId, or a token's name or fingerprint (default: every location)"), Args.repeated)
}

/** Everything `vppkit fleet sync` parses. */
export type SyncFlags = Command.Command.ParseConfig<typeof syncCommandOptions>

/** `fleet sync [location…] [--full]`: each location's `Sync` message on a SingleRunner in this process, awaited. */
const syncCommand = Command.make("sync", syncCommandOptions, (flags) => Effect.flatMap(work, (run) => run.runSync(flags))).pipe(
  Command.withDescription("Sync the fleet's locations now (all, or those named), each by its Location entity; waits for the outcomes")
)

const runCommandOptions = {
  db,
  baseUrl: baseUrlOption,
  every: Options.integer("every").pipe(
    Options.withPseudoName("MINUTES"),
    Options.withDescription(`minutes between incremental syncs of every location: 1 to 59, or a multiple of 60 (default ${defaultEvery})`),
    Options.withDefault(defaultEvery)
  ),
  fullCron: Options.text("full-cron").pipe(
    Options.withPseudoName("EXPR"),
    Options.withDescription(`the cron expression (UTC) of the full pass (default "${defaultFullCron}")`),
    Options.withDefault(defaultFullCron)
  ),
  fullWindow: Options.integer("full-window").pipe(
    Options.withPseudoName("MINUTES"),
    Options.withDescription(`minutes after --full-cron over which the locations' full syncs are spread, 1 to 1440 (default ${defaultFullWindow})`),
    Options.withDefault(defaultFullWindow)
  ),
  incrementalConcurrency: Options.integer("incremental-concurrency").pipe(
    Options.withPseudoName("N"),
    Options.withDescription(`scheduled incremental syncs at once, per runner (default ${defaultIncrementalConcurrency}; on SQLite 2)`),
    Options.optional
  ),
  fullConcurrency: Options.integer("full-concurrency").pipe(
    Options.withPseudoName("N"),
    Options.withDescription(`scheduled full syncs at once, per runner (default ${defaultFullConcurrency}; on SQLite 2)`),
    Options.optional
  ),
  http: Options.text("http").pipe(
    Options.withPseudoName("HOST:PORT"),
    Options.withDescription("serve /healthz, /status (JSON) and /metrics (Prometheus) on this address, e.g. 127.0.0.1:9090"),
    Options.optional
  ),
  listen: Options.text("listen").pipe(
    Options.withPseudoName("HOST:PORT"),
    Options.withDescription(
      "PostgreSQL only: where this runner listens for the cluster's other runners (default 127.0.0.1:0: this machine, any free port; :34431 or 0.0.0.0:34431: every interface, for runners on other machines)"
    ),
    Options.optional
  ),
  advertise: Options.text("advertise").pipe(
    Options.withPseudoName("HOST:PORT"),
    Options.withDescription(
      "PostgreSQL only: the address the other runners reach this one at (default: the --listen address and port; this machine's hostname when listening on every interface)"
    ),
    Options.optional
  ),
  quiet: globalOptions.quiet,
  logFormat: globalOptions.logFormat,
  logLevel: Options.choice("log-level", Reporting.logLevels).pipe(
    Options.withDescription("the least severe log line printed on stderr (default warning: the cluster's own info lines, such as where it listens, are left out)"),
    Options.optional
  )
}

/** Everything `vppkit fleet run` parses. */
export type RunFlags = Command.Command.ParseConfig<typeof runCommandOptions>

/**
 * `fleet run`: the Location entity and the schedules until SIGINT/SIGTERM: on SQLite a SingleRunner (one per database),
 * on PostgreSQL a runner of the database's cluster (as many as wanted, on any machines).
 */
const runCommand = Command.make("run", runCommandOptions, (flags) => Effect.flatMap(work, (run) => run.runRun(flags))).pipe(
  Command.withDescription(
    "Run the fleet: every location synced incrementally every N minutes and in full nightly, until SIGINT or SIGTERM (a running sync completes or rolls back). On SQLite one process per database; on PostgreSQL each `fleet run` joins the database's cluster (on this machine or others: --listen), and the locations are shared among the runners"
  )
)

/** The subcommands of `vppkit fleet`, by name (for help). */
export const fleetSubcommands: ReadonlyArray<readonly [string, Command.Command<any, any, any, any>]> = [
  ["add", addCommand],
  ["remove", removeCommand],
  ["list", listCommand],
  ["status", statusCommand],
  ["sync", syncCommand],
  ["run", runCommand]
]

/** `vppkit fleet`. */
export const fleetCommand = Command.make("fleet").pipe(
  Command.withDescription("Many locations kept in sync: tokens stored encrypted (VPPKIT_FLEET_KEY_FILE), synced on demand or on a schedule"),
  Command.withSubcommands([addCommand, removeCommand, listCommand, statusCommand, syncCommand, runCommand])
)
