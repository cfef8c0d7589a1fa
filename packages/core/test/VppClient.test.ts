import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { Asset } from "../src/Asset.js"
import * as SToken from "../src/SToken.js"
import * as VppClient from "../src/VppClient.js"
import * as VppError from "../src/VppError.js"
import * as ScriptedHttp from "./utils/scriptedHttp.js"

// A canary token: neither its Base64 text nor its inner secret may appear anywhere but on the wire.
const canarySecret = "CANARY-SECRET-1234"
const token = SToken.make({ secret: canarySecret, orgName: "Canary Org", expiresAt: new Date("2031-01-01T00:00:00Z") })
const rawToken = Redacted.value(token.value)

/** The TestClock's start: a whole second, so HTTP-dates (second precision) are exact. */
const T0 = Date.parse("2030-11-08T22:33:20Z")
const baseUrl = "https://vpp.test/mdm"

const Ok = Schema.Struct({ ok: Schema.Literal(true), n: Schema.optional(Schema.Number) })
const ok: ScriptedHttp.Reply = { body: { ok: true } }
const okGet = { _tag: "Get", path: "/v2/assets", params: { pageIndex: 0 } } as const

type ClientOptions = Partial<Omit<VppClient.Options, "token">>

const setup = (script: ScriptedHttp.Script, options: ClientOptions = {}) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(T0)
    const http = ScriptedHttp.make(script)
    const client = yield* VppClient.make({ token, baseUrl, maxRequestsPerSecond: Infinity, ...options }).pipe(
      Effect.provide(http.layer)
    )
    return { http, client }
  })

/** Runs `effect` in a fiber while the TestClock moves `advance` ahead; fails the test if it is still running. */
const settle = <A, E>(effect: Effect.Effect<A, E>, advance: Duration.DurationInput = "10 minutes") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(advance)
    const exit = yield* Fiber.poll(fiber)
    if (Option.isNone(exit)) {
      yield* Fiber.interrupt(fiber)
      return yield* Effect.dieMessage(`still running after ${Duration.format(advance)} of TestClock time`)
    }
    return yield* exit.value
  })

const elapsed = (request: ScriptedHttp.RecordedRequest) => request.startedAt - T0

// ---------------------------------------------------------------------------------------------------------
// The faults, shared by the retry tests and the leak tests.

interface Fault {
  readonly name: string
  readonly reply: ScriptedHttp.Reply
  readonly tag: VppError.VppError["_tag"]
  readonly options?: ClientOptions
  readonly check?: (error: VppError.VppError) => void
}

const appleError = ScriptedHttp.appleError

const retryableFaults: ReadonlyArray<Fault> = [
  {
    name: "429 + 9646 without Retry-After",
    reply: { status: 429, body: appleError(9646) },
    tag: "RateLimitedError",
    check: (e) => {
      assert.strictEqual(e._tag === "RateLimitedError" && e.retryAfterMillis, undefined)
    }
  },
  {
    name: "429 + 9646 with Retry-After",
    reply: { status: 429, body: appleError(9646), headers: { "retry-after": "3" } },
    tag: "RateLimitedError",
    check: (e) => assert.strictEqual(e._tag === "RateLimitedError" && e.retryAfterMillis, 3000)
  },
  {
    name: "503 + 9729 with Retry-After seconds",
    reply: { status: 503, body: appleError(9729), headers: { "retry-after": "120" } },
    tag: "UnavailableError",
    check: (e) => assert.strictEqual(e._tag === "UnavailableError" && e.retryAfterMillis, 120_000)
  },
  {
    name: "503 + 9729 with Retry-After HTTP-date",
    reply: { status: 503, body: appleError(9729), headers: { "retry-after": new Date(T0 + 30_000).toUTCString() } },
    tag: "UnavailableError",
    check: (e) => assert.strictEqual(e._tag === "UnavailableError" && e.retryAfterMillis, 30_000)
  },
  {
    name: "500 + 9603",
    reply: { status: 500, body: appleError(9603) },
    tag: "UnavailableError",
    check: (e) => assert.strictEqual(e._tag === "UnavailableError" && e.errorNumber, 9603)
  },
  { name: "502", reply: { status: 502, body: "<html>Bad Gateway</html>" }, tag: "UnavailableError" },
  { name: "504", reply: { status: 504 }, tag: "UnavailableError" },
  {
    name: "a malformed JSON body",
    reply: { status: 200, body: "{\"assets\": [{\"adamId\": \"1" },
    tag: "DecodeError",
    check: (e) => assert.strictEqual(e._tag === "DecodeError" && e.kind, "json")
  },
  { name: "a transport failure", reply: { fail: "Transport" }, tag: "TransportError" },
  {
    name: "a timeout",
    reply: { delay: "2 minutes", body: { ok: true } },
    tag: "TimeoutError",
    options: { requestTimeout: "5 seconds" },
    check: (e) => assert.strictEqual(e._tag === "TimeoutError" && e.timeoutMillis, 5000)
  }
]

const fatalFaults: ReadonlyArray<Fault> = [
  {
    name: "400 + 9602",
    reply: { status: 400, body: appleError(9602, "Invalid argument.") },
    tag: "BadRequestError",
    check: (e) => {
      assert.strictEqual(e._tag === "BadRequestError" && e.errorNumber, 9602)
      assert.strictEqual(e._tag === "BadRequestError" && e.errorMessage, "Invalid argument.")
    }
  },
  {
    name: "400 + 9721",
    reply: { status: 400, body: appleError(9721) },
    tag: "CheckpointUnusableError",
    check: (e) => assert.strictEqual(e._tag === "CheckpointUnusableError" && e.errorNumber, 9721)
  },
  {
    name: "401 + 9621",
    reply: { status: 401, body: appleError(9621) },
    tag: "AuthError",
    check: (e) => assert.strictEqual(e._tag === "AuthError" && e.reason, "expired")
  },
  {
    name: "401 + 9625",
    reply: { status: 401, body: appleError(9625) },
    tag: "AuthError",
    check: (e) => assert.strictEqual(e._tag === "AuthError" && e.reason, "revoked")
  },
  {
    name: "401 + 9722",
    reply: { status: 401, body: appleError(9722) },
    tag: "AuthError",
    check: (e) => assert.strictEqual(e._tag === "AuthError" && e.reason, "invalid")
  },
  {
    name: "HTTP 200 with errorNumber 9622 in the body",
    reply: { status: 200, body: { errorNumber: 9622, errorMessage: "Invalid authentication token" } },
    tag: "AuthError",
    check: (e) => {
      assert.strictEqual(e._tag === "AuthError" && e.reason, "invalid")
      assert.strictEqual(e._tag === "AuthError" && e.status, 200)
      assert.strictEqual(e._tag === "AuthError" && e.errorNumber, 9622)
    }
  },
  {
    name: "a body that does not match the schema",
    reply: { body: { assets: [{ pricingParam: "STDQ" }], ok: true } },
    tag: "DecodeError",
    check: (e) => {
      assert.strictEqual(e._tag === "DecodeError" && e.kind, "schema")
      assert.strictEqual(e._tag === "DecodeError" && e.path, "$.assets[0].adamId")
    }
  }
]

const AssetsBody = Schema.Struct({ assets: Schema.Array(Asset), ok: Schema.Literal(true) })

// ---------------------------------------------------------------------------------------------------------

describe("VppClient requests", () => {
  it.effect("sends a v2 GET with the bearer token, Accept JSON and the query parameters", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup([ok])
      const value = yield* client.get(
        "/v2/assets",
        { pageIndex: 2, revocable: false, adamId: undefined, serialNumbers: ["a", "b"] },
        Ok
      )
      assert.deepStrictEqual(value, { ok: true })
      const [request] = http.requests()
      assert.strictEqual(http.count(), 1)
      assert.strictEqual(request!.method, "GET")
      assert.strictEqual(request!.path, "/mdm/v2/assets")
      assert.strictEqual(request!.headers["authorization"], `Bearer ${rawToken}`)
      assert.strictEqual(request!.headers["accept"], "application/json")
      // Nothing else: in particular no trace context (traceparent, b3) of the caller's spans goes to Apple.
      assert.deepStrictEqual(Object.keys(request!.headers).sort(), ["accept", "authorization"])
      assert.strictEqual(request!.params.get("pageIndex"), "2")
      assert.strictEqual(request!.params.get("revocable"), "false")
      assert.isFalse(request!.params.has("adamId"))
      assert.deepStrictEqual(request!.params.getAll("serialNumbers"), ["a", "b"])
      assert.notInclude(request!.url, rawToken)
      assert.notInclude(request!.body, rawToken)
    }))

  it.effect("sends a legacy POST with the sToken in the JSON body only", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup([{ body: { status: 0, licenses: [], totalBatchCount: "3" } }])
      const Legacy = Schema.Struct({ status: Schema.Literal(0), licenses: Schema.Array(Schema.Unknown), totalBatchCount: Schema.String })
      const response = yield* client.execute(
        { _tag: "LegacyPost", path: "/getVPPLicensesSrv", body: { batchToken: "bt-1", assignedOnly: true } },
        Legacy
      )
      assert.deepStrictEqual(response, { value: { status: 0, licenses: [], totalBatchCount: "3" }, attempts: 1 })
      const [request] = http.requests()
      assert.strictEqual(request!.method, "POST")
      assert.strictEqual(request!.path, "/mdm/getVPPLicensesSrv")
      assert.deepStrictEqual(JSON.parse(request!.body), { batchToken: "bt-1", assignedOnly: true, sToken: rawToken })
      assert.notInclude(request!.url, rawToken)
      assert.isUndefined(request!.headers["authorization"])
      assert.notInclude(JSON.stringify(request!.headers), rawToken)
    }))

  it.effect("fails a legacy status -1 body on HTTP 200 as BadRequestError, without retrying", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup([{ body: { status: -1, errorNumber: 9602, errorMessage: "Invalid argument" } }])
      const error = yield* client.execute({ _tag: "LegacyPost", path: "/getVPPLicensesSrv", body: {} }, Schema.Unknown).pipe(
        Effect.flip
      )
      assert.strictEqual(error._tag, "BadRequestError")
      assert.strictEqual(error._tag === "BadRequestError" && error.errorNumber, 9602)
      assert.strictEqual(http.count(), 1)
    }))
})

describe("VppClient retries", () => {
  for (const fault of retryableFaults) {
    it.effect(`retries ${fault.name} and then succeeds`, () =>
      Effect.gen(function*() {
        const { client, http } = yield* setup([fault.reply, ok], fault.options)
        const response = yield* settle(client.execute(okGet, Ok))
        assert.deepStrictEqual(response.value, { ok: true })
        assert.strictEqual(response.attempts, 2)
        assert.strictEqual(http.count(), 2)
        assert.strictEqual((yield* client.stats).retries, 1)
        assert.strictEqual((yield* client.stats).requests, 2)
      }))
  }

  for (const fault of fatalFaults) {
    it.effect(`fails at once on ${fault.name}`, () =>
      Effect.gen(function*() {
        const { client, http } = yield* setup([fault.reply, ok, ok], fault.options)
        const error = yield* settle(Effect.flip(client.execute(okGet, AssetsBody)))
        assert.strictEqual(error._tag, fault.tag)
        assert.isFalse(VppError.isRetryable(error))
        fault.check?.(error)
        assert.strictEqual(http.count(), 1)
        assert.strictEqual((yield* client.stats).retries, 0)
      }))
  }

  it.effect("classifies each retryable fault as the expected error", () =>
    Effect.gen(function*() {
      for (const fault of retryableFaults) {
        const { client, http } = yield* setup([fault.reply], { ...fault.options, retry: { maxRetries: 0 } })
        const error = yield* settle(Effect.flip(client.execute(okGet, Ok)))
        assert.strictEqual(error._tag, fault.tag, fault.name)
        assert.isTrue(VppError.isRetryable(error), fault.name)
        fault.check?.(error)
        assert.strictEqual(http.count(), 1, fault.name)
      }
    }))

  it.effect("a timeout aborts its exchange: nothing stays in flight, and the retry starts at the timeout", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup([{ delay: "2 minutes", body: { ok: true } }, { delay: "2 minutes", body: { ok: true } }], {
        requestTimeout: "5 seconds",
        retry: { maxRetries: 1, baseDelay: "1 second", maxDelay: "1 second" }
      })
      const error = yield* settle(Effect.flip(client.execute(okGet, Ok)), "1 minute")
      assert.strictEqual(error._tag, "TimeoutError")
      assert.strictEqual(http.inFlight(), 0)
      const [first, second] = http.requests().map((request) => request.startedAt - T0)
      assert.strictEqual(first, 0)
      assert.isTrue(second! > 5_000 && second! <= 6_000, `the retry started at ${second} ms`)
    }))

  it.live("a timeout under the live clock aborts its exchange too", () =>
    Effect.gen(function*() {
      const http = ScriptedHttp.make([{ delay: "1 minute", body: { ok: true } }])
      const client = yield* VppClient.make({
        token,
        baseUrl,
        maxRequestsPerSecond: Infinity,
        requestTimeout: "50 millis",
        retry: { maxRetries: 0 }
      }).pipe(Effect.provide(http.layer))
      const error = yield* Effect.flip(client.execute(okGet, Ok))
      assert.strictEqual(error._tag === "TimeoutError" && error.timeoutMillis, 50)
      assert.strictEqual(http.inFlight(), 0)
    }))

  it.effect("gives up on a permanent 503 after maxRetries + 1 attempts", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup(() => ({ status: 503, body: appleError(9729) }), {
        retry: { maxRetries: 3, baseDelay: "10 millis", maxDelay: "100 millis" }
      })
      const error = yield* settle(Effect.flip(client.execute(okGet, Ok)))
      assert.strictEqual(error._tag, "UnavailableError")
      assert.strictEqual(http.count(), 4)
      const stats = yield* client.stats
      assert.deepStrictEqual(stats, { requests: 4, retries: 3, rateLimited: 0 })
    }))

  it.effect("decodes a legacy success body", () =>
    Effect.gen(function*() {
      const { client } = yield* setup([{ body: { status: 0, batchToken: "next", totalBatchCount: "2", licenses: [{ licenseId: "1" }] } }])
      const Legacy = Schema.Struct({
        status: Schema.Literal(0),
        batchToken: Schema.String,
        totalBatchCount: Schema.NumberFromString,
        licenses: Schema.Array(Schema.Struct({ licenseId: Schema.String }))
      })
      const response = yield* client.execute({ _tag: "LegacyPost", path: "/getVPPLicensesSrv", body: {} }, Legacy)
      assert.deepStrictEqual(response.value, { status: 0, batchToken: "next", totalBatchCount: 2, licenses: [{ licenseId: "1" }] })
    }))
})

describe("VppClient Retry-After and rate-limit pauses", () => {
  it.effect("does not retry before Retry-After: 120 has passed", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup([{ status: 429, body: appleError(9646), headers: { "retry-after": "120" } }, ok])
      const fiber = yield* Effect.fork(client.execute(okGet, Ok))
      yield* TestClock.adjust("119 seconds")
      assert.strictEqual(http.count(), 1)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(http.count(), 2)
      assert.isAtLeast(elapsed(http.requests()[1]!), 120_000)
      assert.strictEqual((yield* Fiber.join(fiber)).attempts, 2)
      assert.strictEqual((yield* client.stats).rateLimited, 1)
    }))

  it.effect("does not retry before a Retry-After HTTP-date 90 s ahead", () =>
    Effect.gen(function*() {
      const retryAt = new Date(T0 + 90_000).toUTCString()
      const { client, http } = yield* setup([{ status: 503, body: appleError(9729), headers: { "retry-after": retryAt } }, ok])
      const fiber = yield* Effect.fork(client.execute(okGet, Ok))
      yield* TestClock.adjust("89 seconds")
      assert.strictEqual(http.count(), 1)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(http.count(), 2)
      assert.isAtLeast(elapsed(http.requests()[1]!), 90_000)
      assert.strictEqual((yield* Fiber.join(fiber)).attempts, 2)
    }))

  it.effect("a Retry-After beyond the retry budget fails at once with the time to retry after", () =>
    Effect.gen(function*() {
      // a 503 asking for a day, with the default budget of 5 minutes: waiting would hold the client for a day
      const { client, http } = yield* setup([{ status: 503, body: appleError(9729), headers: { "retry-after": "86400" } }, ok])
      const error = yield* settle(Effect.flip(client.execute(okGet, Ok)), "1 second")
      assert.strictEqual(error._tag, "UnavailableError")
      assert.strictEqual(http.count(), 1)
      assert.deepStrictEqual(error._tag === "UnavailableError" && error.retryAt, new Date(T0 + 86_400_000))
      assert.include(error.message, new Date(T0 + 86_400_000).toISOString())
      // every request of the client is held by that pause: a later one fails at once too, without a request
      const later = yield* settle(Effect.flip(client.execute({ _tag: "Get", path: "/v2/users" }, Ok)), "1 second")
      assert.strictEqual(later._tag, "UnavailableError")
      assert.deepStrictEqual(later._tag === "UnavailableError" && later.retryAt, new Date(T0 + 86_400_000))
      assert.strictEqual(http.count(), 1)
    }))

  it.effect("a Retry-After within what is left of the budget is still honoured", () =>
    Effect.gen(function*() {
      // 4 minutes of a 5-minute budget: waited for
      const { client, http } = yield* setup([{ status: 429, body: appleError(9646), headers: { "retry-after": "240" } }, ok])
      const response = yield* settle(client.execute(okGet, Ok), "5 minutes")
      assert.strictEqual(response.attempts, 2)
      assert.isAtLeast(elapsed(http.requests()[1]!), 240_000)
    }))

  it.effect("a second Retry-After that no longer fits in what is left of the budget fails at once", () =>
    Effect.gen(function*() {
      // 3 minutes (waited for), then 3 more: past the 5-minute budget, so no third request
      const { client, http } = yield* setup([
        { status: 429, body: appleError(9646), headers: { "retry-after": "180" } },
        { status: 429, body: appleError(9646), headers: { "retry-after": "180" } },
        ok
      ])
      const error = yield* settle(Effect.flip(client.execute(okGet, Ok)), "4 minutes")
      assert.strictEqual(error._tag, "RateLimitedError")
      assert.strictEqual(http.count(), 2)
      const secondAt = T0 + elapsed(http.requests()[1]!)
      assert.deepStrictEqual(error._tag === "RateLimitedError" && error.retryAt, new Date(secondAt + 180_000))
    }))

  it.effect("pauses for rateLimitPause after a 429 without Retry-After", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup([{ status: 429, body: appleError(9646) }, ok], { rateLimitPause: "5 seconds" })
      const fiber = yield* Effect.fork(client.execute(okGet, Ok))
      yield* TestClock.adjust("4999 millis")
      assert.strictEqual(http.count(), 1)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* Fiber.join(fiber)).attempts, 2)
      assert.isAtLeast(elapsed(http.requests()[1]!), 5000)
    }))

  const pauseScript = (rateLimitedAfter: Duration.DurationInput = 0): ScriptedHttp.Script => {
    let rateLimited = false
    return (request) => {
      if (request.path.endsWith("/a") && !rateLimited) {
        rateLimited = true
        return { status: 429, body: appleError(9646), headers: { "retry-after": "10" }, delay: rateLimitedAfter }
      }
      return ok
    }
  }

  it.effect("a 429 with Retry-After pauses every request of the client, not only the one that saw it", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup(pauseScript())
      const a = yield* Effect.fork(client.execute({ _tag: "Get", path: "/v2/a" }, Ok))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(http.count(), 1)
      const b = yield* Effect.fork(client.execute({ _tag: "Get", path: "/v2/b" }, Ok))
      yield* TestClock.adjust("8 seconds")
      assert.strictEqual(http.count(), 1, "b went out during the pause")
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* Fiber.join(a)).attempts, 2)
      assert.strictEqual((yield* Fiber.join(b)).attempts, 1)
      for (const request of http.requests().slice(1)) assert.isAtLeast(elapsed(request), 10_000, request.path)
    }))

  it.effect("a pause ending at a fraction of a millisecond is waited out, not spun on when the clock wakes a rounding error short of it", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup(pauseScript(), { retry: { maxRetries: 0 } })
      // A 429 at 517.26 ms pauses the client for 10 s, until 10517.26; a request at 517.46 sleeps 10517.26 - 517.46,
      // and the TestClock wakes it at 517.46 + (10517.26 - 517.46) = 10517.259999999998, a rounding error short.
      yield* TestClock.setTime(517.26)
      assert.strictEqual((yield* Effect.flip(client.execute({ _tag: "Get", path: "/v2/a" }, Ok)))._tag, "RateLimitedError")
      yield* TestClock.adjust(Duration.millis(0.2))
      const now = yield* TestClock.currentTimeMillis
      const until = 517.26 + 10_000
      assert.isBelow(now + (until - now), until, "the premise: a sleep until the end wakes short of it")
      const clock = yield* Effect.clock
      let clockReads = 0
      const counting: Clock.Clock = {
        [Clock.ClockTypeId]: Clock.ClockTypeId,
        unsafeCurrentTimeMillis: () => clock.unsafeCurrentTimeMillis(),
        currentTimeMillis: Effect.suspend(() => {
          clockReads++
          return clock.currentTimeMillis
        }),
        unsafeCurrentTimeNanos: () => clock.unsafeCurrentTimeNanos(),
        currentTimeNanos: clock.currentTimeNanos,
        sleep: (duration) => clock.sleep(duration)
      }
      const b = yield* Effect.fork(Effect.withClock(client.execute({ _tag: "Get", path: "/v2/b" }, Ok), counting))
      // a step at a time: the fiber may reach its sleep only after a step has begun
      for (let step = 0; step < 12 && Option.isNone(yield* Fiber.poll(b)); step++) yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(b)).attempts, 1)
      assert.isAtLeast(http.requests()[1]!.startedAt, until)
      assert.isAtMost(clockReads, 20, "the pause was spun on")
    }))

  it.effect("the pause also holds a request that was waiting for a concurrency permit", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup(pauseScript("1 second"), { concurrency: 1 })
      const a = yield* Effect.fork(client.execute({ _tag: "Get", path: "/v2/a" }, Ok))
      const b = yield* Effect.fork(client.execute({ _tag: "Get", path: "/v2/b" }, Ok))
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(http.count(), 1, "b went out during the pause")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* Fiber.join(a)).attempts, 2)
      assert.strictEqual((yield* Fiber.join(b)).attempts, 1)
      // a's 429 arrived at 1 s with Retry-After 10.
      for (const request of http.requests().slice(1)) assert.isAtLeast(elapsed(request), 11_000, request.path)
    }))

  it.effect("the pause also holds a request that was waiting for the rate limiter", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup(pauseScript("500 millis"), { maxRequestsPerSecond: 1 })
      const a = yield* Effect.fork(client.execute({ _tag: "Get", path: "/v2/a" }, Ok))
      yield* TestClock.adjust("1 millis")
      const b = yield* Effect.fork(client.execute({ _tag: "Get", path: "/v2/b" }, Ok))
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(http.count(), 1, "b went out during the pause")
      yield* TestClock.adjust("20 seconds")
      assert.strictEqual((yield* Fiber.join(a)).attempts, 2)
      assert.strictEqual((yield* Fiber.join(b)).attempts, 1)
      const later = http.requests().slice(1).map(elapsed).sort((x, y) => x - y)
      assert.isAtLeast(later[0]!, 10_500)
      // ... and the limiter still spaces the two requests after the pause.
      assert.isAtLeast(later[1]! - later[0]!, 1000)
    }))
})

describe("VppClient concurrency", () => {
  for (const [requested, expected] of [[5, 5], [10, 5], [2, 2]] as const) {
    it.effect(`never has more than ${expected} requests in flight with concurrency ${requested}`, () =>
      Effect.gen(function*() {
        const { client, http } = yield* setup(() => ({ body: { ok: true }, delay: "100 millis" }), { concurrency: requested })
        assert.strictEqual(client.concurrency, expected)
        const results = yield* settle(
          Effect.all(Array.from({ length: 20 }, (_, n) => client.get("/v2/assets", { pageIndex: n }, Ok)), {
            concurrency: "unbounded"
          }),
          "10 seconds"
        )
        assert.strictEqual(results.length, 20)
        assert.isTrue(results.every((r) => r.ok))
        assert.strictEqual(http.count(), 20)
        assert.strictEqual(http.maxInFlight(), expected)
        assert.strictEqual(http.inFlight(), 0)
        const pages = http.requests().map((r) => Number(r.params.get("pageIndex"))).sort((x, y) => x - y)
        assert.deepStrictEqual(pages, Array.from({ length: 20 }, (_, n) => n))
      }))
  }
})

/** The largest number of request starts within any window of `windowMillis` (half-open). */
const maxStartsPerWindow = (starts: ReadonlyArray<number>, windowMillis: number): number => {
  const sorted = [...starts].sort((x, y) => x - y)
  let max = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMillis) j++
    max = Math.max(max, i - j + 1)
  }
  return max
}

describe("VppClient rate limiter", () => {
  it.effect("spreads 45 requests at 15 per second over at least two windows", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup(() => ok, { maxRequestsPerSecond: 15 })
      const results = yield* settle(
        Effect.all(Array.from({ length: 45 }, () => client.get("/v2/users", {}, Ok)), { concurrency: "unbounded" }),
        "30 seconds"
      )
      assert.strictEqual(results.length, 45)
      const starts = http.requests().map(elapsed)
      assert.strictEqual(starts.length, 45)
      assert.isAtMost(maxStartsPerWindow(starts, 1000), 15)
      const last = Math.max(...starts)
      assert.isAtLeast(last, 2000)
      // Not slower than needed either: three bursts, about a window apart.
      assert.isAtMost(last, 2 * 1100)
    }))

  it.effect("a request that reaches the server late counts from when the server saw it", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      // The first five requests each open a connection and reach the server 300 ms after they left; every
      // request is answered 20 ms after it arrived.
      const http = ScriptedHttp.make(() => ({ body: { ok: true }, delay: "20 millis" }))
      let sent = 0
      const handshakes = HttpClient.make((request) =>
        Effect.zipRight(Effect.sleep(sent++ < 5 ? "300 millis" : "0 millis"), http.client.execute(request))
      )
      const client = yield* VppClient.make({ token, baseUrl, maxRequestsPerSecond: 15 }).pipe(
        Effect.provideService(HttpClient.HttpClient, handshakes)
      )
      yield* settle(
        Effect.all(Array.from({ length: 45 }, () => client.get("/v2/users", {}, Ok)), { concurrency: "unbounded" }),
        "30 seconds"
      )
      // The server's view: arrival times.
      const arrivals = http.requests().map(elapsed)
      assert.strictEqual(arrivals.length, 45)
      assert.isAtMost(maxStartsPerWindow(arrivals, 1000), 15)
      // ... and only the late requests' windows moved: three windows, the first 300 ms late.
      assert.isAtMost(Math.max(...arrivals), 300 + 2 * 1050 + 100)
    }))

  it.effect("adopts the maxRequestPerSecond of Service Config", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup((request) =>
        request.path.endsWith("/service/config")
          ? { body: { limits: { maxRequestPerSecond: 3 }, urls: {} } }
          : ok
      )
      const config = yield* client.syncServiceConfig
      assert.strictEqual(config.limits["maxRequestPerSecond"], 3)
      yield* settle(
        Effect.all(Array.from({ length: 9 }, () => client.get("/v2/users", {}, Ok)), { concurrency: "unbounded" }),
        "30 seconds"
      )
      const starts = http.requests().slice(1).map(elapsed)
      assert.isAtMost(maxStartsPerWindow(starts, 1000), 3)
      assert.isAtLeast(Math.max(...starts), 2000)
    }))
})

// ---------------------------------------------------------------------------------------------------------

const renderUnknown = (u: unknown): string => {
  if (typeof u === "string") return u
  try {
    return `${String(u)} ${JSON.stringify(u)}`
  } catch {
    return String(u)
  }
}

const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ annotations, cause, logLevel, message }) => {
    const parts = Array.isArray(message) ? message.map(renderUnknown) : [renderUnknown(message)]
    lines.push([
      logLevel.label,
      ...parts,
      Cause.isEmpty(cause) ? "" : Cause.pretty(cause),
      renderUnknown(HashMap.toEntries(annotations))
    ].join(" "))
  })
  return { lines, layer: Layer.merge(Logger.add(logger), Logger.minimumLogLevel(LogLevel.All)) }
}

const captureSpans = Effect.map(Effect.tracer, (native) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span(name, parent, context, links, startTime, kind, options) {
      const span = native.span(name, parent, context, links, startTime, kind, options)
      spans.push(span)
      return span
    },
    context: (f, fiber) => native.context(f, fiber)
  })
  const render = () =>
    spans.map((span) => {
      const events = (span as { readonly events?: ReadonlyArray<unknown> }).events ?? []
      return `${span.name} ${renderUnknown([...span.attributes.entries()])} ${renderUnknown(events)}`
    })
  return { spans, tracer, render }
})

const assertNoToken = (text: string, what: string) => {
  assert.notInclude(text, rawToken, `the raw sToken leaked into ${what}`)
  assert.notInclude(text, canarySecret, `the canary secret leaked into ${what}`)
}

const assertErrorClean = (error: VppError.VppError, what: string) => {
  assertNoToken(String(error), `String(error) of ${what}`)
  assertNoToken(error.message, `error.message of ${what}`)
  assertNoToken(JSON.stringify(error), `JSON.stringify(error) of ${what}`)
  assertNoToken(Cause.pretty(Cause.fail(error)), `Cause.pretty of ${what}`)
}

describe("VppClient request and retry events", () => {
  const withoutError = ({ error, ...event }: VppClient.RequestEvent) => ({ ...event, error: error?._tag })

  it.effect("onRequest: one event per attempt with method, path, query, status, time and attempt number", () =>
    Effect.gen(function*() {
      const events: Array<VppClient.RequestEvent> = []
      const { client } = yield* setup([
        { status: 503, body: appleError(9729), delay: "40 millis" },
        { body: { ok: true }, delay: "25 millis" }
      ], { onRequest: (event) => Effect.sync(() => events.push(event)), retry: { baseDelay: "1 second" } })
      yield* settle(client.execute({ _tag: "Get", path: "/v2/assets", params: { pageIndex: 2, productType: ["App", "Book"] } }, Ok))
      const query = "pageIndex=2&productType=App&productType=Book"
      assert.deepStrictEqual(events.map(withoutError), [
        { method: "GET", path: "/v2/assets", query, status: 503, millis: 40, attempt: 1, error: "UnavailableError" },
        { method: "GET", path: "/v2/assets", query, status: 200, millis: 25, attempt: 2, error: undefined }
      ])
    }))

  it.effect("onRequest: no status when no response came (transport failure, timeout)", () =>
    Effect.gen(function*() {
      const events: Array<VppClient.RequestEvent> = []
      const { client } = yield* setup([
        { fail: "Transport", code: "ECONNRESET" },
        { delay: "2 minutes", body: { ok: true } },
        ok
      ], { onRequest: (event) => Effect.sync(() => events.push(event)), requestTimeout: "30 seconds" })
      yield* settle(client.execute(okGet, Ok))
      assert.deepStrictEqual(events.map((event) => [event.status, event.error?._tag, event.attempt]), [
        [undefined, "TransportError", 1],
        [undefined, "TimeoutError", 2],
        [200, undefined, 3]
      ])
      assert.strictEqual(events[1]!.millis, 30_000)
    }))

  it.effect("onRequest: a legacy POST is reported without its body", () =>
    Effect.gen(function*() {
      const events: Array<VppClient.RequestEvent> = []
      const { client } = yield* setup([{ body: { status: 0 } }], { onRequest: (event) => Effect.sync(() => events.push(event)) })
      yield* client.execute({ _tag: "LegacyPost", path: "/getVPPLicensesSrv", body: { batchToken: "BATCH-TOKEN-42" } }, Schema.Unknown)
      assert.deepStrictEqual(events.map(withoutError), [
        { method: "POST", path: "/getVPPLicensesSrv", query: "", status: 200, millis: 0, attempt: 1, error: undefined }
      ])
      const text = JSON.stringify(events)
      assert.notInclude(text, "BATCH-TOKEN-42")
      assertNoToken(text, "a request event")
    }))

  it.effect("onRetry: before each retry, with the wait it is about to make, the retry number and the maximum", () =>
    Effect.gen(function*() {
      const retries: Array<VppClient.RetryEvent> = []
      const { client, http } = yield* setup([
        { status: 503, body: appleError(9729) },
        { status: 503, body: appleError(9729), headers: { "retry-after": "120" } },
        ok
      ], {
        onRetry: (event) => Effect.sync(() => retries.push(event)),
        retry: { maxRetries: 5, baseDelay: "1 second", maxDelay: "1 second" }
      })
      yield* settle(client.execute(okGet, Ok))
      assert.deepStrictEqual(retries.map((event) => [event.path, event.retry, event.maxRetries, event.error._tag]), [
        ["/v2/assets", 1, 5, "UnavailableError"],
        ["/v2/assets", 2, 5, "UnavailableError"]
      ])
      const [first, second, third] = http.requests()
      assert.isAtLeast(retries[0]!.delayMillis, 500)
      assert.isAtMost(retries[0]!.delayMillis, 1000)
      // The wait announced is the wait made; a Retry-After longer than the backoff is announced as such.
      assert.closeTo(second!.startedAt - first!.startedAt, retries[0]!.delayMillis, 1)
      assert.strictEqual(retries[1]!.delayMillis, 120_000)
      assert.strictEqual(third!.startedAt - second!.startedAt, 120_000)
    }))

  it.effect("onRetry: not called for a failure that is not retried, nor for the last one", () =>
    Effect.gen(function*() {
      const retries: Array<VppClient.RetryEvent> = []
      const onRetry = (event: VppClient.RetryEvent) => Effect.sync(() => retries.push(event))
      const fatal = yield* setup([{ status: 400, body: appleError(9602) }], { onRetry })
      yield* settle(Effect.flip(fatal.client.execute(okGet, Ok)))
      assert.strictEqual(retries.length, 0)
      const exhausted = yield* setup(() => ({ status: 503 }), { onRetry, retry: { maxRetries: 2, baseDelay: "1 millis" } })
      yield* settle(Effect.flip(exhausted.client.execute(okGet, Ok)))
      assert.deepStrictEqual(retries.map((event) => event.retry), [1, 2])
    }))

  it.effect("a transport failure carries the system error code of its cause", () =>
    Effect.gen(function*() {
      const { client } = yield* setup([{ fail: "Transport", code: "ECONNREFUSED" }], { retry: { maxRetries: 0 } })
      const error = yield* settle(Effect.flip(client.execute(okGet, Ok)))
      assert.strictEqual(error._tag === "TransportError" && error.code, "ECONNREFUSED")
      assert.include(error.message, "ECONNREFUSED")
    }))

  it.effect("errors keep their cause: the system error of a transport failure, the SyntaxError or ParseError of a body", () =>
    Effect.gen(function*() {
      const refused = yield* setup([{ fail: "Transport", code: "ECONNREFUSED" }], { retry: { maxRetries: 0 } })
      const transport = yield* settle(Effect.flip(refused.client.execute(okGet, Ok)))
      assert.isTrue(VppError.isVppError(transport))
      assert.instanceOf(transport.cause, Error)
      assert.strictEqual((transport.cause as { readonly code?: unknown }).code, "ECONNREFUSED")
      // The platform's error is not kept: it holds the request, and the request holds the sToken.
      assert.isFalse(HttpClientError.isHttpClientError(transport.cause))
      assert.notProperty(transport.cause, "request")

      const truncated = yield* setup([{ body: "{\"ok\": tr" }], { retry: { maxRetries: 0 } })
      const json = yield* settle(Effect.flip(truncated.client.execute(okGet, Ok)))
      assert.strictEqual(json._tag === "DecodeError" && json.kind, "json")
      assert.instanceOf(json.cause, SyntaxError)

      const shapeless = yield* setup([{ body: { ok: "yes" } }], { retry: { maxRetries: 0 } })
      const schema = yield* settle(Effect.flip(shapeless.client.execute(okGet, Ok)))
      assert.strictEqual(schema._tag === "DecodeError" && schema.kind, "schema")
      assert.isTrue(ParseResult.isParseError(schema.cause))
      assert.strictEqual(schema._tag === "DecodeError" && schema.path, "$.ok")

      // An error Apple answered with has no cause of its own.
      const refusal = yield* setup([{ status: 400, body: appleError(9602) }])
      const bad = yield* settle(Effect.flip(refusal.client.execute(okGet, Ok)))
      assert.strictEqual(bad._tag, "BadRequestError")
      assert.isUndefined(bad.cause)
    }))

  it.effect("retry.retryable narrows what is retried", () =>
    Effect.gen(function*() {
      const refused = (error: VppError.VppError) => error._tag === "TransportError" && error.code === "ECONNREFUSED"
      const retryable = (error: VppError.VppError) => !refused(error) && VppError.isRetryable(error)
      const narrowed = yield* setup([{ fail: "Transport", code: "ECONNREFUSED" }, ok], { retry: { retryable } })
      const error = yield* settle(Effect.flip(narrowed.client.execute(okGet, Ok)))
      assert.isTrue(refused(error))
      assert.strictEqual(narrowed.http.count(), 1)
      assert.strictEqual((yield* narrowed.client.stats).retries, 0)
      // Other failures are still retried; without the option, a refusal is too.
      const other = yield* setup([{ fail: "Transport", code: "ECONNRESET" }, ok], { retry: { retryable } })
      assert.strictEqual((yield* settle(other.client.execute(okGet, Ok))).attempts, 2)
      const plain = yield* setup([{ fail: "Transport", code: "ECONNREFUSED" }, ok])
      assert.strictEqual((yield* settle(plain.client.execute(okGet, Ok))).attempts, 2)
    }))
})

describe("VppClient never shows the sToken", () => {
  it.effect("not in any error", () =>
    Effect.gen(function*() {
      const requests = [
        okGet,
        { _tag: "LegacyPost", path: "/getVPPLicensesSrv", body: { batchToken: "bt" } }
      ] as const satisfies ReadonlyArray<VppClient.Request>
      let checked = 0
      for (const request of requests) {
        for (const fault of [...retryableFaults, ...fatalFaults]) {
          const { client } = yield* setup([fault.reply], { ...fault.options, retry: { maxRetries: 0 } })
          const error = yield* settle(Effect.flip(client.execute(request, AssetsBody)))
          assert.strictEqual(error._tag, fault.tag, fault.name)
          assertErrorClean(error, `${fault.name} (${request._tag})`)
          checked++
        }
        // A legacy error body, and retries running out.
        const legacy = yield* setup([{ body: { status: -1, errorNumber: 9602 } }])
        assertErrorClean(yield* settle(Effect.flip(legacy.client.execute(request, Ok))), "a legacy status -1 body")
        const exhausted = yield* setup(() => ({ status: 503 }), { retry: { maxRetries: 2, baseDelay: "1 millis" } })
        assertErrorClean(yield* settle(Effect.flip(exhausted.client.execute(request, Ok))), "retries running out")
        checked += 2
      }
      assert.strictEqual(checked, 2 * (retryableFaults.length + fatalFaults.length + 2))
    }))

  it.effect("not in logs or spans while retrying", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      const { render, spans, tracer } = yield* captureSpans
      yield* Effect.gen(function*() {
        for (const request of [okGet, { _tag: "LegacyPost", path: "/getVPPUsersSrv", body: {} }] as const) {
          for (const fault of [...retryableFaults, ...fatalFaults]) {
            const { client } = yield* setup([fault.reply, ok], fault.options)
            yield* settle(Effect.either(client.execute(request, Ok)))
          }
        }
      }).pipe(Effect.withTracer(tracer), Effect.provide(logs.layer))
      // The capture works: the retries were logged and the requests traced.
      assert.isTrue(logs.lines.some((line) => line.includes("retrying /v2/assets")), "no retry was logged")
      assert.isTrue(logs.lines.some((line) => line.includes("retrying /getVPPUsersSrv")), "no legacy retry was logged")
      assert.isTrue(spans.some((span) => span.name === "VppClient.execute"), "no VppClient.execute span")
      // One span per request (with its retries), none per HTTP exchange: the platform's client span would record
      // the URL and headers, and its trace context would go to Apple.
      assert.isFalse(spans.some((span) => span.kind === "client"), "an HTTP client span")
      assert.isTrue(spans.some((span) => span.attributes.get("attempts") === 2), "no span counts its attempts")
      for (const line of logs.lines) assertNoToken(line, `the log line ${JSON.stringify(line.slice(0, 80))}`)
      for (const span of render()) assertNoToken(span, `the span ${JSON.stringify(span.slice(0, 80))}`)
    }))

  it.effect("the Authorization header carries the raw token and nothing else does", () =>
    Effect.gen(function*() {
      const { client, http } = yield* setup([ok, { body: { status: 0 } }])
      yield* client.get("/v2/users", { pageIndex: 0 }, Ok)
      yield* client.execute({ _tag: "LegacyPost", path: "/getVPPUsersSrv", body: {} }, Schema.Unknown)
      const [get, post] = http.requests()
      assert.strictEqual(get!.headers["authorization"], `Bearer ${rawToken}`)
      assert.strictEqual(JSON.parse(post!.body).sToken, rawToken)
      for (const [name, value] of Object.entries(get!.headers)) {
        if (name !== "authorization") assertNoToken(value, `the ${name} header`)
      }
      assertNoToken(get!.url + get!.body, "the GET URL or body")
      assertNoToken(post!.url + JSON.stringify(post!.headers), "the POST URL or headers")
      // The client itself does not show it either.
      assertNoToken(String(client.token.value) + JSON.stringify(client.token), "the client's token")
    }))
})

// Guard against a vacuous exit helper: a request that never answers must be reported, not awaited forever.
describe("test helpers", () => {
  it.effect("settle reports an effect that is still running", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(settle(Effect.never, "1 second"))
      assert.isTrue(Exit.isFailure(exit))
    }))
})

describe("VppClient.clampConcurrency", () => {
  it("a whole number from 1 to the bound, the bound when none is asked", () => {
    assert.deepStrictEqual(
      [undefined, 0, -3, 1, 2.7, 5, 6, 100].map((n) => VppClient.clampConcurrency(n)),
      [5, 1, 1, 1, 2, 5, 5, 5]
    )
    assert.deepStrictEqual([undefined, 3, 4].map((n) => VppClient.clampConcurrency(n, 3)), [3, 3, 3])
  })
})
