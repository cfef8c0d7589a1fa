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

  /** undici's response data as the platform's undici client hands it over, its body holding `bytes`. */
  const undiciLike = (bytes: Uint8Array) =>
    ({
      request,
      status: 200,
      source: {
        statusCode: 200,
        body: {
          arrayBuffer: () => Promise.resolve(bytes.slice().buffer),
          text: () => Promise.reject(new Error("body.text read"))
        }
      },
      get text(): never {
        throw new Error("response.text read")
      }
    }) as unknown as HttpClientResponse.HttpClientResponse

  it.effect("reads undici's response data as bytes from its body, not with body.text or response.text", () =>
    Effect.gen(function*() {
      const bytes = new TextEncoder().encode(`{"users":[{"email":"zoë@example.com"}]}`)
      assert.strictEqual(yield* Responses.bodyText(undiciLike(bytes)), `{"users":[{"email":"zoë@example.com"}]}`)
    }))

  it.effect("decodes undici's bytes as its body.text does: a byte order mark dropped, malformed UTF-8 as U+FFFD", () =>
    Effect.gen(function*() {
      const bytes = Uint8Array.of(0xef, 0xbb, 0xbf, 0x22, 0xc3, 0xa9, 0xff, 0xe2, 0x82, 0x22)
      assert.strictEqual(yield* Responses.bodyText(undiciLike(bytes)), `"é\uFFFD\uFFFD"`)
      assert.strictEqual(yield* Responses.bodyText(undiciLike(new Uint8Array(0))), "")
    }))

  it.effect("fails with the platform's ResponseError (Decode) when undici's body cannot be read", () =>
    Effect.gen(function*() {
      const failing = {
        request,
        status: 200,
        source: { statusCode: 200, body: { arrayBuffer: () => Promise.reject(new Error("socket hang up")) } }
      } as unknown as HttpClientResponse.HttpClientResponse
      const error = yield* Effect.flip(Responses.bodyText(failing))
      assert.strictEqual(error._tag, "ResponseError")
      assert.strictEqual(error.reason, "Decode")
      assert.strictEqual(error.response, failing)
    }))

  it.effect("reads any other response with response.text", () =>
    Effect.gen(function*() {
      const other = { request, status: 200, text: Effect.succeed("plain") } as unknown as HttpClientResponse.HttpClientResponse
      assert.strictEqual(yield* Responses.bodyText(other), "plain")
    }))
})
