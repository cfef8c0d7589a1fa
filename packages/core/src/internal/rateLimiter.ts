import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"

/**
 * A sliding-window limiter: at most `rate` request starts in any window of `windowMillis`. Each caller
 * reserves the earliest free start time and sleeps until then, so waiting callers keep their order and
 * a burst is spread out instead of rejected. Runs on Effect's Clock (TestClock drives it in tests).
 */
export interface RateLimiter {
  readonly take: Effect.Effect<void>
  readonly setRate: (perSecond: number) => Effect.Effect<void>
  readonly rate: Effect.Effect<number>
}

export const makeRateLimiter = (initialRate: number, windowMillis: number): Effect.Effect<RateLimiter> =>
  Effect.gen(function*() {
    const rate = yield* Ref.make(initialRate)
    const starts = yield* Ref.make<ReadonlyArray<number>>([])
    const take = Effect.gen(function*() {
      const limit = yield* Ref.get(rate)
      if (!Number.isFinite(limit)) return
      const now = yield* Clock.currentTimeMillis
      const slot = yield* Ref.modify(starts, (previous): [number, ReadonlyArray<number>] => {
        const count = Math.max(1, Math.floor(limit))
        const blocking = previous.length >= count ? previous[previous.length - count]! + windowMillis : now
        const start = Math.max(now, blocking)
        return [start, [...previous, start].slice(-count)]
      })
      if (slot > now) yield* Effect.sleep(slot - now)
    })
    return {
      take,
      setRate: (perSecond) => Ref.set(rate, perSecond),
      rate: Ref.get(rate)
    }
  })
