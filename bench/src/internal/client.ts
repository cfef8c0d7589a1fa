/** A `NodeVppClient` in the runner's process, on a bench simulator, for the duration of one effect. */
import * as SToken from "@vppkit/core/SToken"
import * as VppClient from "@vppkit/core/VppClient"
import * as NodeVppClient from "@vppkit/node/NodeVppClient"
import * as Effect from "effect/Effect"
import type { BenchServer } from "./server.js"

export const withClient = <A, E>(
  server: BenchServer,
  options: Omit<NodeVppClient.Options, "token" | "baseUrl">,
  use: (client: VppClient.Service) => Effect.Effect<A, E, VppClient.VppClient>
): Promise<A> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const token = yield* SToken.decode(server.token)
    const client = yield* NodeVppClient.make({ ...options, token, baseUrl: server.baseUrl })
    return yield* Effect.provideService(use(client), VppClient.VppClient, client)
  })))

/** Wall-clock milliseconds of an effect, with its result. */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<{ value: A; millis: number }, E, R> =>
  Effect.suspend(() => {
    const started = performance.now()
    return Effect.map(effect, (value) => ({ value, millis: performance.now() - started }))
  })
