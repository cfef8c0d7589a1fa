import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { binPath, environment } from "./bin.js"

/**
 * The built `vppkit` on a pseudo-terminal (python3's `pty`, through pseudoTerminal.py): stdout and stderr are
 * the terminal, as when a person runs it; {@link OnTerminal.type} types into it (`"\u0003"` is Ctrl-C).
 */

const helper = fileURLToPath(new URL("./pseudoTerminal.py", import.meta.url))

export interface TerminalExit {
  readonly code: number | null
  /** The signal that ended it, by number. */
  readonly signal: number | null
  /** Everything shown on the terminal (stdout and stderr, with the terminal's `\r\n` line ends). */
  readonly screen: string
  /** Peak resident memory of the command, in KiB. */
  readonly maxRssKb: number
}

export interface OnTerminal {
  /** What the terminal has shown so far. */
  readonly screen: Effect.Effect<string>
  /** Types text into the terminal. */
  readonly type: (text: string) => Effect.Effect<void>
  /** Resolves when the command has exited and its output is drained. */
  readonly exit: Effect.Effect<TerminalExit>
  /** Whether the command is still running. */
  readonly running: Effect.Effect<boolean>
  /** The command's process id (for sending it a signal), once it has started. */
  readonly pid: Effect.Effect<number>
}

/** The lines of a terminal's output, without colour and with `\n` line ends. */
export const lines = (screen: string): Array<string> =>
  // eslint-disable-next-line no-control-regex
  screen.replace(/\u001b\[[0-9;]*m/g, "").split(/\r?\n/).filter((line) => line.length > 0)

/** Starts `vppkit …args` on a terminal of `columns` × 24; the scope kills it if it is still running. */
export const startOnTerminal = (
  args: ReadonlyArray<string>,
  options: { readonly columns?: number; readonly env?: Readonly<Record<string, string>> } = {}
): Effect.Effect<OnTerminal, never, Scope.Scope> =>
  Effect.gen(function*() {
    const env = environment()
    delete env["NO_COLOR"]
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn("python3", [helper, String(options.columns ?? 80), "24", "--", process.execPath, binPath, ...args], {
          cwd: os.tmpdir(),
          env: { ...env, TERM: "xterm-256color", ...options.env },
          stdio: ["pipe", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.sync(() => {
          // Closing the terminal hangs up the command (SIGHUP); then the helper goes.
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        })
    )
    const screen: Array<string> = []
    let report = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => void screen.push(chunk))
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => void (report += chunk))
    const closed = new Promise<TerminalExit>((resolve, reject) => {
      child.on("error", reject)
      child.on("close", () => {
        try {
          const last = report.trim().split("\n").pop() ?? ""
          const status = JSON.parse(last) as { code: number | null; signal: number | null; maxRssKb: number }
          resolve({ code: status.code, signal: status.signal, maxRssKb: status.maxRssKb, screen: screen.join("") })
        } catch {
          reject(new Error(`pseudoTerminal.py: ${report}`))
        }
      })
    })
    let done = false
    void closed.then(() => (done = true), () => (done = true))
    const pid = Effect.gen(function*() {
      for (;;) {
        const started = /^\{"pid": (\d+)\}$/m.exec(report)
        if (started !== null) return Number(started[1])
        yield* Effect.sleep("10 millis")
      }
    })
    return {
      pid,
      screen: Effect.sync(() => screen.join("")),
      type: (text) => Effect.sync(() => void child.stdin!.write(text)),
      exit: Effect.orDie(Effect.tryPromise(() => closed)),
      running: Effect.sync(() => !done)
    }
  })

/** Waits until the terminal shows something matching `pattern`; dies if the command ends or `timeoutMs` passes first. */
export const waitForScreen = (terminal: OnTerminal, pattern: RegExp, timeoutMs = 15_000): Effect.Effect<string> =>
  Effect.gen(function*() {
    for (;;) {
      const screen = yield* terminal.screen
      if (pattern.test(screen)) return screen
      if (!(yield* terminal.running)) return yield* Effect.dieMessage(`vppkit ended before showing ${pattern}:\n${screen}`)
      yield* Effect.sleep("10 millis")
    }
  }).pipe(
    Effect.timeoutFail({ duration: timeoutMs, onTimeout: () => new Error(`the terminal showed no ${pattern} within ${timeoutMs} ms`) }),
    Effect.orDie
  )
