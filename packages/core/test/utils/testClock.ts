import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"

/**
 * Runs `effect` while moving the TestClock straight to the next pending wake-up whenever every fiber is
 * asleep (TestClock keeps the wake-ups of interrupted sleeps, so tests run the client without a request
 * timeout: see `Simulator.layerTest`), so retries, latency and Retry-After waits elapse in virtual time at no real cost. Returns the result
 * and the virtual time it took.
 */
export const runWithTestClock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* TestClock.currentTimeMillis
    const fiber = yield* Effect.fork(effect)
    for (;;) {
      yield* Effect.yieldNow()
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) {
        const value = yield* done.value
        const end = yield* TestClock.currentTimeMillis
        return { value, elapsed: end - start }
      }
      const now = yield* TestClock.currentTimeMillis
      const pending = Chunk.toReadonlyArray(yield* TestClock.sleeps()).filter((at) => Number.isFinite(at) && at > now)
      // adjust (unlike setTime) lets the woken fibers run before it returns
      if (pending.length > 0) yield* TestClock.adjust(Math.min(...pending) - now)
    }
  })
