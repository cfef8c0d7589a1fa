import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { serve } from "./helpers/cli.js"
import { binPath, environment } from "./support/bin.js"

/** Single-quotes a word for sh. */
const shellQuote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`

/**
 * Runs the built bin on a pseudo-terminal `columns` wide (util-linux `script`), stdout and stderr both on it;
 * answers what the terminal received.
 */
const onTerminal = (columns: number, args: ReadonlyArray<string>) =>
  Effect.async<{ readonly code: number | null; readonly screen: string }>((resume) => {
    const command = `stty cols ${columns} rows 24; exec ${[process.execPath, binPath, ...args].map(shellQuote).join(" ")}`
    const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { env: environment(), stdio: ["ignore", "pipe", "pipe"] })
    const output: Array<string> = []
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => output.push(chunk))
    child.on("close", (code) => resume(Effect.succeed({ code, screen: output.join("") })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** What a terminal shows, line by line as it is drawn: split where the cursor goes back to column 1 or down. */
const drawnLines = (screen: string): Array<string> =>
  screen
    .split(/\r|\n|\x1b\[1G|\x1b\[\d*G/)
    .map((line) => line.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, ""))
    .filter((line) => line.length > 0)

const settings = { seed: 11, pageSize: 100, latency: 25, records: { assets: 5, users: 40, assignments: 3_000 } }

describe("progress on a terminal", () => {
  it.scopedLive("80 columns: no line wider than 80, a bar, numbers grouped by thousands", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const db = path.join(served.directory, "p80.sqlite")
      const { code, screen } = yield* onTerminal(80, ["sync", "--db", db, "--resources", "assignments", "--max-requests-per-second", "40", ...served.connect])
      assert.strictEqual(code, 0, screen)
      const lines = drawnLines(screen)
      const bars = lines.filter((line) => line.startsWith("assignments ["))
      assert.isAbove(bars.length, 1, screen)
      for (const line of lines) assert.isAtMost(line.length, 80, line)
      // Whole fields, never a line cut at the edge.
      for (const line of bars) assert.match(line, /(pages|records|rec\/s|retry|retries|ETA (\?|\d+[smh](\d+[sm])?))$/, line)
      assert.isTrue(bars.some((line) => /\] \d+\/30 pages \| \d,\d{3} records \|/.test(line)), bars.join("\n"))
      assert.include(screen, "assignments: full, 3,000 records, 30 pages, 0 retries, consistent")
    }))

  it.scopedLive("a wider terminal gets a wider bar, still within its width", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const db = path.join(served.directory, "p132.sqlite")
      const { code, screen } = yield* onTerminal(132, ["sync", "--db", db, "--resources", "assignments", "--max-requests-per-second", "40", ...served.connect])
      assert.strictEqual(code, 0, screen)
      const bars = drawnLines(screen).filter((line) => line.startsWith("assignments ["))
      assert.isAbove(bars.length, 1, screen)
      for (const line of bars) {
        assert.strictEqual(line.length, 131, line)
        assert.isAbove(/\[([=-]+)\]/.exec(line)![1]!.length, 40, line)
      }
    }))
})
