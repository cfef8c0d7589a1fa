/**
 * The {@link VppClient.VppClient} on Node: requests go through an undici `Agent` that keeps connections
 * alive and reuses them, with connect, headers and body timeouts of its own as a backstop to the client's
 * per-request timeout. Configuration comes either explicitly ({@link layer}) or from the environment
 * ({@link layerConfig}: `VPP_TOKEN_FILE`, `VPP_TOKEN`, `VPP_BASE_URL`, read by `VppClient.loadSettings`).
 * Everything but undici lives in `@vppkit/core/VppClient`; this module re-exports what it used to define.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as VppClient from "@vppkit/core/VppClient"
import * as VppError from "@vppkit/core/VppError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { Agent, type Dispatcher } from "undici"

/**
 * @since 0.1.0
 * @category errors
 */
export const ConfigurationError = VppClient.ConfigurationError

/**
 * @since 0.1.0
 * @category errors
 */
export type ConfigurationError = VppClient.ConfigurationError

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

/**
 * @since 0.1.0
 * @category validation
 */
export const isLoopbackHost: (hostname: string) => boolean = VppClient.isLoopbackHost

/**
 * @since 0.1.0
 * @category validation
 */
export const checkBaseUrl: (text: string, setting: string) => Either.Either<string, ConfigurationError> =
  VppClient.checkBaseUrl

/**
 * @since 0.1.0
 * @category predicates
 */
export const isConnectionRefused: (error: VppError.VppError) => boolean = VppClient.isConnectionRefused

/** The pool a client gets unless `dispatcher` says otherwise: one socket a request in flight, timeouts 5 s beyond. */
const dispatcherFor = (options: Omit<Options, "token" | "baseUrl">): DispatcherOptions => {
  const requestTimeout = millis(options.requestTimeout, 60_000)
  return {
    // Never more sockets than requests the client lets through at once.
    connections: VppClient.clampConcurrency(options.concurrency),
    headersTimeout: requestTimeout + 5_000,
    bodyTimeout: requestTimeout + 5_000,
    ...options.dispatcher
  }
}

/**
 * Builds a client on its own undici dispatcher — at most `concurrency` connections, headers and body
 * timeouts 5 s beyond `requestTimeout` unless `dispatcher` says otherwise — which closes with its sockets
 * when the scope closes. Fails when `baseUrl` is not acceptable; a refused connection to a loopback host is not
 * retried (see `VppClient.makeChecked`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<VppClient.Service, ConfigurationError, Scope.Scope> = Effect
  .fn("NodeVppClient.make")(function*(options: Options) {
    const dispatcher = yield* makeDispatcher(dispatcherFor(options))
    const { dispatcher: _, ...clientOptions } = options
    return yield* VppClient.makeChecked(clientOptions).pipe(
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
 * @since 0.1.0
 * @category models
 */
export type Settings = VppClient.Settings

/**
 * @since 0.1.0
 * @category config
 */
export const loadSettings: Effect.Effect<Settings, ConfigurationError, FileSystem.FileSystem> = VppClient.loadSettings

/**
 * The client configured from the environment (`VppClient.layerConfig`), on its own undici dispatcher, token
 * files read with Node's file system; `options` sets everything else.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "token" | "baseUrl"> = {}
): Layer.Layer<VppClient.VppClient, ConfigurationError> => {
  const { dispatcher: _, ...clientOptions } = options
  return VppClient.layerConfig(clientOptions).pipe(
    Layer.provide(Layer.merge(layerHttpClient(dispatcherFor(options)), NodeFileSystem.layer))
  )
}
