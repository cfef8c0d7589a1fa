import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Resources from "../Resources.js"
import { globalOptions, maxRequestsPerSecondOption, retriesOption } from "./globals.js"
import { load } from "./lazy.js"

/** `--db PATH|URL`, described as `what`, then its default: `$VPPKIT_DB`, else `vppkit.sqlite`. */
export const dbOption = (what: string) =>
  Options.text("db").pipe(
    Options.withPseudoName("PATH|URL"),
    Options.withDescription(`${what} (default: $VPPKIT_DB, else vppkit.sqlite)`),
    Options.withFallbackConfig(Config.string("VPPKIT_DB")),
    Options.withDefault("vppkit.sqlite")
  )

const options = {
  maxRequestsPerSecond: maxRequestsPerSecondOption,
  db: dbOption(
    "the database: a SQLite file (created when missing; its directory must exist) or a postgres://user@host/db URL"
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
  json: Options.boolean("json").pipe(
    Options.withDescription("print the run's summary as one JSON object on stdout (per resource; also when the run fails)")
  ),
  summaryFile: Options.text("summary-file").pipe(
    Options.withPseudoName("PATH"),
    Options.withDescription("write the run's summary as JSON to this file (replaced atomically; also when the run fails)"),
    Options.optional
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

const config = { ...globalOptions, ...options }

/** Everything `vppkit sync` parses. */
export type Flags = Command.Command.ParseConfig<typeof config>

/** `vppkit sync`: resources into SQLite or PostgreSQL, full the first time and incremental where the API allows after. */
export const syncCommand = Command.make("sync", config, (flags) =>
  Effect.flatMap(load("vppkit sync", () => import("./syncRun.js")), (run) => run.runSync(flags))).pipe(
  Command.withDescription(
    "Sync resources into a SQLite or PostgreSQL database: a table per resource keyed by the natural key, checkpoints in sync_state; the first run is full, later runs incremental where the API allows"
  )
)
