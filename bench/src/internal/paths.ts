import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** `bench/dist`, where the compiled entries live. */
export const distDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

/** The repository root. */
export const rootDir = path.resolve(distDir, "..", "..")

/** The built CLI (`VPPKIT_BENCH_CLI` points item 4 at another build, e.g. a branch's worktree). */
export const cliBin = process.env["VPPKIT_BENCH_CLI"] ?? path.join(rootDir, "packages", "cli", "dist", "vppkit.js")

let dir: string | undefined

/** A private temporary directory for this run (token files, databases), removed by {@link removeTmpDir}. */
export const tmpDir = (): string => (dir ??= fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-bench-")))

export const removeTmpDir = (): void => {
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true })
  dir = undefined
}
