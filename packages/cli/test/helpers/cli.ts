import * as Simulator from "@vppkit/simulator/Simulator"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export { assertFailure, binPath as bin, type Exit as Result, run, type RunOptions } from "../support/bin.js"

/** A temporary directory, removed with the scope. */
export const temporaryDirectory: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-cli-"))),
  (directory) => Effect.sync(() => fs.rmSync(directory, { recursive: true, force: true }))
)

/** A temporary directory for a whole test file (outside an Effect): remove it in `afterAll`. */
export const temporaryDirectorySync = (): { readonly dir: string; readonly remove: () => void } => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-cli-"))
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/** Writes an sToken (or any text) to a file only its owner can read, as a downloaded token should be. */
export const writeToken = (
  directory: string,
  token: Redacted.Redacted<string> | string,
  name = "token.vpptoken"
): string => {
  const file = path.join(directory, name)
  fs.writeFileSync(file, (typeof token === "string" ? token : Redacted.value(token)) + "\n", { mode: 0o600 })
  return file
}

export interface Served {
  readonly server: SimulatorServer.Service
  readonly simulator: Simulator.Service
  readonly directory: string
  /** `--token-file … --base-url …` for this server. */
  readonly connect: ReadonlyArray<string>
}

/** A simulator served on 127.0.0.1 with its token in a temporary file; both go with the scope. */
export const serve = (settings: Simulator.Settings): Effect.Effect<Served, never, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Effect.orDie(SimulatorServer.make(settings))
    const directory = yield* temporaryDirectory
    const tokenFile = writeToken(directory, server.simulator.token.value)
    return {
      server,
      simulator: server.simulator,
      directory,
      connect: ["--token-file", tokenFile, "--base-url", server.baseUrl]
    }
  })


/** JSON with sorted keys: equal records give equal text. */
export const canonical = (value: unknown): string => Simulator.canonicalJson(value)

/** The records' canonical texts, sorted. */
export const canonicalSet = (records: ReadonlyArray<unknown>): Array<string> => records.map(canonical).sort()
