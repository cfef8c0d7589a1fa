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
import type * as Usage from "@effect/cli/Usage"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Option from "effect/Option"
import * as ValidationError from "@effect/cli/ValidationError"
import * as ExitCode from "./ExitCode.js"
import { demoCommand } from "./internal/demoCommand.js"
import { booleanFilterFlags, listCommand } from "./internal/listCommand.js"
import { mockServerCommand } from "./internal/mockServerCommand.js"
import * as Reporting from "./internal/reporting.js"
import { syncCommand } from "./internal/syncCommand.js"
import { tokenCommand } from "./internal/tokenCommand.js"
import { checkWizard } from "./internal/wizard.js"

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
 * What a command's flags expect: `valued` flags take a value; `plain` flags are the boolean filters of `list`,
 * which @effect/cli declares as text (`--revocable false` is a filter too) and which alone mean `true`.
 *
 * @since 0.1.0
 * @category running
 */
export interface FlagKinds {
  readonly valued: ReadonlySet<string>
  readonly plain: ReadonlySet<string>
  /** Every flag of the command (for telling a missing value from a value). */
  readonly flags: ReadonlySet<string>
}

const namedOf = (usage: Usage.Usage): Array<Usage.Named> => {
  switch (usage._tag) {
    case "Named":
      return [usage]
    case "Optional":
    case "Repeated":
      return namedOf(usage.usage)
    case "Alternation":
    case "Concat":
      return [...namedOf(usage.left), ...namedOf(usage.right)]
    default:
      return []
  }
}

/** The flag kinds of a command, from its usage (a flag with accepted values takes one). */
export const flagKinds = (usage: Usage.Usage, plain: ReadonlyArray<string> = []): FlagKinds => {
  const named = namedOf(usage).filter((n) => n.names.some((name) => name.startsWith("-")))
  const plainSet = new Set(plain)
  return {
    valued: new Set(
      named.filter((n) => Option.isSome(n.acceptedValues)).flatMap((n) => n.names).filter((name) => !plainSet.has(name))
    ),
    plain: plainSet,
    flags: new Set([...named.flatMap((n) => n.names), ...plainSet])
  }
}

const commandFlags: ReadonlyMap<string, FlagKinds> = new Map([
  ["list", flagKinds(Command.getUsage(listCommand), booleanFilterFlags)],
  ["sync", flagKinds(Command.getUsage(syncCommand))],
  ["token", flagKinds(Command.getUsage(tokenCommand))],
  ["mock-server", flagKinds(Command.getUsage(mockServerCommand))],
  ["demo", flagKinds(Command.getUsage(demoCommand))]
])

/**
 * Checks that every flag that takes a value has one, before @effect/cli parses the line: it drops an option
 * whose value is missing at the end of the line (`vppkit list users --since`), or empty (`--resources ''`), and
 * runs as if it had not been given: every record instead of a filtered set. Here a missing or empty value, or a
 * flag where the value should be, is a usage error naming the flag. A boolean filter flag of `list` without
 * `true` or `false` after it means `true` (`--active-only` alone), so it is made explicit. Arguments before the
 * command's name and after `--` are left alone.
 *
 * @since 0.1.0
 * @category running
 */
export const checkFlagValues = (
  args: ReadonlyArray<string>,
  commands: ReadonlyMap<string, FlagKinds> = commandFlags
): Either.Either<Array<string>, string> => {
  const at = args.findIndex((arg) => commands.has(arg))
  if (at === -1) return Either.right([...args])
  const kinds = commands.get(args[at]!)!
  const result = args.slice(0, at + 1)
  for (let i = at + 1; i < args.length; i++) {
    const arg = args[i]!
    const next = args[i + 1]
    if (arg === "--") {
      result.push(...args.slice(i))
      break
    }
    result.push(arg)
    if (kinds.plain.has(arg)) {
      if (next === undefined || next.startsWith("-")) result.push("true")
    } else if (kinds.valued.has(arg)) {
      if (next === undefined) return Either.left(`${arg}: expected a value after it`)
      if (next.trim().length === 0) return Either.left(`${arg}: expected a value, got an empty one`)
      if (kinds.flags.has(next)) return Either.left(`${arg}: expected a value, got the flag ${next}`)
      result.push(next)
      i++
    }
  }
  return Either.right(result)
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
  Either.match(Either.flatMap(checkWizard(argv.slice(2), process.stdin.isTTY === true), (args) => checkFlagValues(splitFlagValues(args))), {
    onLeft: (message) => Effect.fail(new ExitCode.UsageError({ message })),
    onRight: (args) => cli([...argv.slice(0, 2), ...args])
  }).pipe(
    Effect.as(ExitCode.ok),
    Effect.catchAll((error) =>
      ValidationError.isValidationError(error)
        ? Effect.succeed(ExitCode.usage)
        : Effect.as(Console.error(`vppkit: ${ExitCode.message(error)}`), ExitCode.of(error))
    ),
    Effect.provide(Layer.succeed(CliConfig.CliConfig, CliConfig.make({ showBuiltIns: false, finalCheckBuiltIn: false }))),
    // Logs (`--log-level`) go to stderr, one line each, in the command's `--log-format`: this logger is the only
    // one (it replaces the runtime's pretty logger, which writes to stdout, where the records go).
    Effect.locally(FiberRef.currentLoggers, HashSet.make(Reporting.logger))
  )
