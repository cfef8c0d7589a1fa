import { stringify } from "csv-stringify/sync"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Resources from "../Resources.js"
import { CommandError } from "../ExitCode.js"

/** The output formats of `vppkit list`: `wide` is a table of every column, nothing cut. */
export const formats = ["ndjson", "json", "csv", "table", "wide"] as const

export type Format = typeof formats[number]

/**
 * The reader of the output went away (`EPIPE`: `vppkit list … | head`) or the output cannot be written
 * (a full disk, …). `code` is the system error code when there is one.
 */
export class OutputClosed extends Data.TaggedError("OutputClosed")<{
  readonly code: string | undefined
  readonly message: string
}> {}

/**
 * Ends a command's output as its reader wants: a reader that went away (`EPIPE`, a destroyed stream:
 * `vppkit list … | head`) ends it quietly and successfully; any other failure to write (a full disk, …) is a
 * {@link CommandError}: output lost is never a success.
 */
export const endWhenReaderCloses = <A, E, R>(
  effect: Effect.Effect<A, E | OutputClosed, R>
): Effect.Effect<A | void, Exclude<E, OutputClosed> | CommandError, R> =>
  Effect.catchIf(
    effect,
    (error): error is OutputClosed => error instanceof OutputClosed,
    (error) =>
      error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED"
        ? Effect.void
        : Effect.fail(new CommandError({ message: `cannot write the output: ${error.message}` }))
  ) as Effect.Effect<A | void, Exclude<E, OutputClosed> | CommandError, R>

/** Where formatted output goes: text chunks, written in order, with backpressure. */
export interface Sink {
  /** Writes a chunk; waits while the destination's buffer is full. */
  readonly write: (chunk: string) => Effect.Effect<void, OutputClosed>
  /** Waits until everything written so far has been handed to the operating system. */
  readonly flush: Effect.Effect<void, OutputClosed>
}

const closedError = (error: unknown): OutputClosed => {
  const code = typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : undefined
  const message = error instanceof Error ? error.message : String(error)
  return new OutputClosed({ code, message })
}

/**
 * A sink over a Node writable stream (default `process.stdout`). It listens for the stream's `error` event for
 * the rest of the process: without a listener an `EPIPE` (the reader closed the pipe) would be thrown as an
 * uncaught exception with a stack trace; with it, the next write fails with {@link OutputClosed}.
 */
export const streamSink = (stream: NodeJS.WritableStream & { readonly writableLength?: number } = process.stdout): Sink => {
  let failure: OutputClosed | undefined
  stream.on("error", (error) => {
    failure ??= closedError(error)
  })
  // Resumes once the stream drained, errored or closed (whichever comes first); listeners are removed either way.
  const waitFor = (event: "drain" | "flushed", start?: (done: (error?: unknown) => void) => void) =>
    Effect.async<void, OutputClosed>((resume) => {
      const done = (error?: unknown) => {
        cleanup()
        if (error !== undefined && error !== null) failure ??= closedError(error)
        resume(failure === undefined ? Effect.void : Effect.fail(failure))
      }
      const onDrain = () => done()
      const onError = (error: unknown) => done(error)
      const onClose = () => done(failure ?? new OutputClosed({ code: "EPIPE", message: "the output was closed" }))
      const cleanup = () => {
        stream.removeListener("drain", onDrain)
        stream.removeListener("error", onError)
        stream.removeListener("close", onClose)
      }
      if (event === "drain") stream.once("drain", onDrain)
      stream.once("error", onError)
      stream.once("close", onClose)
      start?.(done)
      return Effect.sync(cleanup)
    })
  const write = (chunk: string): Effect.Effect<void, OutputClosed> =>
    Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(failure)
      if (chunk.length === 0) return Effect.void
      let ready: boolean
      try {
        ready = stream.write(chunk)
      } catch (error) {
        failure ??= closedError(error)
        return Effect.fail(failure)
      }
      return ready ? Effect.void : waitFor("drain")
    })
  const flush: Effect.Effect<void, OutputClosed> = Effect.suspend(() => {
    if (failure !== undefined) return Effect.fail(failure)
    if ((stream.writableLength ?? 0) === 0) return Effect.void
    // The callback of an empty write runs once every earlier chunk has been written.
    return waitFor("flushed", (done) => stream.write("", (error) => done(error)))
  })
  return { write, flush }
}

/** A sink that collects the output in memory (for tests). */
export const memorySink = (): Sink & { readonly text: () => string } => {
  const chunks: Array<string> = []
  return {
    write: (chunk) => Effect.sync(() => void chunks.push(chunk)),
    flush: Effect.void,
    text: () => chunks.join("")
  }
}

/**
 * A field's value as the text of a CSV or table cell: nothing for a missing value, `true`/`false` for a
 * boolean, JSON text for a `json` field (arrays, objects) or any other non-scalar.
 */
export const cell = (field: Resources.Field, value: unknown): string => {
  if (value === undefined || value === null) return ""
  if (field.type === "json") return JSON.stringify(value)
  switch (typeof value) {
    case "string":
      return value
    case "boolean":
      return value ? "true" : "false"
    case "number":
    case "bigint":
      return String(value)
    default:
      return JSON.stringify(value)
  }
}

/** The cells of a record, one per field, in field order. */
export const row = (fields: ReadonlyArray<Resources.Field>, record: Resources.JsonRecord): Array<string> =>
  fields.map((field) => cell(field, record[field.name]))

/** Formats records into a sink as they arrive, page by page. */
export interface Writer {
  readonly records: (records: ReadonlyArray<Resources.JsonRecord>) => Effect.Effect<void, OutputClosed>
  /** Completes the output (closes a JSON array, writes a table's header when no row came) and flushes it. */
  readonly end: Effect.Effect<void, OutputClosed>
}

export interface WriterOptions {
  /** Colour the table's header (on a terminal). */
  readonly color?: boolean
  /** The width a `table` fits into, in terminal columns (default 80). */
  readonly width?: number
  /**
   * `table`: the columns never cut to fit `width` (identifiers, such as a location's `uId`: cut, they identify
   * nothing); the others give way first.
   */
  readonly whole?: ReadonlyArray<string>
  /**
   * `ndjson` and `json`: each record reduced to the given fields, in their order (`--fields`). Otherwise the
   * records are written as Apple sent them.
   */
  readonly project?: boolean
}

/** Rows a table hands to the sink at once: a page is written in a few short steps, never in one long one. */
const rowsPerChunk = 250

/**
 * A writer for a format. Nothing is written before the first page or {@link Writer.end}, so a run that fails
 * before any record leaves the output empty.
 *
 * - `ndjson`: one JSON object per line, written page by page.
 * - `json`: one JSON array, streamed (`[`, records separated by `,`, `]`); `[]` for no records.
 * - `csv`: a header row of the fields, then a row per record (see {@link cell}).
 * - `table`: the fields as columns, streamed: the column widths are fixed from the first page (see
 *   {@link columnWidths}) to fit `width`, and longer values are cut with an ellipsis.
 * - `wide`: the same, with the widths of the first page as they are and nothing cut (a later, longer value
 *   pushes the rest of its row to the right).
 */
export const make = (
  format: Format,
  fields: ReadonlyArray<Resources.Field>,
  sink: Sink,
  options: WriterOptions = {}
): Writer => {
  const names = fields.map((field) => field.name)
  const json = (record: Resources.JsonRecord): string =>
    JSON.stringify(options.project === true ? pick(fields, record) : record)
  switch (format) {
    case "ndjson":
      return {
        records: (records) => sink.write(records.map((record) => json(record) + "\n").join("")),
        end: sink.flush
      }
    case "json": {
      let opened = false
      const open = () => {
        const prefix = opened ? ",\n" : "[\n"
        opened = true
        return prefix
      }
      return {
        records: (records) =>
          Effect.suspend(() =>
            records.length === 0 ? Effect.void : sink.write(open() + records.map(json).join(",\n"))
          ),
        end: Effect.suspend(() => Effect.zipRight(sink.write(opened ? "\n]\n" : "[]\n"), sink.flush))
      }
    }
    case "csv": {
      let header = false
      const headerRow = () => {
        if (header) return ""
        header = true
        return stringify([names])
      }
      return {
        records: (records) =>
          Effect.suspend(() => sink.write(headerRow() + stringify(records.map((record) => row(fields, record))))),
        end: Effect.suspend(() => Effect.zipRight(sink.write(headerRow()), sink.flush))
      }
    }
    case "table":
    case "wide": {
      const wide = format === "wide"
      let layout: TableLayout | undefined
      const start = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
        layout = tableLayout(names, rows, wide ? undefined : options.width ?? 80, options.whole)
        return layout.line(names, options.color === true) + "\n"
      }
      return {
        records: (records) =>
          Effect.suspend(() => {
            if (records.length === 0) return Effect.void
            const rows = records.map((record) => row(fields, record).map(printable))
            const header = layout === undefined ? start(rows) : ""
            const chunks: Array<string> = []
            for (let i = 0; i < rows.length; i += rowsPerChunk) {
              const lines = rows.slice(i, i + rowsPerChunk).map((cells) => layout!.line(cells, false) + "\n").join("")
              chunks.push(i === 0 ? header + lines : lines)
            }
            return Effect.forEach(chunks, sink.write, { discard: true })
          }),
        end: Effect.suspend(() => Effect.zipRight(layout === undefined ? sink.write(start([])) : Effect.void, sink.flush))
      }
    }
  }
}

/** A record reduced to `fields`, in their order; a field the record does not have stays out. */
const pick = (fields: ReadonlyArray<Resources.Field>, record: Resources.JsonRecord): Resources.JsonRecord => {
  const picked: Record<string, unknown> = {}
  for (const field of fields) {
    if (record[field.name] !== undefined) picked[field.name] = record[field.name]
  }
  return picked
}

/** Two spaces between columns, as `kubectl` and `gh` print tables. */
const columnGap = "  "

const printableAscii = /^[\x20-\x7e]*$/
// eslint-disable-next-line no-control-regex
const controls = /[\u0000-\u001f\u007f-\u009f]/g

/**
 * A cell as a table shows it: on one line, and without control characters (a newline would break the row, an
 * escape sequence in the data would reach the terminal); each becomes a space.
 */
export const printable = (text: string): string => printableAscii.test(text) ? text : text.replace(controls, " ")

const isWide = (code: number): boolean =>
  (code >= 0x1100 && code <= 0x115f) || (code >= 0x2e80 && code <= 0xa4cf && code !== 0x303f) ||
  (code >= 0xac00 && code <= 0xd7a3) || (code >= 0xf900 && code <= 0xfaff) || (code >= 0xfe30 && code <= 0xfe4f) ||
  (code >= 0xff00 && code <= 0xff60) || (code >= 0xffe0 && code <= 0xffe6) || (code >= 0x1f300 && code <= 0x1f64f) ||
  (code >= 0x1f900 && code <= 0x1f9ff) || (code >= 0x20000 && code <= 0x3fffd)

const combining = /^\p{M}$/u

const charWidth = (char: string): number => {
  const code = char.codePointAt(0)!
  if (code < 0x300) return 1
  if (combining.test(char)) return 0
  return isWide(code) ? 2 : 1
}

/** The columns a (printable) text takes on a terminal: 2 for East Asian wide characters, 0 for combining marks. */
export const displayWidth = (text: string): number => {
  if (printableAscii.test(text)) return text.length
  let width = 0
  for (const char of text) width += charWidth(char)
  return width
}

/** `text` cut to at most `width` columns, its end replaced by `…` when it was longer. */
export const truncate = (text: string, width: number): string => {
  if (displayWidth(text) <= width) return text
  if (width <= 0) return ""
  let kept = ""
  let used = 0
  for (const char of text) {
    const w = charWidth(char)
    if (used + w > width - 1) break
    kept += char
    used += w
  }
  return kept + "…"
}

/** The narrowest a column is cut to when the values of the first page do not fit. */
const minimumColumn = 3

/**
 * The width of each column: the widest of its header and its values in `rows` (the first page). When `limit`
 * (the terminal's width) is given and they do not fit, the widest columns are narrowed to a common cap until
 * they do: headers first (down to their column's widest value), then values (down to {@link minimumColumn}); the
 * columns named in `whole` keep their width. When even that does not fit, the lines are longer than `limit`.
 */
export const columnWidths = (
  names: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  limit: number | undefined,
  whole: ReadonlyArray<string> = []
): Array<number> => {
  const values = names.map((_, i) => rows.reduce((widest, cells) => Math.max(widest, displayWidth(cells[i]!)), 1))
  const natural = names.map((name, i) => Math.max(values[i]!, displayWidth(name)))
  if (limit === undefined) return natural
  const room = limit - columnGap.length * (names.length - 1)
  const total = (widths: ReadonlyArray<number>) => widths.reduce((sum, w) => sum + w, 0)
  if (total(natural) <= room) return natural
  const kept = (i: number, narrowest: number) => whole.includes(names[i]!) ? natural[i]! : narrowest
  const floors = [values.map((w, i) => kept(i, w)), natural.map((w, i) => kept(i, Math.min(w, minimumColumn)))]
  for (const floor of floors) {
    if (total(floor) > room) continue
    // The largest cap for which the capped widths (never below the floor) still fit.
    const capped = (cap: number) => natural.map((w, i) => Math.max(floor[i]!, Math.min(w, cap)))
    let low = 0
    let high = Math.max(...natural)
    while (low < high) {
      const middle = Math.ceil((low + high) / 2)
      if (total(capped(middle)) <= room) low = middle
      else high = middle - 1
    }
    return capped(low)
  }
  return floors[1]!
}

interface TableLayout {
  readonly widths: ReadonlyArray<number>
  /** A row: each cell padded (and, unless wide, cut) to its column; no spaces after the last. */
  readonly line: (cells: ReadonlyArray<string>, bold: boolean) => string
}

const tableLayout = (
  names: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  limit: number | undefined,
  whole: ReadonlyArray<string> | undefined
): TableLayout => {
  const widths = columnWidths(names, rows, limit, whole)
  const last = widths.length - 1
  const fit = (text: string, i: number) => {
    const width = widths[i]!
    const shown = limit === undefined ? text : truncate(text, width)
    return i === last ? shown : shown + " ".repeat(Math.max(0, width - displayWidth(shown)))
  }
  return {
    widths,
    line: (cells, bold) => {
      const text = cells.map(fit).join(columnGap).trimEnd()
      return bold ? `\u001b[1m${text}\u001b[22m` : text
    }
  }
}
