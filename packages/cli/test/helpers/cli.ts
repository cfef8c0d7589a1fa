import { assert } from "@effect/vitest"
import type * as Simulator from "@vppkit/core/Simulator"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The built command line (`npx tsc -b` builds it; `npm test` builds before testing). */
export const bin = fileURLToPath(new URL("../../dist/bin.js", import.meta.url))

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  /** Environment variables added to the child's (which never inherits VPP_*). */
  readonly env?: Readonly<Record<string, string>>
  /** Called with the child's stdout as it arrives; the child is handed over so a test can close its output. */
  readonly onStdout?: (chunk: string, child: import("node:child_process").ChildProcess) => void
}

const environment = (extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("VPP_")) env[key] = value
  return { ...env, ...extra }
}

/**
 * Runs `node dist/bin.js ...args` to its end. The server of a test runs in this process, so the child is
 * awaited asynchronously; it is killed if the test is interrupted (a timeout included).
 */
export const run = (args: ReadonlyArray<string>, options: RunOptions = {}): Effect.Effect<Result> =>
  Effect.async<Result>((resume) => {
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: environment(options.env)
    })
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      stdout.push(chunk)
      options.onStdout?.(chunk, child)
    })
    child.stdout.on("error", () => {})
    child.stderr.on("data", (chunk: string) => stderr.push(chunk))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout: stdout.join(""), stderr: stderr.join("") })))
    child.on("error", (error) => resume(Effect.die(error)))
    return Effect.sync(() => {
      if (child.exitCode === null) child.kill("SIGKILL")
    })
  })

/** Asserts an exit code and a stderr of exactly one line that is not a stack trace; answers that line. */
export const assertFailure = (result: Result, code: number, args?: ReadonlyArray<string>): string => {
  const where = `vppkit ${args?.join(" ") ?? ""}\nstderr: ${result.stderr}`
  assert.strictEqual(result.code, code, where)
  const lines = result.stderr.trim().split("\n")
  assert.strictEqual(lines.length, 1, `one line on stderr: ${where}`)
  assert.notMatch(result.stderr, /^\s+at /m, `no stack trace: ${where}`)
  return lines[0]!
}

/** A temporary directory, removed with the scope. */
export const temporaryDirectory: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-cli-"))),
  (directory) => Effect.sync(() => fs.rmSync(directory, { recursive: true, force: true }))
)

/** Writes an sToken to a file only its owner can read, as a downloaded token should be. */
export const writeToken = (directory: string, token: Redacted.Redacted<string>, name = "token.vpptoken"): string => {
  const file = path.join(directory, name)
  fs.writeFileSync(file, Redacted.value(token) + "\n", { mode: 0o600 })
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

const sortKeys = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(sortKeys)
    : typeof value === "object" && value !== null
    ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a < b ? -1 : 1).map(([k, v]) => [k, sortKeys(v)]))
    : value

/** JSON with sorted keys: equal records give equal text. */
export const canonical = (value: unknown): string => JSON.stringify(sortKeys(value))

/** The records' canonical texts, sorted. */
export const canonicalSet = (records: ReadonlyArray<unknown>): Array<string> => records.map(canonical).sort()
