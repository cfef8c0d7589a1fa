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
import { listCommand } from "./internal/listCommand.js"
import { mockServerCommand } from "./internal/mockServerCommand.js"
import { tokenCommand } from "./internal/tokenCommand.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("vppkit").pipe(
  Command.withDescription(
    "Retrieve records from Apple's App and Book Management API: list them, sync them into SQLite, or serve a simulator"
  ),
  Command.withSubcommands([listCommand, tokenCommand, mockServerCommand])
)

/**
 * @since 0.1.0
 */
export const version = "0.1.0"

const cli = Command.run(command, { name: "vppkit", version })

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
  cli(argv).pipe(
    Effect.as(ExitCode.ok),
    Effect.catchAll((error) =>
      ValidationError.isValidationError(error)
        ? Effect.succeed(ExitCode.usage)
        : Effect.as(Console.error(`vppkit: ${ExitCode.message(error)}`), ExitCode.of(error))
    ),
    Effect.provide(Layer.succeed(CliConfig.CliConfig, CliConfig.make({ showBuiltIns: false, finalCheckBuiltIn: false })))
  )
