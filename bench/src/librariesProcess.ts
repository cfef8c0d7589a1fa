/**
 * Several simulators — each a library of its own (seed 1, 2, …: its own `uId`, token and records) — served on
 * 127.0.0.1 from one process, each on a port of its own, for bench item 8 (many locations into one database).
 * Started by `internal/server.ts` (`startLibraries`) with `child_process.fork`; takes
 * `{ libraries, settings }` from argv as JSON, sends `{ type: "libraries-ready", libraries: [{ baseUrl, token }] }`
 * over the IPC channel once every one listens, and exits when the parent disconnects.
 */
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { LibrariesReady } from "./internal/protocol.js"

const { libraries, settings } = JSON.parse(process.argv[2] ?? "{}") as { libraries: number; settings: Simulator.Settings }

const program = Effect.gen(function*() {
  const served: Array<LibrariesReady["libraries"][number]> = []
  for (let i = 0; i < libraries; i++) {
    const server = yield* SimulatorServer.make({ ...settings, seed: i + 1, orgName: `Bench location ${i + 1}` }, { port: 0 })
    served.push({ baseUrl: server.baseUrl, token: Redacted.value(server.simulator.token.value) })
  }
  // As serverProcess.ts: the garbage of generating the data goes before anything is measured.
  globalThis.gc?.()
  const ready: LibrariesReady = { type: "libraries-ready", libraries: served }
  process.send?.(ready)
  yield* Effect.never
})

process.on("disconnect", () => process.exit(0))
Effect.runFork(Effect.scoped(program))
