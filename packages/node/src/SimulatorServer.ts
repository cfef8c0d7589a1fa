/**
 * The simulator of `@vppkit/simulator` served over HTTP on 127.0.0.1: the same `Simulator.toHttpApp`, on a real
 * socket, so the faults only a transport can show are real — `ConnectionReset` resets the TCP connection,
 * `Stall` holds it open with no response until the client gives up. The server and every connection close
 * with the scope.
 *
 * @since 0.1.0
 */
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as VppClient from "@vppkit/core/VppClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/server.js"
import * as NodeVppClient from "./NodeVppClient.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The port to listen on (default 0: any free port, reported as {@link Service.port}). */
  readonly port?: number
}

/**
 * Connections the server has accepted so far, and how many are open now.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connections extends internal.Connections {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly simulator: Simulator.Service
  /** Always `127.0.0.1`. */
  readonly host: string
  /** The bound port. */
  readonly port: number
  /** The server's origin, e.g. `http://127.0.0.1:52341`. */
  readonly url: string
  /** The base URL a `VppClient` takes: {@link url} plus `/mdm`, as in Apple's URLs. */
  readonly baseUrl: string
  readonly connections: Effect.Effect<Connections>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class SimulatorServer extends Context.Tag("@vppkit/node/SimulatorServer")<SimulatorServer, Service>() {}

/** Resets the TCP connection the request came on (RST, not a graceful close); the fiber ends with the socket. */
const resetConnection: Effect.Effect<void, never, HttpServerRequest.HttpServerRequest> = Effect.flatMap(
  HttpServerRequest.HttpServerRequest,
  (request) =>
    Effect.zipRight(
      Effect.sync(() => NodeHttpServerRequest.toIncomingMessage(request).socket.resetAndDestroy()),
      Effect.never
    )
)

/**
 * Serves an existing simulator until the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve: (
  simulator: Simulator.Service,
  options?: Options
) => Effect.Effect<Service, HttpServerError.ServeError, Scope.Scope> = Effect.fn("SimulatorServer.serve")(
  function*(simulator: Simulator.Service, options: Options = {}) {
    // @effect/platform runs a handler uninterruptibly; the simulator's app is made interruptible so a stalled
    // response ends when its client goes away or the server closes, instead of waiting forever.
    const app = Effect.interruptible(Simulator.toHttpApp(simulator, { onReset: resetConnection }))
    const listening = yield* internal.listen(app, options)
    const url = `http://${listening.host}:${listening.port}`
    return {
      simulator,
      host: listening.host,
      port: listening.port,
      url,
      baseUrl: `${url}/mdm`,
      connections: listening.connections
    } satisfies Service
  }
)

/**
 * Builds a simulator from `settings` and serves it until the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  settings: Simulator.Settings = {},
  options: Options = {}
): Effect.Effect<Service, HttpServerError.ServeError, Scope.Scope> =>
  Effect.flatMap(Simulator.make(settings), (simulator) => serve(simulator, options))

/**
 * A simulator built from `settings`, served on 127.0.0.1.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (settings: Simulator.Settings = {}, options: Options = {}): Layer.Layer<
  SimulatorServer,
  HttpServerError.ServeError
> => Layer.scoped(SimulatorServer, make(settings, options))

/**
 * Serves the simulator in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSimulator = (options: Options = {}): Layer.Layer<
  SimulatorServer,
  HttpServerError.ServeError,
  Simulator.Simulator
> => Layer.scoped(SimulatorServer, Effect.flatMap(Simulator.Simulator, (simulator) => serve(simulator, options)))

/**
 * A `VppClient` on undici talking to the served simulator with the simulator's token. Its rate limiter is
 * off unless `options.maxRequestsPerSecond` is given.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options: Omit<NodeVppClient.Options, "token" | "baseUrl"> = {}
): Layer.Layer<VppClient.VppClient, NodeVppClient.ConfigurationError, SimulatorServer> =>
  Layer.scoped(
    VppClient.VppClient,
    Effect.flatMap(SimulatorServer, (server) =>
      NodeVppClient.make({
        maxRequestsPerSecond: Infinity,
        ...options,
        token: server.simulator.token,
        baseUrl: server.baseUrl
      }))
  )
