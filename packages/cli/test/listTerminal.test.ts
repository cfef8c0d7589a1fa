import { assert, describe, it } from "@effect/vitest"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import { serve } from "./helpers/cli.js"
import { lines, startOnTerminal, waitForScreen } from "./support/pseudoTerminal.js"

/**
 * `vppkit list` as a person runs it: on a terminal (a pseudo-terminal of 80 columns), where the default format
 * is a table. The table streams (rows appear while pages are still being read), fits the terminal, and Ctrl-C
 * ends the listing at once.
 */

// Pages that take a while (100 ms each, 15 requests a second): the listing lasts seconds, page after page.
const slow = (assignments: number): Simulator.Settings => ({
  seed: 11,
  pageSize: 200,
  latency: "100 millis",
  records: { assets: 5, users: 10, assignments }
})

/** The header and at least one row of the default assignments table. */
const firstRow = /adamId +pricingParam +clientUserId +serialNumber[^\r\n]*\r?\n[^\r\n]*\d/

describe.concurrent("vppkit list on a terminal", () => {
  it.scopedLive("the table streams: rows appear before the last page is read, and every line fits 80 columns", () =>
    Effect.gen(function*() {
      const served = yield* serve(slow(6000))
      const pages = 6000 / 200
      const terminal = yield* startOnTerminal(["list", "assignments", ...served.connect])
      yield* waitForScreen(terminal, firstRow)
      const requested = (yield* served.simulator.log).filter((entry) => entry.path === "/v2/assignments").length
      assert.isBelow(requested, pages, "the first rows were shown before every page was requested")
      const exit = yield* terminal.exit
      assert.strictEqual(exit.code, 0, exit.screen)
      const shown = lines(exit.screen)
      for (const line of shown) assert.isAtMost(line.length, 80, `wider than the terminal: ${JSON.stringify(line)}`)
      assert.deepStrictEqual(shown[0]!.split(/\s+/), ["adamId", "pricingParam", "clientUserId", "serialNumber"])
      assert.match(shown.at(-1)!, /^listed 6,000 assignments records \(30 pages/)
      const rows = shown.slice(1, -1)
      assert.strictEqual(rows.length, 6000, "one line per record, nothing else (no progress bar in between)")
      for (const row of rows) assert.match(row, /^\d{9} +(STDQ|PLUS) /)
    }), 60_000)

  it.scopedLive("Ctrl-C during a table listing ends it within a second, with exit code 130", () =>
    Effect.gen(function*() {
      const served = yield* serve(slow(20_000))
      const terminal = yield* startOnTerminal(["list", "assignments", ...served.connect])
      yield* waitForScreen(terminal, firstRow)
      const typed = Date.now()
      yield* terminal.type("\u0003")
      const exit = yield* terminal.exit
      const millis = Date.now() - typed
      assert.strictEqual(exit.code, 130, exit.screen.slice(-500))
      assert.isBelow(millis, 1000, "exited within a second of Ctrl-C")
      assert.isBelow(lines(exit.screen).length, 20_000, "it stopped before the end")
    }), 60_000)

  it.scopedLive("SIGTERM during a table listing ends it within a second", () =>
    Effect.gen(function*() {
      const served = yield* serve(slow(20_000))
      const terminal = yield* startOnTerminal(["list", "assignments", ...served.connect])
      yield* waitForScreen(terminal, firstRow)
      const pid = yield* terminal.pid
      const sent = Date.now()
      process.kill(pid, "SIGTERM")
      const exit = yield* terminal.exit
      assert.isBelow(Date.now() - sent, 1000, "exited within a second of SIGTERM")
      assert.strictEqual(exit.code, 130, exit.screen.slice(-500))
    }), 60_000)
})
