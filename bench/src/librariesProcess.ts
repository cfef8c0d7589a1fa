/**
 * Several simulators — each a library of its own (seed 1, 2, …: its own `uId`, token and records) — served on
 * 127.0.0.1 from one process, for bench items 8 (many locations into one database: each on a port of its own) and
 * 10 (the fleet: `routed`, all behind one port, as Apple serves every location at one base URL; each request goes
 * to the library whose sToken it carries, in its `Authorization` header or, for the v1 endpoints, its body).
 * Started by `internal/server.ts` (`startLibraries`) with `child_process.fork`; takes
 * `{ libraries, settings, routed }` from argv as JSON, sends `{ type: "libraries-ready", libraries: [{ baseUrl, token, uId }] }`
 * (`uId`: routed only)
 * over the IPC channel once every one listens, and exits when the parent disconnects.
 */
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { LibrariesReady } from "./internal/protocol.js"

const { libraries, routed, settings } = JSON.parse(process.argv[2] ?? "{}") as {
  libraries: number
  settings: Simulator.Settings
  routed?: boolean
}

const settingsOf = (i: number): Simulator.Settings => ({ ...settings, seed: i + 1, orgName: `Bench location ${i + 1}` })

/** Every library behind one server: the request goes to the simulator whose sToken it carries (else the first). */
const servedRouted = Effect.gen(function*() {
  const simulators = yield* Effect.forEach(Array.from({ length: libraries }, (_, i) => i), (i) => Simulator.make(settingsOf(i)))
  const byToken = new Map<string, Simulator.Service>()
  for (const simulator of simulators) for (const token of simulator.tokens) byToken.set(Redacted.value(token.value), simulator)
  const route = (request: Simulator.SimRequest): Simulator.Service => {
    const auth = request.headers["authorization"] ?? ""
    const bearer = auth.startsWith("Bearer ") ? byToken.get(auth.slice("Bearer ".length)) : undefined
    if (bearer !== undefined) return bearer
    // the v1 endpoints: the sToken in the JSON body
    const match = /"sToken"\s*:\s*"([^"]+)"/.exec(request.body)
    return (match === null ? undefined : byToken.get(match[1]!)) ?? simulators[0]!
  }
  const server = yield* SimulatorServer.serve({ ...simulators[0]!, handle: (request) => route(request).handle(request) }, { port: 0 })
  return simulators.map((simulator) => ({
    baseUrl: server.baseUrl,
    token: Redacted.value(simulator.token.value),
    uId: simulator.uId
  }))
})

/** Each library on a port of its own. */
const servedApart = Effect.gen(function*() {
  const served: Array<LibrariesReady["libraries"][number]> = []
  for (let i = 0; i < libraries; i++) {
    const server = yield* SimulatorServer.make(settingsOf(i), { port: 0 })
    served.push({ baseUrl: server.baseUrl, token: Redacted.value(server.simulator.token.value) })
  }
  return served
})

const program = Effect.gen(function*() {
  const served = yield* (routed === true ? servedRouted : servedApart)
  // As serverProcess.ts: the garbage of generating the data goes before anything is measured.
  globalThis.gc?.()
  const ready: LibrariesReady = { type: "libraries-ready", libraries: served }
  process.send?.(ready)
  yield* Effect.never
})

process.on("disconnect", () => process.exit(0))
Effect.runFork(Effect.scoped(program))
