import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Resources from "../Resources.js"
import { globalOptions, maxRequestsPerSecondOption, retriesOption } from "./globals.js"
import { load } from "./lazy.js"
import * as Output from "./output.js"

/** Passes `--consistent` makes at most without `--max-passes`. */
export const defaultMaxPasses = 5

const owners = (flag: string) => Resources.all.filter((resource) => resource.filters.some((f) => f.flag === flag))

/** What a filter flag does, per resource when the resources that share it describe it differently. */
const describeFilter = (filter: Resources.Filter): string => {
  const uses = owners(filter.flag).map((resource) => ({
    name: resource.name,
    description: resource.filters.find((f) => f.flag === filter.flag)!.description
  }))
  const descriptions = [...new Set(uses.map((use) => use.description))]
  return descriptions.length === 1
    ? `${descriptions[0]} (${uses.map((use) => use.name).join(", ")})`
    : uses.map((use) => `${use.name}: ${use.description}`).join("; ")
}

// One optional, repeatable text option per filter flag of any resource; Resources.parseFilters checks them
// against the resource actually listed and converts their values.
const filterOptions = Options.all(
  Object.fromEntries(
    Resources.allFilterFlags.map((filter) => [
      filter.flag,
      Options.text(filter.flag).pipe(
        Options.withPseudoName(Resources.filterPlaceholder(filter)),
        Options.withDescription(describeFilter(filter)),
        Options.repeated
      )
    ])
  ) as Record<string, Options.Options<Array<string>>>
)

/** The boolean filter flags (`--active-only`, …): given alone, they mean `true` (see Cli.checkFlagValues). */
export const booleanFilterFlags: ReadonlyArray<string> = Resources.allFilterFlags
  .filter((filter) => filter.type === "boolean")
  .map((filter) => `--${filter.flag}`)

const options = {
  maxRequestsPerSecond: maxRequestsPerSecondOption,
  format: Options.text("format").pipe(
    Options.withAlias("o"),
    Options.withPseudoName(Output.formats.join("|")),
    Options.withDescription("output format (default: table on a terminal, ndjson otherwise)"),
    Options.optional
  ),
  fields: Options.text("fields").pipe(
    Options.withPseudoName("FIELD,…"),
    Options.withDescription("the fields to show, in this order (e.g. email,status)"),
    Options.optional
  ),
  limit: Options.text("limit").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("stop after N records (exit 0; no checkpoint is written)"),
    Options.optional
  ),
  concurrency: Options.text("concurrency").pipe(
    Options.withPseudoName("1..5"),
    Options.withDescription("requests in flight at once, 1 to 5 (default 5)"),
    Options.optional
  ),
  since: Options.text("since").pipe(
    Options.withPseudoName("TOKEN"),
    Options.withDescription("only records changed since this versionId or sinceModifiedToken"),
    Options.optional
  ),
  checkpoint: Options.text("checkpoint").pipe(
    Options.withPseudoName("FILE"),
    Options.withDescription("--since from this file; a complete, consistent run writes the new checkpoint there"),
    Options.optional
  ),
  retries: retriesOption,
  consistent: Options.boolean("consistent").pipe(
    Options.withDescription("re-read until a pass is consistent; only that pass goes to stdout")
  ),
  maxPasses: Options.text("max-passes").pipe(
    Options.withPseudoName("N"),
    Options.withDescription(`passes --consistent makes at most (default ${defaultMaxPasses})`),
    Options.optional
  ),
  allowDrift: Options.boolean("allow-drift").pipe(
    Options.withDescription("accept a pass during which the data changed: a warning, exit 0 instead of 5")
  )
}

const resourceArg = Args.text({ name: "resource" }).pipe(
  Args.withDescription(`what to list: ${Resources.names.join(", ")}`)
)

/**
 * The flags of `vppkit list` besides the resource and the global ones, as the command parses them; `filters`
 * holds each filter flag's values by flag name (`state`, `active-only`), as given.
 */
export type Flags = Command.Command.ParseConfig<typeof options> & {
  readonly filters: Readonly<Record<string, ReadonlyArray<string>>>
}

/** No flag given: what `vppkit list <resource>` alone parses to. */
export const noFlags: Flags = {
  maxRequestsPerSecond: Option.none(),
  format: Option.none(),
  fields: Option.none(),
  limit: Option.none(),
  concurrency: Option.none(),
  since: Option.none(),
  checkpoint: Option.none(),
  retries: Option.none(),
  consistent: false,
  maxPasses: Option.none(),
  allowDrift: false,
  filters: {}
}

const config = { resource: resourceArg, ...options, filters: filterOptions, ...globalOptions }

/** Everything `vppkit list` parses: the resource, the flags above, the filters and the global flags. */
export type Config = Command.Command.ParseConfig<typeof config>

/** `vppkit list <resource>`: streams a resource's records to stdout (the work is in listRun.ts). */
export const listCommand = Command.make("list", config, (config) =>
  Effect.flatMap(load("vppkit list", () => import("./listRun.js")), (run) => run.runList(config))).pipe(
  Command.withDescription(
    "Stream a resource's records to stdout as ndjson, json, csv or a table; filters, --since and --checkpoint for incremental runs"
  )
)
