import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

/**
 * A sliding-window limiter: at most `rate` request starts in any window of `windowMillis` plus a margin of
 * `marginMillis`. Each caller reserves the earliest free start time and sleeps until then, so waiting callers
 * keep their order and a burst is spread out instead of rejected. Runs on Effect's Clock (TestClock drives it
 * in tests).
 *
 * The server counts a request when it sees it, which can be well after the client sent it: a new
 * connection's handshake, a stall on the way, a busy server. The margin absorbs small delays. Beyond it, once
 * a request has its answer ({@link Slot.answered}), the window counts how much longer than the fastest round
 * trip among the requests of the current window it took: a request that took 300 ms longer than the others
 * may have reached the server 300 ms late, and the request that comes `rate` starts after it waits
 * `windowMillis` + 300 ms instead of `windowMillis` + `marginMillis`.
 */
export interface RateLimiter {
  /** Waits for a start slot. */
  readonly take: Effect.Effect<Slot>
  readonly setRate: (perSecond: number) => Effect.Effect<void>
  readonly rate: Effect.Effect<number>
}

export interface Slot {
  /** Reports when the answer (the response headers) arrived. */
  readonly answered: Effect.Effect<void>
}

interface Start {
  /** When the request started (planned until it has, then actual). */
  at: number
  /** When its answer arrived, once it has. */
  answeredAt: number | undefined
}

const unlimited: Slot = { answered: Effect.void }

/**
 * How long to sleep to reach a time `millis` ahead: whole milliseconds, at least 1. A clock whose instants are
 * sums of fractional durations (the TestClock after a jittered backoff) can wake a sleep of `until - now` a
 * rounding error short of `until`; a sleep of that error then ends at once (the sum rounds back to now), so a loop
 * waiting for `until` would spin without time passing. JavaScript timers count whole milliseconds anyway.
 */
export const wholeMillis = (millis: number): number => Math.max(1, Math.ceil(millis))

export const makeRateLimiter = (
  initialRate: number,
  windowMillis: number,
  marginMillis: number
): Effect.Effect<RateLimiter> =>
  Effect.sync(() => {
    let rate = initialRate
    // The latest starts, oldest first: no more than the current rate needs.
    let starts: Array<Start> = []

    /** How much later than its start `start` may have reached the server, as far as the answers so far tell. */
    const delay = (start: Start): number => {
      if (start.answeredAt === undefined) return 0
      let fastest = Infinity
      for (const s of starts) {
        if (s.answeredAt !== undefined) fastest = Math.min(fastest, s.answeredAt - s.at)
      }
      return Math.max(0, start.answeredAt - start.at - fastest)
    }

    /** The earliest start that keeps `blocker` out of the server's window. */
    const after = (blocker: Start): number => blocker.at + windowMillis + Math.max(marginMillis, delay(blocker))

    const limitedTake: Effect.Effect<Slot> = Effect.gen(function*() {
      const count = Math.max(1, Math.floor(rate))
      const now = yield* Clock.currentTimeMillis
      const blocker = starts.length >= count ? starts[starts.length - count] : undefined
      const start: Start = { at: blocker === undefined ? now : Math.max(now, after(blocker)), answeredAt: undefined }
      starts.push(start)
      if (starts.length > count) starts = starts.slice(-count)
      // The blocker's answer may arrive while this request waits, and move its slot.
      for (;;) {
        const current = yield* Clock.currentTimeMillis
        const due = blocker === undefined ? start.at : Math.max(start.at, after(blocker))
        if (due <= current) {
          start.at = current
          break
        }
        yield* Effect.sleep(wholeMillis(due - current))
      }
      return {
        answered: Effect.map(Clock.currentTimeMillis, (at) => {
          start.answeredAt = at
        })
      }
    })

    // Off (an infinite rate), the limiter costs a request one step.
    const take = Effect.suspend(() => Number.isFinite(rate) ? limitedTake : Effect.succeed(unlimited))

    return {
      take,
      setRate: (perSecond) =>
        Effect.sync(() => {
          rate = perSecond
        }),
      rate: Effect.sync(() => rate)
    }
  })
