import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Simulator from "@vppkit/simulator/Simulator"
import type * as Traversal from "../../src/Traversal.js"

/** Runs an effect that sleeps (backoff, latency, Retry-After) under TestClock, advancing time until it ends. */
export const runWithTime = <A, E, R>(effect: Effect.Effect<A, E, R>, step: number = 1000): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 100_000; i++) {
      if (Option.isSome(yield* Fiber.poll(fiber))) break
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })

/** Runs a traversal, keeping its pages, its records in delivery order and its outcome. */
export const collect = <A, E, R>(
  traversal: Traversal.Traversal<A, E, R>,
  onPage: (page: Traversal.Page<A>) => Effect.Effect<void> = () => Effect.void
) =>
  Effect.gen(function*() {
    const pages: Array<Traversal.Page<A>> = []
    const records: Array<A> = []
    const outcome = yield* traversal.run((page) =>
      Effect.zipRight(Effect.sync(() => {
        pages.push(page)
        records.push(...page.records)
      }), onPage(page))
    )
    return { outcome, pages, records }
  })


/** JSON with sorted keys: compares decoded records with the simulator's objects whatever their key order. */
export const canonical = (value: unknown): string => Simulator.canonicalJson(value)

/** The retryable faults a property test draws from. */
export const retryableFaults: ReadonlyArray<Simulator.Fault> = [
  { _tag: "Unavailable", retryAfter: { seconds: 2 } },
  { _tag: "InternalError" },
  { _tag: "RateLimited" },
  { _tag: "RateLimited", retryAfter: { seconds: 1, format: "http-date" } },
  { _tag: "BadGateway" },
  { _tag: "GatewayTimeout" },
  { _tag: "ConnectionReset" },
  { _tag: "MalformedJson" }
]

/** Faults after which the same request is sent again. */
const retried: ReadonlySet<string> = new Set([...retryableFaults.map((f) => f._tag), "RateLimit", "TokenlessResponse"])

/**
 * Every request that met a retryable fault is sent again with the same parameters: in a sequential
 * traversal the very next request; otherwise some later one that succeeded.
 */
export const faultsRetriedWithSameParams = (
  log: ReadonlyArray<Simulator.LogEntry>,
  sequential: boolean
): boolean =>
  log.every((entry, i) => {
    if (entry.fault === undefined || !retried.has(entry.fault)) return true
    const same = (other: Simulator.LogEntry) => canonical(other.params) === canonical(entry.params)
    return sequential ? log[i + 1] !== undefined && same(log[i + 1]!) : log.slice(i + 1).some((o) => o.fault === undefined && same(o))
  })

/**
 * Sends one raw request to the simulator: a v2 GET with the simulator's Bearer token, or a legacy POST
 * with `body` as its JSON. Answers the status and the parsed body.
 */
export const send = (
  sim: Simulator.Service,
  request:
    | { readonly method: "GET"; readonly path: string; readonly params?: Record<string, string> }
    | { readonly method: "POST"; readonly path: string; readonly body: Record<string, unknown> }
) =>
  Effect.map(
    sim.handle({
      method: request.method,
      path: `/mdm${request.path}`,
      query: new URLSearchParams(request.method === "GET" ? request.params : {}),
      headers: request.method === "GET"
        ? { authorization: `Bearer ${Redacted.value(sim.token.value)}` }
        : { "content-type": "application/json" },
      body: request.method === "POST" ? JSON.stringify(request.body) : ""
    }),
    (response) => ({ status: response.status, body: JSON.parse(response.body) as Record<string, any> })
  )
