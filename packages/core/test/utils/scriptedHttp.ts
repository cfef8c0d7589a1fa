/**
 * A scripted fake `HttpClient` for unit tests of the client foundation: it answers from a script (one entry
 * per call, or a function of the request), records every request, tracks how many requests are in flight,
 * and can delay a response with `Effect.sleep`, so `TestClock` drives it.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** One scripted answer. */
export interface Reply {
  /** Default 200. */
  readonly status?: number
  /** A string is sent verbatim; anything else as JSON. Default: empty body. */
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>>
  /** Sleep this long (on the Effect clock) before answering. */
  readonly delay?: Duration.DurationInput
  /** Fail with a `RequestError` of this reason instead of answering. */
  readonly fail?: "Transport"
  /** The system error code of that failure's cause (`ECONNREFUSED`, …), as Node reports it. */
  readonly code?: string
}

/** A request as the fake saw it. */
export interface RecordedRequest {
  /** 0-based call number. */
  readonly index: number
  readonly method: string
  /** The full URL, query string included. */
  readonly url: string
  /** The path of the URL, without query string. */
  readonly path: string
  readonly params: URLSearchParams
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** `Clock.currentTimeMillis` when the request reached the fake. */
  readonly startedAt: number
}

export type Responder = (request: RecordedRequest) => Reply | Effect.Effect<Reply>

/** Either a list (call `i` gets entry `i`; a call past the end is a defect) or a function of the request. */
export type Script = ReadonlyArray<Reply> | Responder

export interface ScriptedHttp {
  readonly client: HttpClient.HttpClient
  readonly layer: Layer.Layer<HttpClient.HttpClient>
  /** Every request so far, in arrival order. */
  readonly requests: () => ReadonlyArray<RecordedRequest>
  readonly count: () => number
  readonly inFlight: () => number
  readonly maxInFlight: () => number
}

const bodyText = (request: HttpClientRequest.HttpClientRequest): string => {
  const body = request.body
  switch (body._tag) {
    case "Uint8Array":
      return new TextDecoder().decode(body.body)
    case "Raw":
      return typeof body.body === "string" ? body.body : String(body.body)
    default:
      return ""
  }
}

export const make = (script: Script): ScriptedHttp => {
  const recorded: Array<RecordedRequest> = []
  let inFlight = 0
  let maxInFlight = 0

  const responder: Responder = typeof script === "function" ? script : (request) => {
    const reply = script[request.index]
    if (reply === undefined) throw new Error(`scriptedHttp: no reply scripted for call ${request.index} (${request.url})`)
    return reply
  }

  const client = HttpClient.make((request, url, signal) =>
    Effect.gen(function*() {
      const startedAt = yield* Clock.currentTimeMillis
      const seen: RecordedRequest = {
        index: recorded.length,
        method: request.method,
        url: url.toString(),
        path: url.pathname,
        params: url.searchParams,
        headers: { ...request.headers },
        body: bodyText(request),
        startedAt
      }
      recorded.push(seen)
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      return yield* Effect.gen(function*() {
        const answer = responder(seen)
        const reply = Effect.isEffect(answer) ? yield* answer : answer
        if (reply.delay !== undefined) yield* Effect.sleep(reply.delay)
        if (reply.fail !== undefined) {
          return yield* Effect.fail(
            reply.code === undefined
              ? new HttpClientError.RequestError({ request, reason: reply.fail, description: "connection reset by peer" })
              : new HttpClientError.RequestError({
                request,
                reason: reply.fail,
                cause: Object.assign(new Error(`connect ${reply.code} 127.0.0.1:9`), { code: reply.code })
              })
          )
        }
        const body = reply.body === undefined
          ? null
          : typeof reply.body === "string"
          ? reply.body
          : JSON.stringify(reply.body)
        const headers = { "content-type": "application/json", ...reply.headers }
        return HttpClientResponse.fromWeb(request, new Response(body, { status: reply.status ?? 200, headers }))
      }).pipe(
        // Like a real client, the exchange ends as soon as the request's signal is aborted (the client's timeout).
        (exchange) => Effect.raceFirst(exchange, aborted(signal, request)),
        Effect.ensuring(Effect.sync(() => inFlight--))
      )
    })
  )

  return {
    client,
    layer: Layer.succeed(HttpClient.HttpClient, client),
    requests: () => recorded,
    count: () => recorded.length,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight
  }
}

/** A v2 error body. */
export const appleError = (errorNumber: number, errorMessage = "scripted error"): { errorNumber: number; errorMessage: string } => ({
  errorNumber,
  errorMessage
})

/** Fails as a transport failure once `signal` is aborted, as the platform's clients do. */
const aborted = (signal: AbortSignal, request: HttpClientRequest.HttpClientRequest) =>
  Effect.async<never, HttpClientError.RequestError>((resume) => {
    const onAbort = () =>
      resume(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", description: "aborted" })))
    if (signal.aborted) return onAbort()
    signal.addEventListener("abort", onAbort, { once: true })
    return Effect.sync(() => signal.removeEventListener("abort", onAbort))
  })
