import type * as Traversal from "@vppkit/core/Traversal"
import * as VppClient from "@vppkit/core/VppClient"
import { SingleBar } from "cli-progress"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * Progress of one traversal on stderr: a bar with pages/total, records, rate, retries and ETA, sized to the
 * terminal's width (see {@link formatLine}), drawn only when stderr is a terminal and the run is not quiet. `finish` prints the one-line summary (unless quiet),
 * terminal or not.
 */
export interface Progress {
  /** Counts a delivered page. */
  readonly page: (page: Traversal.Page<unknown>) => Effect.Effect<void>
  /** Stops and clears the bar (before output meant for the same terminal, such as a table). */
  readonly stop: Effect.Effect<void>
  /** Stops the bar and prints `summary` on stderr (unless quiet). */
  readonly finish: (summary: string) => Effect.Effect<void>
}

export interface ProgressOptions {
  readonly label: string
  readonly quiet: boolean
  /** Defaults to whether stderr is a terminal. */
  readonly interactive?: boolean
}

/** The bar being drawn on stderr, if any: {@link printLine} writes above it. */
let drawn: SingleBar | undefined

/**
 * Writes a line on stderr (a retry, a request of `--verbose`, a log). A bar being drawn there is cleared first
 * and drawn again below the line, which wraps as usual (the bar turns wrapping off while it is drawn). The bar
 * goes back to the cursor position saved when it started when it stops (to clear itself): that position moves
 * down with it (ESC 7 saves it again).
 */
export const printLine = (line: string): void => {
  if (drawn === undefined) {
    process.stderr.write(`${line}\n`)
    return
  }
  process.stderr.write(`\r\u001b[2K\u001b[?7h${line}\n\u001b7\u001b[?7l`)
  drawn.render()
}

/** A progress display for one traversal; the bar is stopped when the scope closes, whatever happened. */
export const make = (options: ProgressOptions): Effect.Effect<Progress, never, Scope.Scope | VppClient.VppClient> =>
  Effect.gen(function*() {
    const client = yield* VppClient.VppClient
    const started = Date.now()
    const interactive = !options.quiet && (options.interactive ?? process.stderr.isTTY === true)
    let records = 0
    let pages = 0
    const bar = interactive
      ? new SingleBar({
        stream: process.stderr,
        format: (_options, params, payload: Payload) =>
          formatLine({ label: options.label, pages: params.value, total: params.total, eta: params.eta, ...payload }, params.maxWidth),
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
        fps: 5,
        // Drawn again even when unchanged: printLine may have cleared it.
        forceRedraw: true
      })
      : undefined
    let barStarted = false
    const stopBar = () => {
      if (drawn === bar) drawn = undefined
      bar?.stop()
    }
    yield* Effect.addFinalizer(() => Effect.sync(stopBar))
    const page = (page: Traversal.Page<unknown>) =>
      Effect.gen(function*() {
        pages++
        records += page.records.length
        if (bar === undefined) return
        const stats = yield* client.stats
        const seconds = Math.max(0.001, (Date.now() - started) / 1000)
        const payload = { records, rate: Math.round(records / seconds), retries: stats.retries }
        const total = Math.max(page.total ?? pages, pages)
        if (!barStarted) {
          bar.start(total, pages, payload)
          barStarted = true
          drawn = bar
        } else {
          bar.setTotal(total)
          bar.update(pages, payload)
        }
      })
    const stop = Effect.sync(stopBar)
    const finish = (summary: string) => Effect.zipRight(stop, options.quiet ? Effect.void : Console.error(summary))
    return { page, stop, finish }
  })

interface Payload {
  readonly records: number
  readonly rate: number
  readonly retries: number
}

/** What one progress line shows. */
export interface Line extends Payload {
  readonly label: string
  readonly pages: number
  readonly total: number
  /** Seconds left (cli-progress's estimate: `"NULL"` or `"INF"` while it has none). */
  readonly eta: unknown
}

/** Seconds as `45s`, `3m04s`, `1h02m`; `?` without an estimate. */
export const duration = (seconds: unknown): string => {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "?"
  const pad = (n: number) => String(n).padStart(2, "0")
  const whole = Math.round(seconds)
  if (whole >= 3600) return `${Math.floor(whole / 3600)}h${pad(Math.floor((whole % 3600) / 60))}m`
  if (whole >= 60) return `${Math.floor(whole / 60)}m${pad(whole % 60)}s`
  return `${whole}s`
}

/** The narrowest bar worth drawing. */
const minimumBar = 10

/**
 * One progress line that fits a terminal `width` columns wide (one column is left free, so the cursor never
 * wraps): the label, a bar as wide as the rest of the line leaves, then pages/total, records, rate, retries (when
 * there were any) and ETA, numbers grouped by thousands as in the summaries. When the bar would be narrower than
 * {@link minimumBar}, fields make room for it: the rate first, then the ETA, the retries and the records; when
 * even pages/total leave no room, the line has no bar and is cut to the width.
 */
export const formatLine = (line: Line, width: number): string => {
  const room = Math.max(1, width - 1)
  const pages = `${count(line.pages)}/${count(line.total)} pages`
  const records = `${count(line.records)} records`
  const rate = `${count(line.rate)} rec/s`
  const retries = line.retries > 0 ? `${count(line.retries)} ${line.retries === 1 ? "retry" : "retries"}` : undefined
  const eta = `ETA ${duration(line.eta)}`
  let shown = [pages, records, rate, retries, eta].filter((field) => field !== undefined)
  for (const dropped of [rate, eta, retries, records, undefined]) {
    const text = shown.join(" | ")
    const barWidth = room - line.label.length - text.length - 4 // the spaces around the bar, and its brackets
    if (barWidth >= minimumBar) {
      const done = line.total > 0 ? Math.round(Math.min(1, Math.max(0, line.pages / line.total)) * barWidth) : barWidth
      return `${line.label} [${"=".repeat(done)}${"-".repeat(barWidth - done)}] ${text}`
    }
    shown = shown.filter((field) => field !== dropped)
  }
  return `${line.label} ${shown.join(" | ")}`.slice(0, room)
}

/**
 * `1234567` → `1,234,567`. Whole numbers are grouped by hand: the first `toLocaleString` of a process loads ICU's
 * number formatting (about 10 ms), a noticeable share of a short incremental sync.
 */
export const count = (n: number): string => {
  if (!Number.isSafeInteger(n)) return n.toLocaleString("en-US")
  const digits = String(Math.abs(n))
  let grouped = digits.slice(0, digits.length % 3 || 3)
  for (let i = grouped.length; i < digits.length; i += 3) grouped += `,${digits.slice(i, i + 3)}`
  return n < 0 ? `-${grouped}` : grouped
}

/** Elapsed milliseconds as `12.3 s`. */
export const seconds = (millis: number): string => `${(millis / 1000).toFixed(1)} s`
