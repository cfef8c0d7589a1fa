import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type * as Net from "node:net"

/** Connections a server has accepted so far, and how many of them are still open. */
export interface Connections {
  readonly accepted: number
  readonly open: number
}

export interface Listening {
  readonly host: string
  readonly port: number
  readonly connections: Effect.Effect<Connections>
}

/**
 * Serves an app on 127.0.0.1 until the scope closes. Closing stops listening and destroys every connection,
 * stalled ones included, then waits for the server to close: nothing is left open.
 */
export const listen = <E>(
  app: HttpApp.Default<E, HttpServerRequest.HttpServerRequest>,
  options: { readonly port?: number | undefined } = {}
): Effect.Effect<Listening, HttpServerError.ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = "127.0.0.1"
    const sockets = new Set<Net.Socket>()
    let accepted = 0
    const server = Http.createServer()
    server.on("connection", (socket) => {
      accepted++
      sockets.add(socket)
      socket.once("close", () => sockets.delete(socket))
    })
    const httpServer = yield* NodeHttpServer.make(() => server, { host, port: options.port ?? 0 })
    // Added after the platform's finalizer, so it runs first; the platform's then finds the server closed.
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        // Stop accepting first, so no connection arrives after the sweep.
        if (server.listening) server.close(() => resume(Effect.void))
        else resume(Effect.void)
        for (const socket of sockets) socket.destroy()
      })
    )
    yield* httpServer.serve(app)
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    return {
      host,
      port,
      connections: Effect.sync(() => ({ accepted, open: sockets.size }))
    }
  })
