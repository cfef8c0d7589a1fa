import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import { fileURLToPath } from "node:url"

/**
 * The one way the tests run the built `vppkit` (`node dist/vppkit.js …`, the bundle the bin runs) in a child process: {@link start} (the
 * scope kills it), {@link run} (to its end, as an Effect), {@link runBin} (to its end, as a Promise).
 */

/** The bundled bin: `npm test` builds `dist/` (tsc -b), then the global setup bundles it (support/globalSetup.ts). */
export const binPath = fileURLToPath(new URL("../../dist/vppkit.js", import.meta.url))

export const assertBuilt = Effect.sync(() => {
  if (!fs.existsSync(binPath)) throw new Error(`${binPath} is missing: build first (npm run build)`)
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
  /** What it printed so far. */
  readonly output: Effect.Effect<{ readonly stdout: string; readonly stderr: string }>
}

export interface RunOptions {
  /** Environment variables added to the child's (which never inherits VPP_* nor VPPKIT_DB). */
  readonly env?: Readonly<Record<string, string>>
  /** The working directory (default: the system's temporary directory, so a default path writes nothing here). */
  readonly cwd?: string
  /** Called with the child's stdout as it arrives; the child is handed over so a test can close its output. */
  readonly onStdout?: (chunk: string, child: ChildProcess) => void
}

/**
 * The environment of a child `vppkit`: the tests' own, without any VPP_* setting (nor VPPKIT_DB) of the machine
 * running them, nor NODE_EXTRA_CA_CERTS: the children speak plain HTTP to loopback, and Node 20 reads and parses
 * that file's certificates as it starts, whether or not it ever uses TLS (~50 ms of CPU a process, of ~150 for
 * `node -e 0`; the suite starts hundreds).
 */
export const environment = (extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("VPP_") && key !== "VPPKIT_DB" && key !== "NODE_EXTRA_CA_CERTS") env[key] = value
  }
  return { ...env, ...extra }
}

/** Starts `node dist/vppkit.js …args`; the scope kills it (SIGKILL) if it is still running when it closes. */
export const start = (args: ReadonlyArray<string>, options: RunOptions = {}): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [binPath, ...args], {
          cwd: options.cwd ?? os.tmpdir(),
          env: environment(options.env),
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        })
    )
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout.push(chunk)
      options.onStdout?.(chunk, child)
    })
    // A test may close the child's stdout (a reader that goes away).
    child.stdout!.on("error", () => {})
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk))
    const closed = new Promise<Exit>((resolve, reject) => {
      child.on("close", (code, signal) => resolve({ code, signal, stdout: stdout.join(""), stderr: stderr.join("") }))
      child.on("error", reject)
    })
    return {
      child,
      exit: Effect.orDie(Effect.tryPromise(() => closed)),
      output: Effect.sync(() => ({ stdout: stdout.join(""), stderr: stderr.join("") }))
    }
  })

/** Runs the bin to its end; it is killed if the effect is interrupted (a test's timeout included). */
export const run = (args: ReadonlyArray<string>, options: RunOptions = {}): Effect.Effect<Exit> =>
  Effect.scoped(Effect.flatMap(start(args, options), (running) => running.exit))

/** {@link run} as a Promise; the child is killed (SIGKILL) after `timeoutMs` (default 20 s) and its output answered. */
export const runBin = (
  args: ReadonlyArray<string>,
  options: RunOptions & { readonly timeoutMs?: number } = {}
): Promise<Exit> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const running = yield* start(args, options)
    const kill = Effect.sleep(options.timeoutMs ?? 20_000).pipe(
      Effect.zipRight(Effect.sync(() => running.child.kill("SIGKILL"))),
      Effect.zipRight(running.exit)
    )
    return yield* Effect.raceFirst(running.exit, kill)
  })))

/** Waits until the running bin has printed a line matching `pattern` on stdout; fails if it exits or `timeoutMs` passes first. */
export const waitForOutput = (running: Running, pattern: RegExp, timeoutMs = 15_000): Effect.Effect<RegExpExecArray> =>
  Effect.gen(function*() {
    for (;;) {
      const { stderr, stdout } = yield* running.output
      const match = pattern.exec(stdout)
      if (match !== null) return match
      if (running.child.exitCode !== null || running.child.signalCode !== null) {
        return yield* Effect.dieMessage(`vppkit exited before printing ${pattern}: ${stdout}${stderr}`)
      }
      yield* Effect.sleep("20 millis")
    }
  }).pipe(
    Effect.timeoutFail({ duration: timeoutMs, onTimeout: () => new Error(`vppkit printed no ${pattern} within ${timeoutMs} ms`) }),
    Effect.orDie
  )

/** Asserts an exit code and a stderr of exactly one line that is not a stack trace; answers that line. */
export const assertFailure = (result: Exit, code: number, args?: ReadonlyArray<string>): string => {
  const where = `vppkit ${args?.join(" ") ?? ""}\nstderr: ${result.stderr}`
  assert.strictEqual(result.code, code, where)
  const lines = result.stderr.trim().split("\n")
  assert.strictEqual(lines.length, 1, `one line on stderr: ${where}`)
  assert.notMatch(result.stderr, /^\s+at /m, `no stack trace: ${where}`)
  return lines[0]!
}
