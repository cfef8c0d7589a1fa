import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { UsageError } from "../ExitCode.js"
import * as Reporting from "./reporting.js"

/** Options every command shares. None takes the sToken itself: argv is visible to other users. */
export const globalOptions = {
  baseUrl: Options.text("base-url").pipe(
    Options.withPseudoName("URL"),
    Options.withDescription("the API's base URL (default: $VPP_BASE_URL, else https://vpp.itunes.apple.com/mdm)"),
    Options.optional
  ),
  tokenFile: Options.text("token-file").pipe(
    Options.withPseudoName("PATH"),
    Options.withDescription("a file holding the sToken (default: $VPP_TOKEN_FILE, else the value of $VPP_TOKEN)"),
    Options.optional
  ),
  quiet: Options.boolean("quiet").pipe(
    Options.withAlias("q"),
    Options.withDescription("no progress and no summary on stderr; errors are still printed")
  ),
  verbose: Options.boolean("verbose").pipe(
    Options.withDescription("a line per request on stderr: method, path, status, milliseconds, retry (never the sToken)")
  ),
  logFormat: Options.choice("log-format", Reporting.logFormats).pipe(
    Options.withDescription("log and --verbose lines on stderr as text, or as one JSON object per line"),
    Options.withDefault("text" as const)
  ),
  logLevel: Options.choice("log-level", Reporting.logLevels).pipe(
    Options.withDescription("the least severe log line printed on stderr (default info; debug shows retries and re-reads)"),
    Options.optional
  )
}

/** The default of `--retries`. */
export const defaultRetries = 8

/** `--retries N`: how often a failing request is retried (checked by {@link parseRetries}). */
export const retriesOption = Options.text("retries").pipe(
  Options.withPseudoName("N"),
  Options.withDescription(`retries of a failing request before giving up, 0 to 100 (default ${defaultRetries})`),
  Options.optional
)

/** The value of {@link retriesOption}: a whole number from 0 to 100. */
export const parseRetries = (flag: Option.Option<string>): Effect.Effect<number, UsageError> => {
  if (Option.isNone(flag)) return Effect.succeed(defaultRetries)
  const text = flag.value.trim()
  return /^\d+$/.test(text) && Number(text) <= 100
    ? Effect.succeed(Number(text))
    : Effect.fail(new UsageError({ message: `--retries ${JSON.stringify(flag.value)}: expected a whole number from 0 to 100` }))
}

/** The request rate option of the commands that talk to Apple. */
export const maxRequestsPerSecondOption = Options.integer("max-requests-per-second").pipe(
  Options.withPseudoName("N"),
  Options.withDescription("requests per second at most (default: Apple's service/config, else 15)"),
  Options.optional
)

/** The options every command takes besides its own (they may come anywhere after the command's name). */
export type Globals = Command.Command.ParseConfig<typeof globalOptions>
