/**
 * The `vppkit` command line: the command tree and how a run ends (its exit code).
 *
 * @since 0.1.0
 */
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import type * as Terminal from "@effect/platform/Terminal"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ValidationError from "@effect/cli/ValidationError"
import * as ExitCode from "./ExitCode.js"
import { demoCommand } from "./internal/demoCommand.js"
import { listCommand } from "./internal/listCommand.js"
import { mockServerCommand } from "./internal/mockServerCommand.js"
import { syncCommand } from "./internal/syncCommand.js"
import { tokenCommand } from "./internal/tokenCommand.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("vppkit").pipe(
  Command.withDescription(
    "Retrieve records from Apple's App and Book Management API: list them, sync them into SQLite, or serve a simulator"
  ),
  Command.withSubcommands([listCommand, syncCommand, tokenCommand, mockServerCommand, demoCommand])
)

/**
 * @since 0.1.0
 */
export const version = "0.1.0"

const cli = Command.run(command, { name: "vppkit", version })

/**
 * Splits every `--flag=value` into `--flag value` (up to a `--`). @effect/cli reads the `=` form of an
 * option given once, but not of a repeatable one (`vppkit list subscriptions --adam-id=1` is refused as an
 * unknown argument); split beforehand, both forms work for every option.
 *
 * @since 0.1.0
 * @category running
 */
export const splitFlagValues = (args: ReadonlyArray<string>): Array<string> => {
  const result: Array<string> = []
  let rest = false
  for (const arg of args) {
    const match = rest ? null : /^(--[^=\s]+)=([\s\S]+)$/.exec(arg)
    if (arg === "--") rest = true
    if (match === null) result.push(arg)
    else result.push(match[1]!, match[2]!)
  }
  return result
}

/**
 * Runs the command line (`argv` as `process.argv`) and answers the exit code. A failure prints one line
 * on stderr (usage errors are printed by the parser with the usage); nothing fails past this.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  argv: ReadonlyArray<string>
): Effect.Effect<number, never, FileSystem.FileSystem | Path.Path | Terminal.Terminal> =>
  cli([...argv.slice(0, 2), ...splitFlagValues(argv.slice(2))]).pipe(
    Effect.as(ExitCode.ok),
    Effect.catchAll((error) =>
      ValidationError.isValidationError(error)
        ? Effect.succeed(ExitCode.usage)
        : Effect.as(Console.error(`vppkit: ${ExitCode.message(error)}`), ExitCode.of(error))
    ),
    Effect.provide(Layer.succeed(CliConfig.CliConfig, CliConfig.make({ showBuiltIns: false, finalCheckBuiltIn: false })))
  )
