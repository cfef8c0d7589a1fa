import type * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import type * as HelpDoc from "@effect/cli/HelpDoc"
import type * as Span from "@effect/cli/HelpDoc/Span"
import * as Resources from "../Resources.js"

/**
 * The help pages of `vppkit`, short and plain: what a command does, its usage line (`vppkit list …`), its flags
 * with their own descriptions (the flags and descriptions come from @effect/cli's help of the command, without
 * the framework's boilerplate: "A user-defined piece of text.", "This setting is optional.", …), and examples.
 * Colour (bold headings) only on a terminal, and never under `NO_COLOR`.
 */

/** A line of a two-column list: a term (a flag, a command, an example) and what it is. */
export interface Row {
  readonly term: string
  readonly description: string
}

/** A help page: sections of rows or lines, in order. */
export interface Page {
  readonly summary: string
  readonly usage: ReadonlyArray<string>
  readonly sections: ReadonlyArray<{ readonly title: string; readonly rows: ReadonlyArray<Row> }>
  readonly examples: ReadonlyArray<Row>
  readonly footer?: string
}

/** Whether to colour what goes to `stream`: a terminal, `NO_COLOR` unset or empty, and a terminal that is not dumb. */
export const useColor = (stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean =>
  stream.isTTY === true && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb"

const spanText = (span: Span.Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    case "Highlight":
    case "Strong":
    case "Weak":
      return spanText(span.value)
  }
}

type Block =
  | { readonly _tag: "Header"; readonly text: string }
  | { readonly _tag: "Paragraph"; readonly text: string }
  | { readonly _tag: "List"; readonly entries: ReadonlyArray<{ readonly term: string; readonly paragraphs: ReadonlyArray<string> }> }

const flatten = (doc: HelpDoc.HelpDoc): Array<Block> => {
  switch (doc._tag) {
    case "Empty":
      return []
    case "Header":
      return [{ _tag: "Header", text: spanText(doc.value) }]
    case "Paragraph":
      return [{ _tag: "Paragraph", text: spanText(doc.value) }]
    case "DescriptionList":
      return [{
        _tag: "List",
        entries: doc.definitions.map(([span, description]) => ({
          term: spanText(span),
          paragraphs: flatten(description).flatMap((block) => block._tag === "Paragraph" ? [block.text] : [])
        }))
      }]
    case "Enumeration":
      return doc.elements.flatMap(flatten)
    case "Sequence":
      return [...flatten(doc.left), ...flatten(doc.right)]
  }
}

/** What @effect/cli adds to every option's help: the value's type, optionality, repetition. */
const boilerplate = [
  /^A user-defined piece of text\.$/,
  /^An integer\.$/,
  /^A floating point number\.$/,
  /^A true or false value\.$/,
  /^One of the following: /,
  /^A date without a time-zone/,
  /^An existing (file|directory)/,
  /^A file (or directory )?that must not exist/,
  /^This setting is optional\.$/,
  /^This option (may|must) be repeated/,
  /^This option can be set from environment variables\.$/
]

const defaultOf = /^This setting is optional\. Defaults to: (.*)$/

/** One option's description without the boilerplate; its default, when the framework knows it, in brackets. */
const describe = (paragraphs: ReadonlyArray<string>): string => {
  const own = paragraphs.filter((text) => !boilerplate.some((pattern) => pattern.test(text)) && !defaultOf.test(text))
  const text = own.join(" ").trim()
  const fallback = paragraphs.map((p) => defaultOf.exec(p)?.[1]).find((value) => value !== undefined)
  return fallback === undefined || /default/i.test(text) ? text : `${text} (default ${fallback.replace(/^"(.*)"$/, "$1")})`
}

/**
 * `(-q, --quiet)` → `-q, --quiet`; `--adam-id TEXT...` → `--adam-id TEXT`; `--pages live | snapshot` → `--pages live|snapshot`;
 * the framework's placeholders for a number or a text (`--port integer`) in capitals (`--port N`).
 */
const cleanTerm = (term: string): string =>
  term.replace(/^\((.*)\)$/, "$1").replace(/\.\.\.$/, "").replace(/ \| /g, "|").trim()
    .replace(/ integer$/, " N").replace(/ float$/, " NUMBER").replace(/ text$/, " TEXT")

/** What @effect/cli says about a command: its description, arguments and options (flag → row). */
export interface CommandInfo {
  readonly summary: string
  readonly args: ReadonlyArray<Row>
  readonly options: ReadonlyArray<Row & { readonly flags: ReadonlyArray<string> }>
}

/** Reads a command's own help (as @effect/cli builds it) into a summary, argument rows and option rows. */
export const commandInfo = (command: Command.Command<any, any, any, any>, config: CliConfig.CliConfig): CommandInfo => {
  let section = ""
  const summary: Array<string> = []
  const args: Array<Row> = []
  const options: Array<Row & { readonly flags: ReadonlyArray<string> }> = []
  for (const block of flatten(Command.getHelp(command, config))) {
    if (block._tag === "Header") section = block.text
    else if (block._tag === "Paragraph" && section === "DESCRIPTION") summary.push(block.text)
    else if (block._tag === "List") {
      for (const entry of block.entries) {
        const term = cleanTerm(entry.term)
        const row = { term, description: describe(entry.paragraphs) }
        if (section === "ARGUMENTS") args.push(row)
        else if (section === "OPTIONS") options.push({ ...row, flags: term.match(/(?<=^|[\s,])--?[\w-]+/g) ?? [] })
      }
    }
  }
  return { summary: summary.join(" "), args, options }
}

const wrap = (text: string, width: number): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(/\s+/).filter((w) => w.length > 0)) {
    if (line.length > 0 && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line.length === 0 ? word : `${line} ${word}`
    }
  }
  if (line.length > 0) lines.push(line)
  return lines
}

/** Rows as two columns: the term, then its description wrapped to the width (on the next line when the term is long). */
const renderRows = (rows: ReadonlyArray<Row>, width: number, bold: (text: string) => string): Array<string> => {
  const longest = Math.max(0, ...rows.map((row) => row.term.length))
  const column = Math.min(longest, 30)
  const descriptionWidth = Math.max(30, width - column - 6)
  const lines: Array<string> = []
  for (const row of rows) {
    const described = wrap(row.description, descriptionWidth)
    if (row.term === "") {
      lines.push(...wrap(row.description, width - 2).map((line) => `  ${line}`))
    } else if (described.length === 0) {
      lines.push(`  ${bold(row.term)}`)
    } else if (row.term.length <= column) {
      lines.push(`  ${bold(row.term)}${" ".repeat(column - row.term.length + 2)}${described[0]}`)
      for (const more of described.slice(1)) lines.push(`${" ".repeat(column + 4)}${more}`)
    } else {
      lines.push(`  ${bold(row.term)}`)
      for (const more of described) lines.push(`${" ".repeat(column + 4)}${more}`)
    }
  }
  return lines
}

/** Examples: `  command  # what it does` when that fits, else the comment on a line of its own after it. */
const renderExamples = (rows: ReadonlyArray<Row>, width: number): Array<string> =>
  rows.flatMap((row) => {
    if (row.description === "") return [`  ${row.term}`]
    const line = `  ${row.term}  # ${row.description}`
    return line.length <= width ? [line] : [`  ${row.term}`, ...wrap(row.description, width - 6).map((text) => `    # ${text}`)]
  })

/** The page as text: colour (bold headings and terms) only when asked for. */
export const render = (page: Page, options: { readonly color: boolean; readonly width: number }): string => {
  const bold = (text: string) => (options.color ? `\u001b[1m${text}\u001b[0m` : text)
  const width = Math.max(60, Math.min(options.width, 120))
  const title = (text: string) => bold(`${text}:`)
  const lines: Array<string> = [...wrap(page.summary, width), "", title("Usage"), ...page.usage.map((line) => `  ${line}`)]
  for (const section of page.sections) {
    if (section.rows.length === 0) continue
    lines.push("", title(section.title), ...renderRows(section.rows, width, bold))
  }
  if (page.examples.length > 0) lines.push("", title("Examples"), ...renderExamples(page.examples, width))
  if (page.footer !== undefined) lines.push("", ...wrap(page.footer, width))
  return lines.join("\n") + "\n"
}

/** Examples: a command line and what it does. */
export type Examples = ReadonlyArray<readonly [command: string, what?: string]>

const examplesOf = (examples: Examples): Array<Row> =>
  examples.map(([term, description]) => ({ term, description: description ?? "" }))

/** The flags of `list` that are filters (shown per resource, not in `list --help`). */
const filterFlags: ReadonlySet<string> = new Set(Resources.allFilterFlags.map((filter) => `--${filter.flag}`))

/** Options that apply only to resources with an incremental query. */
const incrementalFlags: ReadonlySet<string> = new Set(["--since", "--checkpoint"])

/** The help of `vppkit <name>`; for `list`, of `vppkit list <resource>` when a resource is given. */
export const commandPage = (
  name: string,
  info: CommandInfo,
  examples: Examples,
  resource?: Resources.Resource
): Page => {
  if (name !== "list") {
    const args = info.args.map((arg) => ` ${arg.term}`).join("")
    return {
      summary: info.summary,
      usage: [`vppkit ${name}${args}${info.options.length > 0 ? " [flags]" : ""}`],
      sections: [
        { title: "Arguments", rows: info.args },
        { title: "Flags", rows: info.options }
      ],
      examples: examplesOf(examples),
      footer: "Every flag takes its value as --flag VALUE or --flag=VALUE."
    }
  }
  const common = info.options.filter((option) => !option.flags.some((flag) => filterFlags.has(flag)))
  if (resource === undefined) {
    return {
      summary: info.summary,
      usage: ["vppkit list <resource> [flags] [filters]"],
      sections: [
        { title: "Resources", rows: Resources.all.map((r) => ({ term: r.name, description: r.description })) },
        { title: "Flags", rows: common }
      ],
      examples: examplesOf(examples),
      footer: "Each resource's filters: vppkit list <resource> --help"
    }
  }
  const filters = resource.filters.map((filter) => ({
    term: `--${filter.flag} ${filterValue(filter)}`,
    description: filter.description
  }))
  const flags = common.filter((option) =>
    resource.checkpointField !== undefined || !option.flags.some((flag) => incrementalFlags.has(flag))
  )
  return {
    summary: `List ${resource.name}: ${resource.description} (${resource.endpoint}).`,
    usage: [`vppkit list ${resource.name} [flags]${filters.length > 0 ? " [filters]" : ""}`],
    sections: [
      { title: "Filters", rows: filters },
      { title: "Flags", rows: flags },
      { title: "Fields", rows: [{ term: "", description: resource.fields.map((field) => field.name).join(", ") }] }
    ],
    examples: examplesOf(resourceExamples(resource))
  }
}

/** A filter's value as this resource takes it (`--adam-id` is text for assets, a number for subscriptions). */
const filterValue = (filter: Resources.Filter): string =>
  // a boolean filter alone means true
  filter.type === "boolean" && filter.choices === undefined ? "[true|false]" : Resources.filterPlaceholder(filter)

const sampleValue = (filter: Resources.Filter): string => {
  if (filter.choices !== undefined) return filter.choices[filter.choices.length - 1]!
  switch (filter.type) {
    case "boolean":
      return ""
    case "integer":
    case "integers":
      return "1500000007"
    case "string":
    case "strings":
      return filter.flag.includes("serial") ? "C02XK1Y2JG5H" : "user-0042"
  }
}

/** Examples for one resource, made from what it has: its filters and whether it has an incremental query. */
const resourceExamples = (resource: Resources.Resource): Examples => {
  const examples: Array<readonly [string, string?]> = [
    [`vppkit list ${resource.name}`, "a table on a terminal, NDJSON when piped"],
    [`vppkit list ${resource.name} --format csv > ${resource.name}.csv`]
  ]
  const filter = resource.filters[0]
  if (filter !== undefined) {
    const value = sampleValue(filter)
    examples.push([`vppkit list ${resource.name} --${filter.flag}${value === "" ? "" : ` ${value}`}`])
  }
  if (resource.checkpointField !== undefined) {
    examples.push([
      `vppkit list ${resource.name} --checkpoint ${resource.name}.checkpoint.json`,
      "first run: everything; then only the changes"
    ])
  }
  return examples
}

/** The help of `vppkit` itself. */
export const rootPage = (
  summary: string,
  commands: ReadonlyArray<Row>,
  examples: Examples
): Page => ({
  summary,
  usage: ["vppkit <command> [flags]", "vppkit help <command>"],
  sections: [
    { title: "Commands", rows: commands },
    {
      title: "Flags",
      rows: [
        { term: "-h, --help", description: "show help (vppkit <command> --help for a command's)" },
        { term: "-V, --version", description: "print the version" },
        { term: "--completions bash|zsh|fish", description: "print the shell completion script (see the README)" },
        { term: "--log-level LEVEL", description: "log at this level and above: debug, info, warning, error" }
      ]
    }
  ],
  examples: examplesOf(examples),
  footer: "Exit codes: 0 ok, 1 failure, 2 usage, 3 token, 4 gave up after retries, 5 incomplete (the data " +
    "changed while it was read), 6 busy, 130 interrupted."
})
