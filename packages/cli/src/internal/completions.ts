/**
 * Shell completion scripts: @effect/cli's generators, with what they get wrong for vppkit put right.
 *
 * - bash: a command with a dash (`mock-server`) was never recognised (the generator matched `mock__server`),
 *   so its options were never offered; choices were joined by commas (one word for `compgen -W`); after a
 *   flag without a value (`--consistent`) nothing was offered; and flags whose values are a fixed set
 *   (`--format ndjson|json|csv|table`) completed file names.
 * - zsh: a flag that takes a value was declared without one, so its value was taken for an argument.
 * - every shell: `vppkit list <TAB>` offers the resource names (the generators know nothing of an argument's values).
 */

/** What a flag's value completes to: a fixed set of words, file names, or nothing. */
export type ValueKind =
  | { readonly _tag: "Words"; readonly words: ReadonlyArray<string> }
  | { readonly _tag: "Files" }
  | { readonly _tag: "Nothing" }

/** What the completion scripts need to know besides what @effect/cli generates. */
export interface Model {
  readonly executable: string
  /** The subcommands' names. */
  readonly commands: ReadonlyArray<string>
  /** The resources `list` takes, with a short description each. */
  readonly resources: ReadonlyArray<{ readonly name: string; readonly description: string }>
  /** Every flag that takes a value (of any command), and what its value completes to. */
  readonly values: ReadonlyMap<string, ValueKind>
}

/** The kind of value a flag takes, from its placeholder (`ndjson|json|csv|table`, `PATH`, `N`, …). */
export const valueKind = (placeholder: string, resourceNames: ReadonlyArray<string>): ValueKind => {
  const words = placeholder.split("|").map((word) => word.trim()).filter((word) => word.length > 0)
  if (words.length > 1 && words.every((word) => /^[\w-]+$/.test(word))) return { _tag: "Words", words }
  if (/^(PATH|FILE|DIR|file|directory|path)$/.test(placeholder)) return { _tag: "Files" }
  if (placeholder === "NAMES") return { _tag: "Words", words: resourceNames }
  return { _tag: "Nothing" }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** The bash script, fixed. */
export const bash = (script: string, model: Model): string => {
  let result = script
  // `vppkit,mock__server)` → `vppkit,mock-server)`: the word on the command line has the dash.
  for (const command of model.commands.filter((name) => name.includes("-"))) {
    result = result.replace(new RegExp(`,${escapeRegExp(command.replace(/-/g, "__"))}\\)`, "g"), `,${command})`)
  }
  // compgen -W "a,b" → compgen -W "a b"
  result = result.replace(/compgen -W "([^"$]*)"/g, (_, words: string) => `compgen -W "${words.replace(/,/g, " ")}"`)
  // After a flag without a value: fall through to the flags (and resources), instead of completing nothing.
  result = result.replace(/^ +[^\n]+\)\n +COMPREPLY=\( "\$\{cur\}" \)\n +return 0\n +;;\n/gm, "")
  // Flags whose value is a fixed set, or not a file name.
  result = result.replace(
    /^( +)((?:-\w\|)?(--[\w-]+))\)\n( +)COMPREPLY=\( \$\(compgen -f "\$\{cur\}"\) \)\n/gm,
    (whole, indent: string, pattern: string, flag: string, inner: string) => {
      const kind = model.values.get(flag)
      if (kind === undefined || kind._tag === "Files") return whole
      const reply = kind._tag === "Words" ? `( $(compgen -W "${kind.words.join(" ")}" -- "\${cur}") )` : "()"
      return `${indent}${pattern})\n${inner}COMPREPLY=${reply}\n`
    }
  )
  // `vppkit list <TAB>`: the resource names, until one is on the line.
  const names = model.resources.map((resource) => resource.name)
  const valued = [...model.values.keys()].join("|")
  const listBlock = new RegExp(`^( +)(${model.executable}__list\\)\\n +opts="[^"]*"\\n)`, "m")
  result = result.replace(listBlock, (_, indent: string, head: string) =>
    [
      `${indent}${head}`,
      `${indent}    if [[ \${cur} != -* ]]; then`,
      `${indent}        case "\${prev}" in`,
      `${indent}            ${valued}) ;;`,
      `${indent}            *)`,
      `${indent}                local word resource=""`,
      `${indent}                for word in "\${COMP_WORDS[@]:2:COMP_CWORD-2}"; do`,
      `${indent}                    case "\${word}" in ${names.join("|")}) resource="\${word}" ;; esac`,
      `${indent}                done`,
      `${indent}                if [[ -z \${resource} ]]; then`,
      `${indent}                    COMPREPLY=( $(compgen -W "${names.join(" ")}" -- "\${cur}") )`,
      `${indent}                    return 0`,
      `${indent}                fi`,
      `${indent}                ;;`,
      `${indent}        esac`,
      `${indent}    fi`,
      ""
    ].join("\n")
  )
  return result
}

const zshQuote = (text: string) => text.replace(/([:[\]()\\ ])/g, "\\$1").replace(/'/g, `'\\''`)

/** The zsh script, fixed. */
export const zsh = (script: string, model: Model): string => {
  let result = script.replace(/'([\w ]+) mock__server commands'/g, "'$1 mock-server commands'")
  // A flag that takes a value declares it: `--format[…]:FORMAT:(ndjson json csv table)`.
  result = result.replace(/^( +)'(--[\w-]+)\[((?:[^\]\\]|\\.)*)\]' \\$/gm, (whole, indent: string, flag: string, text: string) => {
    const kind = model.values.get(flag)
    if (kind === undefined) return whole
    const action = kind._tag === "Words" ? `(${kind.words.join(" ")})` : kind._tag === "Files" ? "_files" : " "
    return `${indent}'${flag}[${text}]:${flag.slice(2)}:${action}' \\`
  })
  // `vppkit list <TAB>`: the resource names.
  const resources = model.resources.map((r) => `${r.name}\\:${zshQuote(r.description)}`).join(" ")
  result = result.replace(
    /^( +)\(list\)\n( +)_arguments "\$\{_arguments_options\[@\]\}" \\\n/m,
    (head: string, _indent: string, inner: string) => `${head}${inner}    ':resource:((${resources}))' \\\n`
  )
  return result
}

const fishQuote = (text: string) => `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`

/** The fish script, fixed. */
export const fish = (script: string, model: Model): string => {
  // A flag whose value is a fixed set offers it.
  let result = script.replace(
    /^(complete -c \S+ -n "[^"]*"(?: -s \w)? -l ([\w-]+) -r -f)( -d .*)$/gm,
    (whole, head: string, flag: string, tail: string) => {
      const kind = model.values.get(`--${flag}`)
      if (kind?._tag === "Words") return `${head} -a "${kind.words.join(" ")}"${tail}`
      if (kind?._tag === "Files") return `${head.replace(/ -f$/, "")} -F${tail}`
      return whole
    }
  )
  const names = model.resources.map((resource) => resource.name).join(" ")
  const resourceLines = model.resources.map((resource) =>
    `complete -c ${model.executable} -n "__fish_seen_subcommand_from list; and not __fish_seen_subcommand_from ${names}" -f -a ${resource.name} -d ${fishQuote(resource.description)}`
  )
  result = result.trimEnd() + "\n" + resourceLines.join("\n") + "\n"
  return result
}
