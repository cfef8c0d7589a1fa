/**
 * The retry policy: which failures are retried and how long vppkit waits between attempts.
 *
 * Retries are exponential with jitter, bounded in attempts and in total time. Only retryable failures are
 * retried (see {@link VppError.isRetryable}); everything else fails at once. A server's `Retry-After` is
 * honoured by the client's shared pause, which every request of the same sToken waits for, so a retry never
 * starts before the server said it may. A pause that outlasts what is left of a request's `budget` is not waited
 * for: the request fails at once with the error whose `retryAt` says when to try again.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import * as VppError from "./VppError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Retries after the first attempt (default 8). */
  readonly maxRetries?: number
  /** The first delay; each next one doubles (default 250 ms). */
  readonly baseDelay?: Duration.DurationInput
  /** No single delay is longer (default 30 s). */
  readonly maxDelay?: Duration.DurationInput
  /** No retry starts once this much time has passed since the first attempt (default 5 minutes). */
  readonly budget?: Duration.DurationInput
  /**
   * Which failures are retried (default {@link VppError.isRetryable}). A runtime narrows it where it knows better,
   * e.g. a refused connection to a loopback host (see `@vppkit/node/NodeVppClient`).
   */
  readonly retryable?: (error: VppError.VppError) => boolean
}

/**
 * @since 0.1.0
 * @category defaults
 */
export const defaults: Required<Options> = {
  maxRetries: 8,
  baseDelay: Duration.millis(250),
  maxDelay: Duration.seconds(30),
  budget: Duration.minutes(5),
  retryable: VppError.isRetryable
}

/**
 * The delays between attempts, for any input.
 *
 * @since 0.1.0
 * @category schedules
 */
export const backoff = (options: Options = {}): Schedule.Schedule<unknown> => {
  const settings = { ...defaults, ...options }
  const maxDelay = Duration.decode(settings.maxDelay)
  return Schedule.exponential(settings.baseDelay, 2).pipe(
    Schedule.jittered,
    Schedule.modifyDelay((_, delay) => Duration.min(delay, maxDelay)),
    Schedule.intersect(Schedule.recurs(settings.maxRetries)),
    Schedule.upTo(settings.budget)
  )
}

/**
 * The backoff, continuing only while the failure is retryable (`retryable`, default {@link VppError.isRetryable}).
 *
 * @since 0.1.0
 * @category schedules
 */
export const schedule = (options: Options = {}): Schedule.Schedule<unknown, VppError.VppError> =>
  backoff(options).pipe(Schedule.whileInput(options.retryable ?? VppError.isRetryable))

/**
 * Reads a `Retry-After` header — whole seconds or an HTTP-date — as milliseconds from `now`.
 * A date in the past means no wait; anything unreadable is ignored.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseRetryAfter = (header: string | undefined, now: number): number | undefined => {
  if (header === undefined) return undefined
  const text = header.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  // Every HTTP-date names its month; without this, Date.parse reads "-5" or "1.5" as dates in 2001.
  if (!/[A-Za-z]{3}/.test(text)) return undefined
  const date = Date.parse(text)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}
