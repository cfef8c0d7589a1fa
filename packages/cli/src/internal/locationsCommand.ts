import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { globalOptions } from "./globals.js"
import { load } from "./lazy.js"
import * as Output from "./output.js"
import { dbOption } from "./syncCommand.js"

const options = {
  db: dbOption("the database to read: a SQLite file (never created) or a postgres://user@host/db URL"),
  format: Options.text("format").pipe(
    Options.withAlias("o"),
    Options.withPseudoName(Output.formats.join("|")),
    Options.withDescription("output format (default: table on a terminal, ndjson otherwise)"),
    Options.optional
  ),
  quiet: globalOptions.quiet
}

/** Everything `vppkit locations` parses. */
export type Flags = Command.Command.ParseConfig<typeof options>

/** `vppkit locations`: the locations a database holds. Read-only: it takes no lock and runs no migration. */
export const locationsCommand = Command.make("locations", options, (flags) =>
  Effect.flatMap(load("vppkit locations", () => import("./locationsRun.js")), (run) => run.runLocations(flags))).pipe(
    Command.withDescription(
      "List the locations a database holds (sync writes them): name, uId, organisation, token expiry, tokens, each resource's last sync and records. Read-only: works while a sync runs"
    )
  )
