/** Starts `serverProcess.js` (a simulator in a process of its own) and talks to it. */
import type * as Simulator from "@vppkit/simulator/Simulator"
import { type ChildProcess, fork } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import type { LibrariesReady, ServerReply, ServerRequest } from "./protocol.js"
import { distDir, tmpDir } from "./paths.js"

type Stats = Extract<ServerReply, { type: "stats" }>

export interface BenchServer {
  readonly baseUrl: string
  /** The simulator's sToken, for in-process clients (child processes get {@link tokenFile}). */
  readonly token: string
  /** A file holding the sToken (mode 0600), for `--token-file` and `VPP_TOKEN_FILE`. */
  readonly tokenFile: string
  /** Requests since the previous call (the simulator's log is cleared). */
  readonly stats: () => Promise<Stats>
  /** One write batch on the assignments; answers the number of live assignments afterwards. */
  readonly churn: (churn: { inserts?: number; updates?: number; deletes?: number }) => Promise<number>
  readonly stop: () => Promise<void>
}

let servers = 0

export const startServer = (settings: Simulator.Settings): Promise<BenchServer> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = fork(path.join(distDir, "serverProcess.js"), [JSON.stringify(settings)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      // So that it can collect the garbage of generating its data before serving (see serverProcess.ts).
      execArgv: ["--expose-gc"]
    })
    const waiting: Array<(reply: ServerReply) => void> = []
    const request = <T extends ServerReply["type"]>(message: ServerRequest, type: T) =>
      new Promise<Extract<ServerReply, { type: T }>>((done) => {
        waiting.push((reply) => done(reply as Extract<ServerReply, { type: T }>))
        child.send(message)
      })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`the simulator process exited early (code ${code})`)))
    child.on("message", (reply: ServerReply) => {
      if (reply.type !== "ready") {
        waiting.shift()?.(reply)
        return
      }
      const tokenFile = path.join(tmpDir(), `token-${process.pid}-${++servers}`)
      fs.writeFileSync(tokenFile, reply.token + "\n", { mode: 0o600 })
      resolve({
        baseUrl: reply.baseUrl,
        token: reply.token,
        tokenFile,
        stats: () => request({ type: "stats" }, "stats"),
        churn: (churn) => request({ type: "churn", ...churn }, "churned").then((reply) => reply.records),
        stop: () =>
          new Promise<void>((done) => {
            fs.rmSync(tokenFile, { force: true })
            child.removeAllListeners("exit")
            if (child.exitCode !== null) return done()
            child.once("exit", () => done())
            child.disconnect()
          })
      })
    })
  })

export interface BenchLibraries {
  /** One per library, in seed order: its base URL and a file holding its sToken (mode 0600). */
  readonly libraries: ReadonlyArray<{ readonly baseUrl: string; readonly tokenFile: string; readonly uId?: string | undefined }>
  /** The process serving them (for its CPU time). */
  readonly pid: number
  readonly stop: () => Promise<void>
}

/**
 * Starts `librariesProcess.js`: `libraries` simulators with `settings`, seeds 1, 2, … (a library each), in one
 * process, each on a port of its own — or, `routed`, all behind one port, each request answered by the library
 * whose sToken it carries (every library then has the same base URL, as Apple's locations do).
 */
export const startLibraries = (
  libraries: number,
  settings: Simulator.Settings,
  options?: { readonly routed?: boolean }
): Promise<BenchLibraries> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = fork(path.join(distDir, "librariesProcess.js"), [
      JSON.stringify({ libraries, settings, routed: options?.routed === true })
    ], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv: ["--expose-gc"]
    })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`the simulators' process exited early (code ${code})`)))
    child.once("message", (reply: LibrariesReady) => {
      const id = ++servers
      const tokenFiles = reply.libraries.map((library, i) => {
        const file = path.join(tmpDir(), `token-${process.pid}-${id}-${i + 1}`)
        fs.writeFileSync(file, library.token + "\n", { mode: 0o600 })
        return file
      })
      resolve({
        libraries: reply.libraries.map((library, i) => ({ baseUrl: library.baseUrl, tokenFile: tokenFiles[i]!, uId: library.uId })),
        pid: child.pid!,
        stop: () =>
          new Promise<void>((done) => {
            for (const file of tokenFiles) fs.rmSync(file, { force: true })
            child.removeAllListeners("exit")
            if (child.exitCode !== null) return done()
            child.once("exit", () => done())
            child.disconnect()
          })
      })
    })
  })
