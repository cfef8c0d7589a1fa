import Table from "cli-table3"
import { stringify } from "csv-stringify/sync"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Resources from "../Resources.js"

/** The output formats of `vppkit list`. */
export const formats = ["ndjson", "json", "csv", "table"] as const

export type Format = typeof formats[number]

/**
 * The reader of the output went away (`EPIPE`: `vppkit list … | head`) or the output cannot be written
 * (a full disk, …). `code` is the system error code when there is one.
 */
export class OutputClosed extends Data.TaggedError("OutputClosed")<{
  readonly code: string | undefined
  readonly message: string
}> {}

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
  /** Completes the output (closes a JSON array, renders a table) and flushes it. */
  readonly end: Effect.Effect<void, OutputClosed>
}

export interface WriterOptions {
  /** Colour the table's header (on a terminal). */
  readonly color?: boolean
}

/**
 * A writer for a format. Nothing is written before the first page or {@link Writer.end}, so a run that fails
 * before any record leaves the output empty.
 *
 * - `ndjson`: one JSON object per line, written page by page.
 * - `json`: one JSON array, streamed (`[`, records separated by `,`, `]`); `[]` for no records.
 * - `csv`: a header row of the resource's fields, then a row per record (see {@link cell}).
 * - `table`: the resource's fields as columns; rows are held until the end, as the column widths depend on
 *   every row (a table is for a person on a terminal).
 */
export const make = (
  format: Format,
  fields: ReadonlyArray<Resources.Field>,
  sink: Sink,
  options: WriterOptions = {}
): Writer => {
  const names = fields.map((field) => field.name)
  switch (format) {
    case "ndjson":
      return {
        records: (records) => sink.write(records.map((record) => JSON.stringify(record) + "\n").join("")),
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
            records.length === 0 ? Effect.void : sink.write(open() + records.map((record) => JSON.stringify(record)).join(",\n"))
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
    case "table": {
      const rows: Array<Array<string>> = []
      return {
        records: (records) => Effect.sync(() => void rows.push(...records.map((record) => row(fields, record)))),
        end: Effect.suspend(() => {
          const table = new Table({
            head: names,
            style: { head: options.color === true ? ["bold"] : [], border: [] },
            // No rule between rows: one line per record.
            chars: { "mid": "", "left-mid": "", "mid-mid": "", "right-mid": "" }
          })
          table.push(...rows)
          rows.length = 0
          return Effect.zipRight(sink.write(table.toString() + "\n"), sink.flush)
        })
      }
    }
  }
}
