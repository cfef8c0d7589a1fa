/** Runs `streamProcess.js` against a simulator, stdout to /dev/null, and collects what it reports. */
import { fork } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { distDir } from "./paths.js"
import type { StreamResult } from "./protocol.js"
import type { BenchServer } from "./server.js"

export type StreamMode = "vppkit" | "baseline" | "baseline-sequential"

export const runStream = (mode: StreamMode, server: BenchServer): Promise<StreamResult> =>
  new Promise((resolve, reject) => {
    const devNull = fs.openSync("/dev/null", "w")
    const child = fork(path.join(distDir, "streamProcess.js"), [mode], {
      stdio: ["ignore", devNull, "inherit", "ipc"],
      env: { ...process.env, VPP_TOKEN_FILE: server.tokenFile, VPP_BASE_URL: server.baseUrl, VPP_TOKEN: "" }
    })
    let result: StreamResult | undefined
    child.on("message", (message: StreamResult) => {
      result = message
    })
    child.once("error", reject)
    child.once("exit", (code) => {
      fs.closeSync(devNull)
      if (code === 0 && result !== undefined) resolve(result)
      else reject(new Error(`${mode} client exited with code ${code}`))
    })
  })
