import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

/** The built bin: `npm test` builds it (tsc -b) before vitest runs. */
export const binPath = fileURLToPath(new URL("../../dist/bin.js", import.meta.url))

export const assertBuilt = Effect.sync(() => {
  const built = fileURLToPath(new URL("../../dist/internal/syncCommand.js", import.meta.url))
  if (!fs.existsSync(built)) throw new Error(`${built} is missing: build first (npx tsc -b)`)
})

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Running {
  readonly child: ChildProcess
  /** Resolves when the process has exited. */
  readonly exit: Effect.Effect<Exit>
}

/** The environment without any VPP_* setting of the machine running the tests. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("VPP_")))

/** Starts `node dist/bin.js …args`; the scope kills it (SIGKILL) if it is still running when it closes. */
export const start = (args: ReadonlyArray<string>): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(process.execPath, [binPath, ...args], { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] })),
      (child) => Effect.sync(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      })
    )
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const closed = new Promise<Exit>((resolve) => {
      child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
    })
    return { child, exit: Effect.promise(() => closed) }
  })

/** Runs the bin to its end. */
export const run = (args: ReadonlyArray<string>): Effect.Effect<Exit> =>
  Effect.scoped(Effect.flatMap(start(args), (running) => running.exit))
