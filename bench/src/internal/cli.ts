/** Runs the built CLI as a user would, for the items that time it (7, 8 and 10). */
import { spawn } from "node:child_process"
import { cliBin } from "./paths.js"

export interface CliRun {
  /** From spawn to exit: process start and module loading included. */
  readonly millis: number
  readonly exitCode: number | null
  readonly stdout: string
  readonly stderr: string
}

export const runCli = (
  args: ReadonlyArray<string>,
  timeoutMillis = 30 * 60_000,
  env?: Readonly<Record<string, string>>
): Promise<CliRun> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(process.execPath, [cliBin, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: env === undefined ? process.env : { ...process.env, ...env }
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text
    })
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text
    })
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMillis)
    child.once("error", reject)
    child.once("close", (exitCode) => {
      clearTimeout(timer)
      resolve({ millis: performance.now() - started, exitCode, stdout, stderr: stderr.trim() })
    })
  })

/** What `vppkit sync --json` prints: the run's summary (the fields used here). */
export interface SyncSummary {
  readonly ok: boolean
  readonly exitCode: number
  readonly error?: string
  /** Inside the process: from the start of the command (flags parsed) to its end, database opening included. */
  readonly millis: number
  readonly resources: ReadonlyArray<{
    readonly resource: string
    readonly mode: string
    readonly records: number
    readonly rows: number
    readonly pages: number
    readonly consistency: string
    readonly millis: number
  }>
}

/** The `--json` summary on a run's stdout (its last line), or `undefined` when there is none. */
export const syncSummary = (run: CliRun): SyncSummary | undefined => {
  const line = run.stdout.trim().split("\n").pop()
  if (line === undefined || line === "") return undefined
  try {
    return JSON.parse(line) as SyncSummary
  } catch {
    return undefined
  }
}
