/**
 * A simulator served on 127.0.0.1 in a process of its own, so that the client under measurement has the
 * other core (and its RSS is its own). Started by `internal/server.ts` with `child_process.fork`; takes its
 * settings from argv as JSON and talks to the parent over the IPC channel:
 *
 * - sends `{ type: "ready", baseUrl, token }` once listening (the token goes over IPC, never argv);
 * - answers `{ type: "stats" }` with the requests logged since the last `stats` (and clears the log);
 * - answers `{ type: "churn", updates, inserts, deletes }` by applying one write batch to the assignments;
 * - exits when the parent disconnects.
 */
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { ServerReply, ServerRequest } from "./internal/protocol.js"

const settings = JSON.parse(process.argv[2] ?? "{}") as Simulator.Settings

const send = (message: ServerReply) => process.send?.(message)

const program = Effect.gen(function*() {
  const server = yield* SimulatorServer.make(settings, { port: 0 })
  const simulator = server.simulator
  let cpu = process.cpuUsage()
  process.on("message", (message: ServerRequest) => {
    switch (message.type) {
      case "stats": {
        const log = Effect.runSync(simulator.log)
        Effect.runSync(simulator.clearLog)
        const data = log.filter((entry) => entry.path !== "/v2/service/config")
        const used = process.cpuUsage(cpu)
        cpu = process.cpuUsage()
        send({
          type: "stats",
          requests: log.length,
          dataRequests: data.length,
          rateLimited: data.filter((entry) => entry.status === 429).length,
          acceptedStarts: data.filter((entry) => entry.status !== 429).map((entry) => entry.startedAt),
          rejectedStarts: data.filter((entry) => entry.status === 429).map((entry) => entry.startedAt),
          maxInFlight: log.reduce((max, entry) => Math.max(max, entry.inFlight), 0),
          cpuMillis: (used.user + used.system) / 1000
        })
        return
      }
      case "churn": {
        const { type: _, ...churn } = message
        Effect.runSync(simulator.churn("assignments", churn))
        send({ type: "churned", records: Effect.runSync(simulator.records("assignments")).length })
        return
      }
    }
  })
  // Generating a million records leaves hundreds of MB for the garbage collector; collecting them now keeps
  // that work (and its concurrent marking on the client's core) out of the first measured runs.
  globalThis.gc?.()
  send({ type: "ready", baseUrl: server.baseUrl, token: Redacted.value(simulator.token.value) })
  yield* Effect.never
})

process.on("disconnect", () => process.exit(0))
Effect.runFork(Effect.scoped(program))
