/** What each benchmark item produces, and BENCHMARKS.md made of them. */
import type { Machine } from "./machine.js"

/** One figure with its goal, when it has one. */
export interface Figure {
  readonly label: string
  readonly value: string
  readonly goal?: string
  /** `undefined`: no goal, or not measured. */
  readonly met?: boolean
}

export interface Section {
  readonly id: string
  readonly title: string
  readonly figures: ReadonlyArray<Figure>
  /** Markdown paragraphs and tables: the setup, every run, what the figures mean. */
  readonly details: ReadonlyArray<string>
}

/** The marker under which BENCHMARKS.md keeps hand-written notes across runs. */
export const notesMarker = "<!-- Everything below this line is written by hand and kept when `npm run bench` rewrites the file. -->"

const mark = (figure: Figure) => figure.met === undefined ? "" : figure.met ? "✅ met" : "❌ missed"

export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`)
  ].join("\n")

export const render = (options: {
  readonly machine: Machine
  readonly command: string
  readonly totalSeconds: number
  readonly sections: ReadonlyArray<Section>
  readonly notes: string
}): string => {
  const { machine, sections } = options
  const summary = table(
    ["item", "figure", "value", "goal", ""],
    sections.flatMap((section) =>
      section.figures.map((figure, i) => [
        i === 0 ? `${section.id}. ${section.title}` : "",
        figure.label,
        figure.value,
        figure.goal ?? "",
        mark(figure)
      ])
    )
  )
  return [
    "# vppkit benchmarks",
    "",
    "Written by `npm run bench` (bench/src/run.ts); do not edit above the marker at the end — the next run rewrites it.",
    "",
    `- **Command:** \`${options.command}\``,
    `- **Date:** ${machine.date}`,
    `- **Machine:** ${machine.cpu}, ${machine.cores} cores, ${machine.memory} RAM, ${machine.os}`,
    `- **Node:** ${machine.node}`,
    `- **Load average** (1 min) at start / end: ${machine.loadStart} / ${machine.loadEnd} — the machine is shared; ` +
    "every comparison below is made within this run, side by side, and read as a ratio.",
    `- **Total bench time:** ${options.totalSeconds.toFixed(0)} s`,
    "",
    "Everything runs against the simulator of `@vppkit/core` served over HTTP on 127.0.0.1 (`SimulatorServer`, " +
    "port 0), in a process of its own so that the client under measurement has the other core and its memory " +
    "is its own. Timed figures are the best of the repetitions listed (noise on a shared machine only ever slows " +
    "a run down); every repetition is shown in the item's section. `npm run bench -- --only 1,5` runs some items " +
    "and prints the report instead of writing this file; `VPPKIT_BENCH_CLI=path/to/vppkit.js` points the items that " +
    "run the CLI at another build of it. Items 7, 8 and 10 need PostgreSQL: `VPPKIT_BENCH_PG_URL` names the server " +
    "(default postgres://postgres@127.0.0.1:5432/postgres; each item creates a database of its own and drops it).",
    "",
    "## Summary",
    "",
    summary,
    "",
    ...sections.flatMap((section) => [`## ${section.id}. ${section.title}`, "", ...section.details.flatMap((d) => [d, ""])]),
    notesMarker,
    "",
    options.notes
  ].join("\n")
}
