import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as RetryPolicy from "../src/RetryPolicy.js"
import * as VppError from "../src/VppError.js"

const now = Date.parse("2030-11-08T22:33:22Z")

describe("RetryPolicy.parseRetryAfter", () => {
  it("reads whole seconds as milliseconds", () => {
    assert.strictEqual(RetryPolicy.parseRetryAfter("120", now), 120_000)
    assert.strictEqual(RetryPolicy.parseRetryAfter("0", now), 0)
    assert.strictEqual(RetryPolicy.parseRetryAfter(" 7 ", now), 7_000)
  })

  it.prop("reads any whole number of seconds", { seconds: FastCheck.integer({ min: 0, max: 10_000_000 }) }, ({ seconds }) => {
    assert.strictEqual(RetryPolicy.parseRetryAfter(String(seconds), now), seconds * 1000)
  })

  it("reads an HTTP-date relative to now", () => {
    assert.strictEqual(RetryPolicy.parseRetryAfter(new Date(now + 90_000).toUTCString(), now), 90_000)
    assert.strictEqual(RetryPolicy.parseRetryAfter("Fri, 08 Nov 2030 22:35:22 GMT", now), 120_000)
    // The obsolete forms RFC 9110 still asks recipients to accept.
    assert.strictEqual(RetryPolicy.parseRetryAfter("Friday, 08-Nov-30 22:35:22 GMT", now), 120_000)
    assert.strictEqual(RetryPolicy.parseRetryAfter("Fri Nov  8 22:35:22 2030", now) !== undefined, true)
  })

  it("reads a date in the past as no wait", () => {
    assert.strictEqual(RetryPolicy.parseRetryAfter("Fri, 31 Dec 1999 23:59:59 GMT", now), 0)
    assert.strictEqual(RetryPolicy.parseRetryAfter(new Date(now - 1000).toUTCString(), now), 0)
  })

  it("ignores a missing or unreadable header", () => {
    assert.strictEqual(RetryPolicy.parseRetryAfter(undefined, now), undefined)
    for (const garbage of ["", "soon", "120s", "later please", "-5", "1.5", "2.5", "0x10", "1e3", " 12 34 "]) {
      assert.strictEqual(RetryPolicy.parseRetryAfter(garbage, now), undefined, JSON.stringify(garbage))
    }
  })
})

describe("RetryPolicy.backoff / schedule", () => {
  it.effect("doubles from the base delay with jitter, capped at maxDelay, for maxRetries delays", () =>
    Effect.gen(function*() {
      const options = { maxRetries: 6, baseDelay: Duration.millis(100), maxDelay: Duration.millis(1000) }
      const delays = yield* Schedule.run(Schedule.delays(RetryPolicy.backoff(options)), 0, Array.from({ length: 20 }, (_, i) => i))
      // Schedule.run also collects the output of the final step, the one that ends the schedule.
      const millis = Chunk.toReadonlyArray(delays).map(Duration.toMillis).slice(0, -1)
      assert.strictEqual(millis.length, 6)
      millis.forEach((delay, n) => {
        const nominal = 100 * 2 ** n
        assert.isAtLeast(delay, Math.min(nominal * 0.8, 1000) - 1, `delay ${n}`)
        assert.isAtMost(delay, Math.min(nominal * 1.2, 1000) + 1, `delay ${n}`)
      })
    }))

  it.effect("retries a retryable failure maxRetries times, a non-retryable one never", () =>
    Effect.gen(function*() {
      const run = (error: VppError.VppError) =>
        Effect.gen(function*() {
          let attempts = 0
          const fiber = yield* Effect.suspend(() => {
            attempts++
            return Effect.fail(error)
          }).pipe(Effect.retry(RetryPolicy.schedule({ maxRetries: 3, baseDelay: "10 millis" })), Effect.flip, Effect.fork)
          yield* TestClock.adjust("1 minute")
          const failure = yield* fiber.await
          assert.strictEqual(failure._tag, "Success")
          return attempts
        })
      assert.strictEqual(yield* run(new VppError.UnavailableError({ endpoint: "/v2/assets", status: 503 })), 4)
      assert.strictEqual(yield* run(new VppError.TimeoutError({ endpoint: "/v2/assets", timeoutMillis: 1 })), 4)
      assert.strictEqual(yield* run(new VppError.DecodeError({ endpoint: "/v2/assets", kind: "json", path: "$", reason: "x" })), 4)
      assert.strictEqual(yield* run(new VppError.BadRequestError({ endpoint: "/v2/assets", status: 400, errorNumber: 9602 })), 1)
      assert.strictEqual(yield* run(new VppError.AuthError({ endpoint: "/v2/assets", status: 401, reason: "expired" })), 1)
      assert.strictEqual(
        yield* run(new VppError.DecodeError({ endpoint: "/v2/assets", kind: "schema", path: "$.a", reason: "x" })),
        1
      )
    }))

  it.effect("stops retrying once the time budget is spent", () =>
    Effect.gen(function*() {
      let attempts = 0
      const fiber = yield* Effect.suspend(() => {
        attempts++
        return Effect.fail(new VppError.UnavailableError({ endpoint: "/v2/users", status: 503 }))
      }).pipe(
        Effect.retry(RetryPolicy.schedule({ maxRetries: 100, baseDelay: "1 second", maxDelay: "1 second", budget: "10 seconds" })),
        Effect.flip,
        Effect.fork
      )
      yield* TestClock.adjust("10 minutes")
      yield* fiber.await
      // About one attempt per second for 10 s, far from the 101 attempts maxRetries would allow.
      assert.isAtLeast(attempts, 8)
      assert.isAtMost(attempts, 15)
    }))
})
