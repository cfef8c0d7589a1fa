/**
 * The `vppkit` command line: the command tree and how a run ends (its exit code).
 *
 * @since 0.1.0
 */
import * as AutoCorrect from "@effect/cli/AutoCorrect"
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as CommandDescriptor from "@effect/cli/CommandDescriptor"
import * as HelpDoc from "@effect/cli/HelpDoc"
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
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as ValidationError from "@effect/cli/ValidationError"
import * as ExitCode from "./ExitCode.js"
import * as Completions from "./internal/completions.js"
import * as Help from "./internal/help.js"
import * as Resources from "./Resources.js"
import { demoCommand } from "./internal/demoCommand.js"
import { fleetCommand, fleetSubcommands } from "./internal/fleetCommand.js"
import { booleanFilterFlags, listCommand } from "./internal/listCommand.js"
import { locationsCommand } from "./internal/locationsCommand.js"
import { mockServerCommand } from "./internal/mockServerCommand.js"
import * as Reporting from "./internal/reporting.js"
import { syncCommand } from "./internal/syncCommand.js"
import { tokenCommand } from "./internal/tokenCommand.js"
import * as Version from "./internal/version.js"
import { checkWizard } from "./internal/wizard.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("vppkit").pipe(
  Command.withDescription(
    "Retrieve records from Apple's App and Book Management API: list them, sync them into SQLite, or serve a simulator"
  ),
  Command.withSubcommands([listCommand, syncCommand, locationsCommand, tokenCommand, mockServerCommand, demoCommand, fleetCommand])
)

/**
 * @since 0.1.0
 */
export const version: string = Version.version

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
  ["locations", flagKinds(Command.getUsage(locationsCommand))],
  ["token", flagKinds(Command.getUsage(tokenCommand))],
  ["mock-server", flagKinds(Command.getUsage(mockServerCommand))],
  ["demo", flagKinds(Command.getUsage(demoCommand))],
  ["fleet", flagKinds(Command.getUsage(fleetCommand))]
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


const config = CliConfig.make({ showBuiltIns: false, finalCheckBuiltIn: false })

const subcommands: ReadonlyArray<readonly [string, Command.Command<any, any, any, any>]> = [
  ["list", listCommand],
  ["sync", syncCommand],
  ["locations", locationsCommand],
  ["token", tokenCommand],
  ["mock-server", mockServerCommand],
  ["demo", demoCommand],
  ["fleet", fleetCommand]
]
const commandNames = subcommands.map(([name]) => name)

/** A short "Examples:" block per command (`list <resource> --help` makes its own from the resource). */
const examples: ReadonlyMap<string, Help.Examples> = new Map<string, Help.Examples>([
  ["vppkit", [
    ["vppkit list users --token-file school.vpptoken", "list a resource"],
    ["vppkit sync --db vpp.sqlite", "sync every resource into SQLite"],
    ["vppkit mock-server --port 0 --write-token mock.token", "a simulator to try it on"],
    ["vppkit help list", "help about a command"]
  ]],
  ["list", [
    ["vppkit list users", "a table on a terminal, NDJSON when piped"],
    ["vppkit list assignments --format csv > assignments.csv"],
    ["vppkit list assets --product-type Book --revocable true"],
    ["vppkit list users --checkpoint users.checkpoint.json", "first run: everything; then only the changes"],
    ["vppkit list legacy-users --include-retired -q | jq .email"]
  ]],
  ["sync", [
    ["vppkit sync", "every resource into ./vppkit.sqlite: full the first time, then incremental"],
    ["vppkit sync --db /var/lib/mdm/vpp.sqlite --resources assignments,users"],
    ["vppkit sync --db postgres://vpp@db/vpp", "into PostgreSQL (or VPPKIT_DB=…)"],
    ["vppkit sync --full", "also removes rows deleted on the server (e.g. nightly)"]
  ]],
  ["locations", [
    ["vppkit locations", "the locations in ./vppkit.sqlite: name, uId, token expiry, last syncs, records"],
    ["vppkit locations --db postgres://vpp@db/vpp -o json", "every detail, as JSON (or VPPKIT_DB=…)"],
    ["vppkit locations -o csv > locations.csv", "a column per value, four per resource"]
  ]],
  ["token", [
    ["vppkit token --token-file ~/Downloads/sToken_for_Example_School.vpptoken"],
    ["VPP_TOKEN_FILE=~/school.vpptoken vppkit token --json"]
  ]],
  ["mock-server", [
    ["vppkit mock-server --port 8080 --write-token mock.token"],
    ["vppkit mock-server --port 0 --fault-rate 0.05 --churn-every 10", "any free port, with faults and writes"],
    ["vppkit mock-server --port 0 --tokens 2 --write-token mock.token", "two tokens of one library: mock.token, mock.token.2"]
  ]],
  ["fleet", [
    ["vppkit fleet add --token-file school.vpptoken --name school", "learns the location from Apple, stores the token"],
    ["vppkit fleet list", "name, uId, location, organisation, expiry, days left"],
    ["vppkit fleet sync --full school", "sync a location now (default: all)"],
    ["vppkit fleet status -o json", "each location's last run and its runner, records, token days left, next sync"],
    ["vppkit fleet run --every 15 --full-cron '0 2 * * *' --http 127.0.0.1:9090", "keep every location in sync until SIGTERM; /healthz, /status, /metrics"],
    ["vppkit fleet run --db postgres://vpp@db/vpp --listen 0.0.0.0:34431 --advertise runner1:34431", "on each machine: a runner of the database's cluster"],
    ["openssl rand 32 > fleet.key && export VPPKIT_FLEET_KEY_FILE=fleet.key", "first: the key the tokens are encrypted with"]
  ]],
  ["demo", [
    ["vppkit demo", "about a minute: ./vppkit-demo.sqlite, synced, changed, re-synced, verified"],
    ["vppkit demo --assignments 100000 --fault-rate 0.1"]
  ]]
])

const rootSummary = `vppkit ${version}: retrieve records from Apple's App and Book Management API: list them, sync them into SQLite, or serve a simulator.`

/** The help text of `vppkit`, `vppkit <command>` or `vppkit list <resource>`. */
export const helpText = (
  words: ReadonlyArray<string>,
  options: { readonly color: boolean; readonly width: number }
): Either.Either<string, string> => {
  const [name, resourceName] = words
  if (name === undefined) {
    const rows = subcommands.map(([name, command]) => ({ term: name, description: Help.commandInfo(command, config).summary }))
    return Either.right(Help.render(Help.rootPage(rootSummary, rows, examples.get("vppkit")!), options))
  }
  const command = subcommands.find(([candidate]) => candidate === name)?.[1]
  if (command === undefined) return Either.left(unknownCommand(name))
  const info = Help.commandInfo(command, config)
  if (name === "fleet") {
    if (resourceName === undefined) {
      const rows = fleetSubcommands.map(([sub, c]) => ({ term: sub, description: Help.commandInfo(c, config).summary }))
      const page = Help.commandPage(name, info, examples.get(name) ?? [])
      return Either.right(Help.render({
        ...page,
        usage: ["vppkit fleet <command> [flags]", "vppkit help fleet <command>"],
        sections: [{ title: "Commands", rows }]
      }, options))
    }
    const sub = fleetSubcommands.find(([candidate]) => candidate === resourceName)?.[1]
    if (sub === undefined) {
      return Either.left(`fleet: unknown command ${JSON.stringify(resourceName)} (${fleetSubcommands.map(([n]) => n).join(", ")})`)
    }
    const subInfo = Help.commandInfo(sub, config)
    return Either.right(Help.render(Help.commandPage(`fleet ${resourceName}`, subInfo, examples.get(name) ?? []), options))
  }
  if (name === "list" && resourceName !== undefined) {
    return Either.map(
      Either.mapLeft(Resources.byName(resourceName), (message) => `list: ${message}${suggestion(resourceName, Resources.names)}`),
      (resource) => Help.render(Help.commandPage(name, info, [], resource), options)
    )
  }
  return Either.right(Help.render(Help.commandPage(name, info, examples.get(name) ?? []), options))
}

/** The closest of `candidates` to `word` (within @effect/cli's auto-correction distance), as `: did you mean x?`. */
const suggestion = (word: string, candidates: ReadonlyArray<string>): string => {
  const ranked = candidates
    .map((candidate) => ({ candidate, distance: AutoCorrect.levensteinDistance(word, candidate, config) }))
    .filter(({ distance }) => distance <= config.autoCorrectLimit)
    .sort((a, b) => a.distance - b.distance)
  return ranked.length === 0 ? "" : `: did you mean ${ranked[0]!.candidate}?`
}

const unknownCommand = (word: string): string => {
  const close = suggestion(word, commandNames)
  return close === ""
    ? `unknown command ${JSON.stringify(word)} (commands: ${commandNames.join(", ")}; vppkit --help)`
    : `unknown command ${JSON.stringify(word)}${close}`
}

/** What the command line asks for, decided before @effect/cli parses it. */
type Request =
  | { readonly _tag: "Version" }
  | { readonly _tag: "Help"; readonly words: ReadonlyArray<string> }
  | { readonly _tag: "Run"; readonly args: ReadonlyArray<string> }

/**
 * `-V`, `--version`, `version`; `help [command [resource]]`; `--help`/`-h` anywhere before `--` (the help of the
 * command on the line, and for `list`, of the resource on it); anything else is run.
 *
 * @since 0.1.0
 * @category running
 */
export const route = (args: ReadonlyArray<string>): Request => {
  const first = args[0]
  if (Version.isVersionRequest(args)) return { _tag: "Version" }
  if (first === "help") return { _tag: "Help", words: args.slice(1).filter((arg) => !arg.startsWith("-")) }
  const end = args.indexOf("--")
  const before = end === -1 ? args : args.slice(0, end)
  if (!before.includes("--help") && !before.includes("-h")) return { _tag: "Run", args }
  const command = before[0]
  if (command === undefined || command.startsWith("-")) return { _tag: "Help", words: [] }
  if (command === "fleet") {
    const sub = before.slice(1).find((arg) => fleetSubcommands.some(([name]) => name === arg))
    return { _tag: "Help", words: sub === undefined ? [command] : [command, sub] }
  }
  if (command !== "list") return { _tag: "Help", words: [command] }
  const valued = commandFlags.get("list")!.valued
  const resource = before.slice(1).find((arg, i, rest) =>
    !arg.startsWith("-") && (i === 0 || !valued.has(rest[i - 1]!)) && (Resources.names as ReadonlyArray<string>).includes(arg)
  )
  return { _tag: "Help", words: resource === undefined ? [command] : [command, resource] }
}

const helpDocText = (doc: HelpDoc.HelpDoc): string =>
  HelpDoc.toAnsiText(doc).replace(/\u001b\[[0-9;]*m/g, "").split("\n").map((line) => line.trim()).filter((line) => line.length > 0).join(" ")

/** The usage of every subcommand's named options (flag → its placeholder). */
const placeholders: ReadonlyArray<readonly [string, string]> = subcommands.flatMap(([, command]) =>
  namedOf(Command.getUsage(command)).flatMap((named) =>
    Option.match(named.acceptedValues, {
      onNone: () => [],
      onSome: (values) => named.names.map((name) => [name, values] as const)
    })
  )
)

/** The flag given `value` on the command line (`--concurrency 0.5` → `--concurrency`). */
const flagOfValue = (args: ReadonlyArray<string>, value: string, accept: (flag: string) => boolean = () => true) => {
  for (let i = args.length - 1; i > 0; i--) {
    if (args[i] === value && args[i - 1]!.startsWith("-") && accept(args[i - 1]!)) return args[i - 1]
  }
  return undefined
}

/**
 * @effect/cli's parse errors as one line that names the command and the flag, in plain English
 * (`'0.5' is not a integer` → `--concurrency "0.5": expected a whole number`), with a "did you mean" for
 * an unknown command or flag.
 *
 * @since 0.1.0
 * @category running
 */
export const describeParseError = (error: ValidationError.ValidationError, args: ReadonlyArray<string>): string => {
  const text = "error" in error ? helpDocText(error.error) : ""
  const command = args.find((arg) => commandNames.includes(arg))
  const where = command === undefined ? "" : `${command}: `
  const help = `vppkit ${command === undefined ? "" : `${command} `}--help`
  let match: RegExpExecArray | null
  const choice = /^Expected one of the following cases: (.*)$/.exec(text)
  if (/^Invalid subcommand for/.test(text) || (command === undefined && choice === null)) {
    const word = args[0]
    if (word === undefined) return `a command is needed: ${commandNames.join(", ")} (vppkit --help)`
    if (word === "--completions") {
      return `--completions${args[1] === undefined ? "" : ` ${JSON.stringify(args[1])}`}: expected one of bash, zsh, fish`
    }
    if (word.startsWith("-")) return `unknown flag ${word} (vppkit --help)`
    return unknownCommand(word)
  }
  if ((match = /^Missing argument <(.+)>$/.exec(text)) !== null) {
    return command === "list"
      ? `list: which resource? one of ${Resources.names.join(", ")} (vppkit list --help)`
      : `${where}missing <${match[1]}> (${help})`
  }
  if ((match = /^Received unknown argument: '(.*)'$/.exec(text)) !== null) {
    const word = match[1]!
    if (!word.startsWith("-")) return `${where}unexpected argument ${JSON.stringify(word)} (${help})`
    const kinds = command === undefined ? undefined : commandFlags.get(command)
    if (kinds?.flags.has(word) === true) return `${where}${word} is given more than once`
    const close = kinds === undefined ? "" : suggestion(word, [...kinds.flags])
    return close === "" ? `${where}unknown flag ${word} (${help})` : `${where}unknown flag ${word}${close}`
  }
  if ((match = /^The flag '(.*)' is not recognized\. Did you mean '(.*)'\?$/.exec(text)) !== null) {
    return `${where}unknown flag ${match[1]}: did you mean ${match[2]}?`
  }
  if ((match = /^'(.*)' is not a (integer|float)$/.exec(text)) !== null) {
    const flag = flagOfValue(args, match[1]!)
    const expected = match[2] === "integer" ? "a whole number" : "a number"
    return `${flag === undefined ? "" : `${flag} `}${JSON.stringify(match[1])}: expected ${expected}`
  }
  if (choice !== null) {
    const choices = choice[1]!.split(",").map((value) => value.trim())
    const choiceFlags = new Set(
      placeholders.filter(([, values]) => values.split("|").map((v) => v.trim()).join(",") === choices.join(",")).map(([flag]) => flag)
    )
    // The flag whose placeholder lists these choices; else (a built-in such as --completions) any flag.
    for (const known of [(flag: string) => choiceFlags.has(flag), (flag: string) => flag.startsWith("-")]) {
      for (let i = args.length - 1; i > 0; i--) {
        if (known(args[i - 1]!) && !choices.includes(args[i]!)) {
          return `${args[i - 1]} ${JSON.stringify(args[i])}: expected one of ${choices.join(", ")}`
        }
      }
    }
    return `${where}expected one of ${choices.join(", ")}`
  }
  if ((match = /^Expected to find option: '(.*)'$/.exec(text)) !== null) return `${where}missing ${match[1]} (${help})`
  if ((match = /^More than one reference to option '(.*)' detected$/.exec(text)) !== null) {
    return `${where}${match[1]} is given more than once`
  }
  if (ValidationError.isMultipleValuesDetected(error)) return `${where}a flag is given more than once (${help})`
  return `${where}${text.length > 0 ? text : "invalid command line"} (${help})`
}

/** `vppkit --completions SHELL`: @effect/cli's script for the shell, with its gaps filled (internal/completions.ts). */
const completions = (shell: "bash" | "fish" | "zsh"): Effect.Effect<string> => {
  const model: Completions.Model = {
    executable: "vppkit",
    commands: commandNames,
    resources: Resources.all.map((resource) => ({ name: resource.name, description: resource.description })),
    values: new Map(placeholders.map(([flag, placeholder]) => [flag, Completions.valueKind(placeholder, Resources.names)]))
  }
  switch (shell) {
    case "bash":
      return Effect.map(Command.getBashCompletions(command, "vppkit"), (lines) => Completions.bash(lines.join("\n"), model))
    case "zsh":
      return Effect.map(Command.getZshCompletions(command, "vppkit"), (lines) => Completions.zsh(lines.join("\n"), model))
    case "fish":
      return Effect.map(Command.getFishCompletions(command, "vppkit"), (lines) => Completions.fish(lines.join("\n"), model))
  }
}

/** The terminal's width when stdout is one that knows it, else $COLUMNS, else 80. */
const terminalWidth = (): number => {
  const columns = process.stdout.isTTY === true ? process.stdout.columns : 0
  return columns > 0 ? columns : Number(process.env.COLUMNS) > 0 ? Number(process.env.COLUMNS) : 80
}

const printHelp = (words: ReadonlyArray<string>) =>
  Either.match(
    helpText(words, { color: Help.useColor(process.stdout), width: terminalWidth() }),
    {
      onLeft: (message) => Effect.fail(new ExitCode.UsageError({ message })),
      onRight: (text) => Effect.sync(() => process.stdout.write(text))
    }
  )

type Environment = FileSystem.FileSystem | Path.Path | Terminal.Terminal

/** Parses with @effect/cli and runs the command, or the built-in option the line asks for. */
const parseAndRun = (argv: ReadonlyArray<string>, args: ReadonlyArray<string>): Effect.Effect<void, unknown, Environment> =>
  CommandDescriptor.parse(command.descriptor, ["vppkit", ...args], config).pipe(
    Effect.mapError((error) => new ExitCode.UsageError({ message: describeParseError(error, args) })),
    Effect.flatMap((directive): Effect.Effect<void, unknown, Environment> => {
      if (directive._tag === "UserDefined") {
        const leftover = directive.leftover[0]
        if (leftover !== undefined) {
          const error = ValidationError.invalidValue(HelpDoc.p(`Received unknown argument: '${leftover}'`))
          return Effect.fail(new ExitCode.UsageError({ message: describeParseError(error, args) }))
        }
        return command.transform(command.handler(directive.value), directive.value).pipe(
          // `vppkit` alone: its help.
          Effect.catchIf(
            (error: unknown) => ValidationError.isValidationError(error) && ValidationError.isHelpRequested(error),
            () => printHelp([])
          )
        )
      }
      const builtIn = directive.option
      switch (builtIn._tag) {
        case "ShowHelp":
          return printHelp([])
        case "ShowVersion":
          return Console.log(version)
        case "ShowCompletions":
          return Effect.flatMap(completions(builtIn.shellType), (script) => Console.log(script))
        case "SetLogLevel": {
          const rest = args.filter((arg, i) => !(arg === "--log-level" || arg.startsWith("--log-level=") || args[i - 1] === "--log-level"))
          return parseAndRun(argv, rest).pipe(Logger.withMinimumLogLevel(builtIn.level))
        }
        case "ShowWizard":
          return cli([...argv.slice(0, 2), ...args])
      }
    })
  )

/**
 * Runs the command line (`argv` as `process.argv`) and answers the exit code. A failure prints one line on
 * stderr, `vppkit: …` (parse errors included); nothing fails past this.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, Environment> => {
  const request = route(splitFlagValues(argv.slice(2)))
  const effect: Effect.Effect<void, unknown, Environment> = request._tag === "Version"
    ? Console.log(version)
    : request._tag === "Help"
    ? printHelp(request.words)
    : Either.match(Either.flatMap(checkWizard(request.args, process.stdin.isTTY === true), checkFlagValues), {
      onLeft: (message) => Effect.fail(new ExitCode.UsageError({ message })),
      onRight: (args) => parseAndRun(argv, args)
    })
  return effect.pipe(
    Effect.as(ExitCode.ok),
    Effect.catchAll((error) => Effect.as(Console.error(`vppkit: ${ExitCode.message(error)}`), ExitCode.of(error))),
    Effect.provide(Layer.succeed(CliConfig.CliConfig, config)),
    // Logs (`--log-level`) go to stderr, one line each, in the command's `--log-format`: this logger is the only
    // one (it replaces the runtime's pretty logger, which writes to stdout, where the records go).
    Effect.locally(FiberRef.currentLoggers, HashSet.make(Reporting.logger))
  )
}
