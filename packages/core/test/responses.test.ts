import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Responses from "../src/internal/responses.js"

const request = HttpClientRequest.get("http://simulator.test/mdm/v2/assets")

/** A `fetch` body that delivers `first` and then fails. */
const failingBody = (first: string) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(first))
      controller.error(new Error("connection reset"))
    }
  })

describe("Responses.bodyText", () => {
  it.effect("reads a fetch response's body", () =>
    Effect.gen(function*() {
      const response = HttpClientResponse.fromWeb(request, new Response(`{"assets":[]}`, { status: 200 }))
      assert.strictEqual(yield* Responses.bodyText(response), `{"assets":[]}`)
    }))

  it.effect("fails with the platform's ResponseError (Decode) when the body cannot be read", () =>
    Effect.gen(function*() {
      const response = HttpClientResponse.fromWeb(request, new Response(failingBody(`{"ass`), { status: 200 }))
      const result = yield* Effect.either(Responses.bodyText(response))
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) {
        assert.strictEqual(result.left._tag, "ResponseError")
        assert.strictEqual(result.left.reason, "Decode")
        assert.strictEqual(result.left.response, response)
      }
    }))

  it.effect("reads undici's response data through its body, not through response.text", () =>
    Effect.gen(function*() {
      const undiciLike = {
        request,
        status: 200,
        source: { statusCode: 200, body: { text: () => Promise.resolve(`{"users":[]}`) } },
        get text(): never {
          throw new Error("response.text read")
        }
      } as unknown as HttpClientResponse.HttpClientResponse
      assert.strictEqual(yield* Responses.bodyText(undiciLike), `{"users":[]}`)
    }))

  it.effect("reads any other response with response.text", () =>
    Effect.gen(function*() {
      const other = { request, status: 200, text: Effect.succeed("plain") } as unknown as HttpClientResponse.HttpClientResponse
      assert.strictEqual(yield* Responses.bodyText(other), "plain")
    }))
})
