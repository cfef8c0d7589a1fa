import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"

/** Longer than a JavaScript timer can wait: never (as Effect's own clock treats it). */
const maxTimerMillis = 2 ** 31 - 1

const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/**
 * A timeout for an HTTP exchange that starts no fiber (in production) and races nothing.
 *
 * `Effect.timeoutFail` races the exchange against a sleep in two forked fibers, which costs the client more
 * CPU per request than everything else it does around the exchange (issue 17; see BENCHMARKS.md). Here the
 * exchange runs in the calling fiber under a scope of its own, provided as `Scope`: an `HttpClient` made
 * `HttpClient.withScope` aborts the request's `AbortSignal` when that scope closes. When the time is up the
 * scope is closed — the request is aborted, whatever stage it is at (connecting, waiting, reading the body) —
 * and the failure the exchange ends with is replaced by `onTimeout()`. The scope is closed when the exchange
 * fails or is interrupted too, so an exchange given up on is always aborted.
 *
 * The timer is a `setTimeout` under the live clock, and under any other (the TestClock in tests) a daemon fiber
 * sleeping on that clock, so tests drive it as before. An `HttpClient` must honour the request's signal for the
 * timeout to end its exchange: the platform's clients (undici, `node:http`, `fetch`) all do.
 */
export const abortAfter = <A, E, R, E2>(
  exchange: Effect.Effect<A, E, R | Scope.Scope>,
  timeout: Duration.Duration,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, Exclude<R, Scope.Scope>> =>
  Effect.flatMap(Scope.make(), (scope) =>
    Effect.clockWith((clock) => {
      const millis = Duration.toMillis(timeout)
      let timedOut = false
      const abort = () => {
        timedOut = true
        return Scope.close(scope, Exit.void)
      }
      const provided = Effect.provideService(exchange, Scope.Scope, scope).pipe(
        Effect.mapError((error) => timedOut ? onTimeout() : error)
      ) as Effect.Effect<A, E | E2, Exclude<R, Scope.Scope>>
      // A request that succeeded has been read to its end: aborting it then would only cost an `AbortError`
      // (a DOMException, with its stack) per request. Any other ending aborts it.
      const close = (exit: Exit.Exit<unknown, unknown>) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit)
      if (millis > maxTimerMillis) return Effect.onExit(provided, close)
      if (clock === liveClock) {
        const timer = setTimeout(() => Effect.runFork(abort()), millis)
        return Effect.onExit(provided, (exit) => {
          clearTimeout(timer)
          return close(exit)
        })
      }
      return Effect.flatMap(
        Effect.forkDaemon(Effect.zipRight(clock.sleep(timeout), Effect.suspend(abort))),
        (timer) => Effect.onExit(provided, (exit) => Effect.zipRight(Fiber.interruptFork(timer), close(exit)))
      )
    }))
