import { assert, describe, it } from "@effect/vitest"
import { heapGrowingFlag, heapGrowingPercent } from "../src/internal/heapGrowth.js"

describe("heapGrowingFlag", () => {
  it("sets V8's heap growing when Node was started without a setting of its own", () => {
    assert.strictEqual(heapGrowingFlag([], undefined), `--heap-growing-percent=${heapGrowingPercent}`)
    assert.strictEqual(heapGrowingFlag(["--enable-source-maps"], "--max-old-space-size=512"), `--heap-growing-percent=${heapGrowingPercent}`)
  })

  it("leaves a setting made in Node's arguments or NODE_OPTIONS alone", () => {
    assert.isUndefined(heapGrowingFlag(["--heap-growing-percent=200"], undefined))
    assert.isUndefined(heapGrowingFlag([], "--enable-source-maps --heap_growing_percent=10"))
  })
})
