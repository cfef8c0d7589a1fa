import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The built command (`npm test` runs `tsc -b` first). */
export const binPath = fileURLToPath(new URL("../../dist/bin.js", import.meta.url))

export interface BinResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** The environment without any VPP_* variable of the machine running the tests. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("VPP_")))

/** Runs `vppkit args…` to the end (killed after `timeoutMs`) and collects its output. */
export const runBin = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly cwd?: string; readonly timeoutMs?: number } = {}
): Promise<BinResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: options.cwd ?? os.tmpdir(),
      env: { ...cleanEnv(), ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 20_000)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })

/** A fresh temporary directory, removed by the returned function. */
export const tempDir = (): { readonly dir: string; readonly remove: () => void } => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-test-"))
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/** Writes a token file readable by its owner only and answers its path. */
export const writeToken = (dir: string, raw: string, name = "token.txt"): string => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, raw, { mode: 0o600 })
  return file
}
