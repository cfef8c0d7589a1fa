import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as VppError from "../src/VppError.js"

const endpoint = "/v2/assets"

/** One of each request error, as the client makes them. */
const requestErrors: ReadonlyArray<VppError.VppError> = [
  new VppError.AuthError({ endpoint, status: 401, reason: "expired", errorNumber: 9621 }),
  new VppError.RateLimitedError({ endpoint, status: 429, errorNumber: 9646, retryAfterMillis: 1000 }),
  new VppError.UnavailableError({ endpoint, status: 503, errorNumber: 9729 }),
  new VppError.BadRequestError({ endpoint, status: 400, errorNumber: 9602, errorMessage: "Invalid argument" }),
  new VppError.CheckpointUnusableError({ endpoint, status: 400, errorNumber: 9721 }),
  new VppError.InvalidCursorError({ endpoint, status: 400, errorNumber: 9812 }),
  new VppError.TransportError({ endpoint, reason: "Transport error: connect ECONNREFUSED", code: "ECONNREFUSED" }),
  new VppError.TimeoutError({ endpoint, timeoutMillis: 60_000 }),
  new VppError.DecodeError({ endpoint, kind: "json", path: "$", reason: "the body is empty" }),
  new VppError.ProtocolError({ endpoint, reason: "a repeated cursor" })
]

describe("VppError", () => {
  it("isVppError recognises every request error by its TypeId, and nothing else", () => {
    for (const error of requestErrors) {
      assert.isTrue(VppError.isVppError(error), error._tag)
      assert.strictEqual(error[VppError.TypeId], VppError.TypeId)
    }
    const drifted = new VppError.DriftedError({
      outcome: { checkpoint: undefined, consistency: "drifted", pages: 1, records: 1, retries: 0, passes: 1 }
    })
    const lookalikes: ReadonlyArray<unknown> = [
      drifted,
      // Tagged like one, but not made by vppkit: the tag alone does not make a VppError.
      { _tag: "AuthError", endpoint, status: 401, reason: "expired" },
      new Error("AuthError"),
      undefined,
      null,
      "TransportError"
    ]
    for (const value of lookalikes) assert.isFalse(VppError.isVppError(value))
  })

  it("every request error has its tag, its qualified schema identifier and a message naming the endpoint", () => {
    const tags = new Set<string>()
    for (const error of requestErrors) {
      tags.add(error._tag)
      assert.strictEqual(error.name, error._tag)
      assert.include(error.message, endpoint)
      assert.instanceOf(error, Error)
    }
    assert.strictEqual(tags.size, requestErrors.length)
    assert.strictEqual(
      new VppError.AuthError({ endpoint, status: 401, reason: "invalid", errorNumber: 9722 }).message,
      "the sToken is invalid: the server could not read it from the Authorization header (is the token file complete?) " +
        "(HTTP 401, error 9722 from /v2/assets)"
    )
    assert.strictEqual(
      new VppError.BadRequestError({ endpoint, status: 400, errorNumber: 9602, errorMessage: "Invalid argument" }).message,
      "the server rejected the request (HTTP 400, error 9602 from /v2/assets): Invalid argument"
    )
  })

  it.effect("an error keeps its cause as the original value, through a failed effect", () =>
    Effect.gen(function*() {
      const system = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })
      const transport = new VppError.TransportError({ endpoint, reason: "fetch failed", code: "ECONNREFUSED", cause: system })
      const exit = yield* Effect.exit(Effect.fail(transport))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        assert.isTrue(failure._tag === "Some")
        if (failure._tag === "Some") assert.strictEqual(failure.value.cause, system)
      }
      // The cause does not change what the message says (no token, no body: status, numbers and paths only).
      assert.strictEqual(transport.message, `could not reach the server at ${endpoint}: fetch failed`)
    }))
})
