import { assert, describe, it } from "@effect/vitest"
import * as Progress from "../src/internal/progress.js"

describe("Progress", () => {
  it("count groups digits by thousands as en-US does", () => {
    assert.strictEqual(Progress.count(0), "0")
    assert.strictEqual(Progress.count(999), "999")
    assert.strictEqual(Progress.count(1000), "1,000")
    assert.strictEqual(Progress.count(1_234_567), "1,234,567")
    assert.strictEqual(Progress.count(-40_374), "-40,374")
    assert.strictEqual(Progress.count(2.5), "2.5")
    for (let digits = 1; digits <= 16; digits++) {
      for (const n of [10 ** (digits - 1), 10 ** digits - 1, Math.floor(10 ** (digits - 1) * 1.234567)]) {
        if (Number.isSafeInteger(n)) assert.strictEqual(Progress.count(n), n.toLocaleString("en-US"), String(n))
      }
    }
  })

  const line: Progress.Line = { label: "assignments", pages: 12, total: 41, records: 12_000, rate: 4_321, retries: 0, eta: 95 }

  it("formatLine: at 80 columns a bar fits with grouped numbers, and the line leaves the last column free", () => {
    const text = Progress.formatLine(line, 80)
    assert.strictEqual(text, "assignments [===-------] 12/41 pages | 12,000 records | 4,321 rec/s | ETA 1m35s")
    assert.strictEqual(text.length, 79)
  })

  it("formatLine: the bar takes the width the terminal has", () => {
    const wide = Progress.formatLine(line, 160)
    assert.strictEqual(wide.length, 159)
    assert.match(wide, /\[=+-+\]/)
    assert.strictEqual(/\[([=-]+)\]/.exec(wide)![1]!.length, 90)
  })

  it("formatLine: retries appear once there are some; narrower, fields make room for the bar, then the bar goes", () => {
    assert.include(Progress.formatLine({ ...line, retries: 3 }, 120), "| 3 retries |")
    assert.include(Progress.formatLine({ ...line, retries: 1 }, 120), "| 1 retry |")
    const narrow = Progress.formatLine({ ...line, retries: 1_234 }, 80)
    assert.match(narrow, /^assignments \[[=-]{10,}\] 12\/41 pages \| 12,000 records \| 1,234 retries$/)
    const tiny = Progress.formatLine(line, 30)
    assert.strictEqual(tiny, "assignments 12/41 pages")
    for (let width = 1; width <= 300; width++) {
      for (const label of ["assets", "subscription-assignments"]) {
        const text = Progress.formatLine({ ...line, label, records: 123_456_789, rate: 98_765, retries: 4_321, total: 123_456 }, width)
        assert.isAtMost(text.length, Math.max(1, width - 1), `${label} at ${width}: ${text}`)
      }
    }
  })

  it("duration: seconds, minutes, hours; ? without an estimate", () => {
    assert.deepStrictEqual(
      [0, 9.4, 59, 60, 184, 3599, 3600, 3725, "NULL", "INF", Infinity].map(Progress.duration),
      ["0s", "9s", "59s", "1m00s", "3m04s", "59m59s", "1h00m", "1h02m", "?", "?", "?"]
    )
  })
})
