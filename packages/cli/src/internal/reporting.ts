import type * as VppClient from "@vppkit/core/VppClient"
import type * as VppError from "@vppkit/core/VppError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { printLine } from "./progress.js"

/**
 * What a run says on stderr about its requests and its logs: the request lines of `--verbose`, the retry lines
 * shown on a terminal, and the logs of `--log-level`, as text or JSON (`--log-format`). None of them holds the
 * sToken: request lines are made from the method, path, query string, status and time of a request, never from a
 * header or a body (see VppClient.RequestEvent).
 */

/** The formats of `--log-format`. */
export const logFormats = ["text", "json"] as const

export type LogFormat = (typeof logFormats)[number]

/** The format of log and request lines in the current command (from `--log-format`; text by default). */
export const currentLogFormat: FiberRef.FiberRef<LogFormat> = FiberRef.unsafeMake<LogFormat>("text")

/** The levels of `--log-level`, least severe first. */
export const logLevels = ["all", "trace", "debug", "info", "warning", "error", "fatal", "none"] as const

export type LogLevelName = (typeof logLevels)[number]

const levelOf = (name: LogLevelName): LogLevel.LogLevel =>
  LogLevel.fromLiteral(name === "all" ? "All" : name === "none" ? "None" : (name[0]!.toUpperCase() + name.slice(1)) as LogLevel.Literal)

/**
 * Runs a command with its `--log-format` and `--log-level`. (@effect/cli reads a `--log-level` of its own, but
 * only where it comes before the command's other options; this one is read wherever it is.)
 */
export const withLogging = (settings: { readonly logFormat: LogFormat; readonly logLevel: Option.Option<LogLevelName> }) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const formatted = Effect.locally(effect, currentLogFormat, settings.logFormat)
  return Option.isSome(settings.logLevel) ? Logger.withMinimumLogLevel(formatted, levelOf(settings.logLevel.value)) : formatted
}

const twoDigits = (n: number) => String(n).padStart(2, "0")

/** `15:22:13.097`, local time (as Effect's own pretty logger shows it). */
const clockTime = (date: Date) =>
  `${twoDigits(date.getHours())}:${twoDigits(date.getMinutes())}:${twoDigits(date.getSeconds())}.${
    String(date.getMilliseconds()).padStart(3, "0")
  }`

const messageText = (message: unknown): string =>
  (Array.isArray(message) ? message : [message]).map((part) => typeof part === "string" ? part : String(part)).join(" ")

/**
 * The logger of every command: one line per log on stderr (never stdout, which carries the records). Text:
 * `[15:22:13.097] DEBUG retrying /v2/assets in 0.5 s: … (1/8)`; JSON: `{"time", "type": "log", "level",
 * "message"}` and the log's annotations, if any.
 */
export const logger: Logger.Logger<unknown, void> = Logger.make(({ annotations, cause, context, date, logLevel, message }) => {
  const text = messageText(message) + (Cause.isEmpty(cause) ? "" : `: ${Cause.pretty(cause).split("\n")[0]}`)
  const extra = Object.fromEntries(HashMap.toEntries(annotations))
  if (FiberRefs.getOrDefault(context, currentLogFormat) === "json") {
    printLine(JSON.stringify({
      time: date.toISOString(),
      type: "log",
      level: logLevel.label,
      message: text,
      ...(Object.keys(extra).length === 0 ? {} : { annotations: extra })
    }))
  } else {
    const pairs = Object.entries(extra).map(([key, value]) => ` ${key}=${JSON.stringify(value)}`).join("")
    printLine(`[${clockTime(date)}] ${logLevel.label} ${text}${pairs}`)
  }
})

const systemErrors: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ECONNABORTED: "connection aborted",
  EPIPE: "connection closed",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed",
  UND_ERR_HEADERS_TIMEOUT: "no response headers in time",
  UND_ERR_BODY_TIMEOUT: "the response stalled"
}

const httpStatus = (status: number, errorNumber: number | undefined) =>
  errorNumber === undefined ? `HTTP ${status}` : `HTTP ${status}, error ${errorNumber}`

/** `0.3 s`, `4.0 s`, `16 s`. */
export const delay = (millis: number): string =>
  millis < 10_000 ? `${(millis / 1000).toFixed(1)} s` : `${Math.round(millis / 1000)} s`

/** Why a request failed, in a few words: `connection refused`, `unavailable (HTTP 503, error 9729)`, … */
export const reason = (error: VppError.VppError): string => {
  switch (error._tag) {
    case "TransportError":
      return error.code === undefined ? error.reason : systemErrors[error.code] ?? error.code
    case "TimeoutError":
      return `no response within ${delay(error.timeoutMillis)}`
    case "RateLimitedError":
      return `rate limited (${httpStatus(error.status, error.errorNumber)})`
    case "UnavailableError":
      return `unavailable (${httpStatus(error.status, error.errorNumber)})`
    case "DecodeError":
      return error.kind === "json" ? "the response is not JSON" : `unexpected response (at ${error.path})`
    default:
      return error.message
  }
}

/**
 * A request line of `--verbose`. Text: `GET /v2/assets?pageIndex=1 200 35 ms`, then ` retry N` for a retry and
 * `: reason` for a failure; `---` for no status (no response came). JSON: `{"time", "type": "request", "method",
 * "path", "query", "status" (null without a response), "ms", "retry" (0 for a first attempt), "error"?}`.
 */
export const requestLine = (event: VppClient.RequestEvent, format: LogFormat, now: Date = new Date()): string => {
  const retry = event.attempt - 1
  if (format === "json") {
    return JSON.stringify({
      time: now.toISOString(),
      type: "request",
      method: event.method,
      path: event.path,
      query: event.query,
      status: event.status ?? null,
      ms: event.millis,
      retry,
      ...(event.error === undefined ? {} : { error: reason(event.error) })
    })
  }
  return `${event.method} ${event.path}${event.query.length > 0 ? `?${event.query}` : ""} ${event.status ?? "---"} ${
    Math.round(event.millis)
  } ms${retry > 0 ? ` retry ${retry}` : ""}${event.error === undefined ? "" : `: ${reason(event.error)}`}`
}

/** The line shown on a terminal before a retry: `retrying /v2/assignments in 4.0 s: connection refused (3/8)`. */
export const retryLine = (event: VppClient.RetryEvent): string =>
  `retrying ${event.path} in ${delay(event.delayMillis)}: ${reason(event.error)} (${event.retry}/${event.maxRetries})`

/** What decides which lines a client prints. */
export interface Settings {
  /** `--verbose`: a line per request. */
  readonly verbose: boolean
  readonly logFormat: LogFormat
  /** `--quiet`: no retry lines (request lines still, if asked for). */
  readonly quiet: boolean
  /** Whether stderr is a terminal (retry lines are shown only there; default: asks stderr). */
  readonly terminal?: boolean
}

/** The client's `onRequest` and `onRetry` for these settings (only those that print something). */
export const clientEvents = (
  settings: Settings
): Pick<VppClient.Options, "onRequest" | "onRetry"> => {
  const terminal = settings.terminal ?? process.stderr.isTTY === true
  return {
    ...(settings.verbose
      ? { onRequest: (event: VppClient.RequestEvent) => Effect.sync(() => printLine(requestLine(event, settings.logFormat))) }
      : {}),
    ...(terminal && !settings.quiet
      ? { onRetry: (event: VppClient.RetryEvent) => Effect.sync(() => printLine(retryLine(event))) }
      : {})
  }
}
