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
})
