/**
 * The {@link VppClient.VppClient} on Node: requests go through an undici `Agent` that keeps connections
 * alive and reuses them, with connect, headers and body timeouts of its own as a backstop to the client's
 * per-request timeout. Configuration comes either explicitly ({@link layer}) or from the environment
 * ({@link layerConfig}):
 *
 * | variable | meaning |
 * | --- | --- |
 * | `VPP_TOKEN_FILE` | path of the sToken file downloaded from Apple School/Business Manager |
 * | `VPP_TOKEN` | the sToken itself (when no file is used) |
 * | `VPP_BASE_URL` | default `https://vpp.itunes.apple.com/mdm`; plain `http://` only for a loopback host |
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as SToken from "@vppkit/core/SToken"
import * as VppClient from "@vppkit/core/VppClient"
import * as VppError from "@vppkit/core/VppError"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Agent, type Dispatcher } from "undici"

/**
 * The configuration is missing or unusable. `message` is one line a CLI can print as is; it names the
 * variable or option (`setting`) and never quotes the token.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigurationError extends Schema.TaggedError<ConfigurationError>("@vppkit/node/ConfigurationError")(
  "ConfigurationError",
  {
    /** The environment variable or option at fault, e.g. `VPP_BASE_URL` or `baseUrl`. */
    setting: Schema.String,
    message: Schema.String
  }
) {}

/**
 * The undici connection pool. Durations left out take the defaults below.
 *
 * @since 0.1.0
 * @category models
 */
export interface DispatcherOptions {
  /** Connections per origin (default unlimited; {@link make} uses the client's `concurrency`). */
  readonly connections?: number
  /** Establishing a connection, TLS included (default 10 s). */
  readonly connectTimeout?: Duration.DurationInput
  /** Waiting for the response headers (default 65 s: the client's default request timeout plus 5 s). */
  readonly headersTimeout?: Duration.DurationInput
  /** Waiting between two chunks of a response body (default 65 s). */
  readonly bodyTimeout?: Duration.DurationInput
  /** How long an idle connection is kept for reuse when the server sends no `Keep-Alive` hint (default 4 s). */
  readonly keepAliveTimeout?: Duration.DurationInput
  /** The longest idle time accepted from a server's `Keep-Alive` hint (default 10 minutes). */
  readonly keepAliveMaxTimeout?: Duration.DurationInput
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends VppClient.Options {
  readonly dispatcher?: DispatcherOptions
}

const millis = (input: Duration.DurationInput | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(input)

/**
 * An undici `Agent` configured for the VPP API, destroyed (with its sockets) when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDispatcher = (options: DispatcherOptions = {}): Effect.Effect<Dispatcher, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const headersTimeout = millis(options.headersTimeout, 65_000)
      const bodyTimeout = millis(options.bodyTimeout, 65_000)
      const agent = new Agent({
        ...(options.connections === undefined ? {} : { connections: options.connections }),
        pipelining: 1,
        connect: { timeout: millis(options.connectTimeout, 10_000) },
        keepAliveTimeout: millis(options.keepAliveTimeout, 4_000),
        keepAliveMaxTimeout: millis(options.keepAliveMaxTimeout, 600_000),
        headersTimeout,
        bodyTimeout
      })
      // @effect/platform-node sets headersTimeout to one hour and bodyTimeout to 0 (off) on every request,
      // leaving timeouts to Effect; this interceptor puts the pool's own back as a backstop.
      return agent.compose((dispatch) => (request, handler) => dispatch({ ...request, headersTimeout, bodyTimeout }, handler))
    }),
    (dispatcher) => Effect.promise(() => dispatcher.destroy())
  )

/**
 * The undici dispatcher as a layer, for {@link layerHttpClient} or `NodeHttpClient.layerUndiciWithoutDispatcher`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDispatcher = (options: DispatcherOptions = {}): Layer.Layer<NodeHttpClient.Dispatcher> =>
  Layer.scoped(NodeHttpClient.Dispatcher, makeDispatcher(options))

/**
 * An `HttpClient` on the configured undici dispatcher; several `VppClient`s (one per sToken) can share it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient = (options: DispatcherOptions = {}): Layer.Layer<HttpClient.HttpClient> =>
  NodeHttpClient.layerUndiciWithoutDispatcher.pipe(Layer.provide(layerDispatcher(options)))

const loopbackV4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/

/**
 * Whether a URL host name is a loopback address: `localhost`, 127.0.0.0/8 or `::1` (as `URL` writes them).
 *
 * @since 0.1.0
 * @category validation
 */
export const isLoopbackHost = (hostname: string): boolean => {
  const host = hostname.toLowerCase()
  return host === "localhost" || host === "[::1]" || host === "::1" || loopbackV4.test(host)
}

/**
 * Checks a base URL: `https://`, or `http://` for a loopback host only (the sToken must never cross a
 * network in clear text); no query or fragment. `setting` names the variable or option in the message.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkBaseUrl = (text: string, setting: string): Either.Either<string, ConfigurationError> => {
  const fail = (message: string) => Either.left(new ConfigurationError({ setting, message: `${setting} ${message}` }))
  let url: URL
  try {
    url = new URL(text.trim())
  } catch {
    return fail(`is not a valid URL (expected e.g. ${VppClient.defaultBaseUrl})`)
  }
  const shown = `${url.protocol}//${url.host}`
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    return fail(
      `must use https:// (plain http:// is accepted only for a loopback host: 127.0.0.0/8, localhost or ::1), got ${shown}`
    )
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return fail(`must be an https:// URL, got ${shown}`)
  if (url.search !== "" || url.hash !== "") return fail("must not contain a query or a fragment")
  return Either.right(text.trim().replace(/\/+$/, ""))
}

/**
 * Whether a failure is a connection refused (`ECONNREFUSED`): nothing accepts connections on that address.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isConnectionRefused = (error: VppError.VppError): boolean =>
  error._tag === "TransportError" && error.code === "ECONNREFUSED"

/**
 * Builds a client on its own undici dispatcher — at most `concurrency` connections, headers and body
 * timeouts 5 s beyond `requestTimeout` unless `dispatcher` says otherwise — which closes with its sockets
 * when the scope closes. Fails when `baseUrl` is not acceptable (see {@link checkBaseUrl}).
 *
 * A refused connection to a loopback host is not retried: there the refusal is the kernel's own, immediate
 * answer that nothing listens on the port (a server not started, a wrong port), which waiting does not change.
 * To any other host it is retried like other transport failures (a load balancer or a server restarting).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<VppClient.Service, ConfigurationError, Scope.Scope> = Effect
  .fn("NodeVppClient.make")(function*(options: Options) {
    const baseUrl = yield* checkBaseUrl(options.baseUrl ?? VppClient.defaultBaseUrl, "baseUrl")
    const requestTimeout = millis(options.requestTimeout, 60_000)
    const dispatcher = yield* makeDispatcher({
      // Never more sockets than requests the client lets through at once.
      connections: VppClient.clampConcurrency(options.concurrency),
      headersTimeout: requestTimeout + 5_000,
      bodyTimeout: requestTimeout + 5_000,
      ...options.dispatcher
    })
    const { dispatcher: _, ...clientOptions } = options
    const retryable = options.retry?.retryable ?? VppError.isRetryable
    const retry = isLoopbackHost(new URL(baseUrl).hostname)
      ? { ...options.retry, retryable: (error: VppError.VppError) => !isConnectionRefused(error) && retryable(error) }
      : options.retry
    return yield* VppClient.make({ ...clientOptions, baseUrl, ...(retry === undefined ? {} : { retry }) }).pipe(
      Effect.provideService(HttpClient.HttpClient, NodeHttpClient.makeUndici(dispatcher))
    )
  })

/**
 * The client with explicit options, on its own undici dispatcher.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<VppClient.VppClient, ConfigurationError> =>
  Layer.scoped(VppClient.VppClient, make(options))

/**
 * What the environment configures.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly token: SToken.SToken
  readonly baseUrl: string
}

const describeReadFailure = (error: unknown): string => {
  const reason = typeof error === "object" && error !== null && "reason" in error ? error.reason : undefined
  switch (reason) {
    case "NotFound":
      return "no such file"
    case "PermissionDenied":
      return "permission denied"
    case "BadResource":
      return "not a regular file"
    default:
      return typeof reason === "string" ? reason : "unknown error"
  }
}

const decodeToken = (text: string, setting: string, where: string) =>
  Either.mapLeft(
    SToken.decode(text),
    (error) => new ConfigurationError({ setting, message: `${setting}: ${where} is not a valid sToken: ${error.reason}` })
  )

const environment = Config.all({
  tokenFile: Config.string("VPP_TOKEN_FILE").pipe(Config.withDefault("")),
  token: Config.option(Config.redacted("VPP_TOKEN")),
  baseUrl: Config.string("VPP_BASE_URL").pipe(Config.withDefault(""))
})

/**
 * Reads `VPP_TOKEN_FILE` (read with `FileSystem`; surrounding white space is ignored) or `VPP_TOKEN`, and
 * `VPP_BASE_URL`, from the current `ConfigProvider` (the environment by default). An empty variable counts
 * as unset.
 *
 * @since 0.1.0
 * @category config
 */
export const loadSettings: Effect.Effect<Settings, ConfigurationError, FileSystem.FileSystem> = Effect.gen(function*() {
  const env = yield* Effect.mapError(
    environment,
    (error) => new ConfigurationError({ setting: "environment", message: `cannot read the environment: ${error.message}` })
  )
  const tokenValue = Option.filter(env.token, (value) => Redacted.value(value).length > 0)
  if (env.tokenFile.length > 0 && Option.isSome(tokenValue)) {
    return yield* new ConfigurationError({
      setting: "VPP_TOKEN_FILE",
      message: "set only one of VPP_TOKEN_FILE and VPP_TOKEN, not both"
    })
  }
  let token: SToken.SToken
  if (env.tokenFile.length > 0) {
    const fs = yield* FileSystem.FileSystem
    const path = env.tokenFile
    const text = yield* Effect.mapError(
      fs.readFileString(path),
      (error) =>
        new ConfigurationError({
          setting: "VPP_TOKEN_FILE",
          message: `VPP_TOKEN_FILE: cannot read ${path}: ${describeReadFailure(error)}`
        })
    )
    token = yield* decodeToken(text, "VPP_TOKEN_FILE", `the content of ${path}`)
  } else if (Option.isSome(tokenValue)) {
    token = yield* decodeToken(Redacted.value(tokenValue.value), "VPP_TOKEN", "its value")
  } else {
    return yield* new ConfigurationError({
      setting: "VPP_TOKEN_FILE",
      message:
        "no sToken configured: set VPP_TOKEN_FILE to the path of the token file downloaded from Apple School Manager or Apple Business Manager (or VPP_TOKEN to its content)"
    })
  }
  const baseUrl = yield* checkBaseUrl(env.baseUrl.length > 0 ? env.baseUrl : VppClient.defaultBaseUrl, "VPP_BASE_URL")
  return { token, baseUrl }
}).pipe(Effect.withSpan("NodeVppClient.loadSettings"))

/**
 * The client configured from the environment ({@link loadSettings}, files read with Node's file system);
 * `options` sets everything else.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "token" | "baseUrl"> = {}
): Layer.Layer<VppClient.VppClient, ConfigurationError> =>
  Layer.scoped(
    VppClient.VppClient,
    Effect.flatMap(loadSettings, (settings) => make({ ...options, ...settings }))
  ).pipe(Layer.provide(NodeFileSystem.layer))
