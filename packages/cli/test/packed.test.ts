import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { chunkDir } from "../scripts/bundle.mjs"

/**
 * The packages as a user meets them: `npm pack` of @vppkit/core, @vppkit/simulator, @vppkit/sync, @vppkit/node and @vppkit/cli, the tarballs
 * installed into an empty project, then `npx vppkit` (against the installed `vppkit mock-server`) and a small
 * TypeScript program using the libraries, type-checked with the user's `tsc` and run.
 *
 * The install uses the npm cache the workspace's `npm ci` filled (`--prefer-offline`) and `--ignore-scripts`:
 * better-sqlite3's install script would compile it again (about a minute); the workspace's build of the same
 * version is copied in instead (or, for another version, `npm rebuild` compiles it), so `sync` runs too.
 */

const root = fileURLToPath(new URL("../../..", import.meta.url))
const packageNames = ["core", "simulator", "sync", "node", "cli"] as const
const workspaceModules = path.join(root, "node_modules")
const exec = promisify(execFile)

/** The environment of the commands run in the project: no VPP_* of this machine, no npm settings of the running `npm test`. */
const environment = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("VPP_")) continue
    // npm passes its lifecycle's settings down (npm_config_local_prefix is this workspace); keep only the user's.
    if (key.startsWith("npm_") && !["npm_config_cache", "npm_config_nodedir", "npm_config_userconfig"].includes(key)) continue
    env[key] = value
  }
  // npx runs what the project installed, never a package of the same name fetched from the registry.
  return { ...env, npm_config_yes: "false" }
}

interface Packed {
  readonly name: string
  readonly filename: string
  readonly files: ReadonlyArray<{ readonly path: string; readonly size: number }>
}

const versionOf = (directory: string): string =>
  (JSON.parse(fs.readFileSync(path.join(directory, "package.json"), "utf8")) as { version: string }).version

const readJson = (file: string): Record<string, any> => JSON.parse(fs.readFileSync(file, "utf8"))

const temp = fs.mkdtempSync(path.join(os.tmpdir(), "vppkit-packed-"))
const project = path.join(temp, "project")
const packed = new Map<string, Packed>()

/** Runs a command in the project to its end (a non-zero exit rejects, with its output in the message). */
const inProject = (file: string, args: ReadonlyArray<string>, timeout = 60_000, env: Readonly<Record<string, string>> = {}) =>
  exec(file, [...args], { cwd: project, env: { ...environment(), ...env }, timeout, maxBuffer: 64 * 1024 * 1024 }).catch(
    (error: { message: string; stdout?: string }) => {
      throw new Error(`${error.message}${error.stdout ?? ""}`)
    }
  )

beforeAll(async () => {
  // dist/ is built: `npm test` runs tsc -b, the global setup bundles the CLI. (prepack would build it again.)
  // One npm for the five packages (--workspace each): the same tarballs as `npm pack` in each package's directory.
  const { stdout } = await exec("npm", [
    "pack",
    "--json",
    "--ignore-scripts",
    "--pack-destination",
    temp,
    ...packageNames.flatMap((name) => ["--workspace", `packages/${name}`])
  ], { cwd: root, env: environment() })
  const results = JSON.parse(stdout) as Array<Packed>
  for (const name of packageNames) {
    const result = results.find((r) => r.name === `@vppkit/${name}`)
    assert.isDefined(result, `npm pack packed no @vppkit/${name}: ${stdout}`)
    packed.set(name, result!)
  }
  assert.strictEqual(results.length, packageNames.length, stdout)
  fs.mkdirSync(project)
  fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }))
  await inProject("npm", [
    "install",
    "--prefer-offline",
    "--no-audit",
    "--no-fund",
    "--ignore-scripts",
    ...packageNames.map((name) => path.join(temp, packed.get(name)!.filename)),
    // The user's TypeScript, as the workspace has it (in the npm cache).
    `typescript@${versionOf(path.join(workspaceModules, "typescript"))}`,
    `@types/node@${versionOf(path.join(workspaceModules, "@types/node"))}`
  ], 240_000)
  const installed = path.join(project, "node_modules", "better-sqlite3")
  const built = path.join(workspaceModules, "better-sqlite3")
  if (versionOf(installed) === versionOf(built)) {
    fs.cpSync(path.join(built, "build", "Release", "better_sqlite3.node"), path.join(installed, "build", "Release", "better_sqlite3.node"))
  } else {
    await inProject("npm", ["rebuild", "better-sqlite3"], 240_000)
  }
}, 300_000)

afterAll(() => fs.rmSync(temp, { recursive: true, force: true }))

describe("the packed packages", () => {
  it("hold their build, README, LICENSE and package.json: no sources, build state or source map of the bundle", () => {
    for (const name of packageNames) {
      const files = packed.get(name)!.files.map((file) => file.path)
      for (const required of ["package.json", "README.md", "LICENSE"]) assert.include(files, required, `@vppkit/${name}`)
      for (const file of files) {
        assert.match(file, /^(package\.json|README\.md|LICENSE|dist\/.+\.(js|d\.ts|js\.map))$/, `@vppkit/${name}: ${file}`)
      }
      assert.isTrue(files.includes(name === "cli" ? "dist/vppkit.js" : "dist/index.js"), `@vppkit/${name}: ${files.join(" ")}`)
    }
    // The CLI is its bundle: vppkit.js and every chunk it loads (those of this build, no other); its tsc output (the
    // bundle's input) is not published.
    const chunks = fs.readdirSync(chunkDir).map((file) => `dist/vppkit-chunks/${file}`)
    assert.isAbove(chunks.length, 1)
    assert.deepStrictEqual(
      packed.get("cli")!.files.map((file) => file.path).filter((file) => file.startsWith("dist/")).sort(),
      ["dist/vppkit.js", ...chunks].sort()
    )
  })

  it("declare effect and @effect/* as peers of the libraries; the CLI needs only better-sqlite3 beside its bundle", () => {
    for (const name of ["core", "simulator", "sync", "node"]) {
      const manifest = readJson(path.join(project, "node_modules", "@vppkit", name, "package.json"))
      assert.strictEqual(manifest.main, "./dist/index.js")
      assert.strictEqual(manifest.types, "./dist/index.d.ts")
      assert.strictEqual(manifest.license, "MIT")
      assert.isString(manifest.engines?.node)
      assert.strictEqual(manifest.exports["./internal/*"], null)
      const dependencies = Object.keys(manifest.dependencies ?? {})
      assert.deepStrictEqual(dependencies.filter((dependency) => dependency === "effect" || dependency.startsWith("@effect/") || dependency.startsWith("@vppkit/")), [], `@vppkit/${name}`)
      assert.isString(manifest.peerDependencies?.effect, `@vppkit/${name}`)
    }
    const cli = readJson(path.join(project, "node_modules", "@vppkit", "cli", "package.json"))
    assert.deepStrictEqual(Object.keys(cli.dependencies), ["better-sqlite3"])
    assert.isString(cli.engines?.node)
    // One effect in the project: nothing installed a second copy under a package of its own.
    const copies = fs.readdirSync(path.join(project, "node_modules"), { recursive: true, encoding: "utf8" })
      .filter((entry) => entry.endsWith(`node_modules${path.sep}effect`))
    assert.deepStrictEqual(copies, [])
  })

  it("npx vppkit --version, then list and sync against the installed vppkit mock-server", async () => {
    const { stdout: version } = await inProject("npx", ["vppkit", "--version"])
    assert.include(version, readJson(path.join(root, "packages", "cli", "package.json")).version)

    const tokenFile = path.join(project, "mock.token")
    await withMockServer(tokenFile, async (baseUrl) => {
      const connect = ["--token-file", tokenFile, "--base-url", baseUrl]
      // The bin npx found above, run as a shell would run it (npx alone costs a second of npm).
      const vppkit = path.join(project, "node_modules", ".bin", "vppkit")
      const { stdout } = await inProject(vppkit, ["list", "assignments", "--format", "ndjson", "--quiet", ...connect])
      const records = stdout.trim().split("\n").map((line) => JSON.parse(line) as { adamId: string })
      assert.strictEqual(records.length, 45)
      assert.isString(records[0]!.adamId)

      const db = path.join(project, "vpp.sqlite")
      await inProject(vppkit, ["sync", "--resources", "assignments", "--db", db, "--quiet", ...connect])
      const { stdout: rows } = await inProject("node", [
        "--input-type=module",
        "-e",
        `import Database from "better-sqlite3"; console.log(new Database(${JSON.stringify(db)}).prepare("SELECT count(*) AS n FROM assignments").get().n)`
      ])
      assert.strictEqual(rows.trim(), "45")
    })
  })

  it("a TypeScript program using @vppkit/core, @vppkit/simulator and @vppkit/node type-checks and runs; internals are not importable", async () => {
    fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "out", types: ["node"] },
      files: ["main.ts"]
    }))
    fs.writeFileSync(
      path.join(project, "main.ts"),
      `import { PageIndex, VppError } from "@vppkit/core"
import * as Traversal from "@vppkit/core/Traversal"
import { NodeVppClient, SimulatorServer } from "@vppkit/node"
import { Simulator } from "@vppkit/simulator"
import { Chunk, Effect, Layer, Stream } from "effect"
// @ts-expect-error: not part of the package's API
import type {} from "@vppkit/core/internal/envelope"

const program = Effect.gen(function*() {
  const assignments = yield* PageIndex.assignments().records.pipe(Stream.runCollect)
  const users: Traversal.Outcome = yield* PageIndex.users().run()
  return { assignments: Chunk.size(assignments), users: users.records }
}).pipe(
  Effect.catchIf((error) => error instanceof VppError.AuthError, () => Effect.succeed("refused"))
)

// The server of VPP_BASE_URL (vppkit mock-server), then the simulator served in this process.
const simulated = SimulatorServer.layerClient().pipe(
  Layer.provideMerge(SimulatorServer.layer({ records: { assignments: 30, users: 7 }, pageSize: 4 }))
)
const fromEnvironment = await Effect.runPromise(program.pipe(Effect.provide(NodeVppClient.layerConfig())))
const inProcess = await Effect.runPromise(program.pipe(Effect.provide(simulated)))
// The simulator in memory, no socket: the layer tests use.
const inMemory = await Effect.runPromise(program.pipe(Effect.provide(Simulator.layerTest({ records: { assignments: 12, users: 3 } }))))
console.log(JSON.stringify({ fromEnvironment, inProcess, inMemory }))
`
    )
    // The project's tsc (node_modules/.bin, what npx would run).
    await inProject(path.join(project, "node_modules", ".bin", "tsc"), ["-p", "."], 120_000)

    const tokenFile = path.join(project, "program.token")
    await withMockServer(tokenFile, async (baseUrl) => {
      const { stdout } = await inProject("node", ["out/main.js"], 60_000, { VPP_TOKEN_FILE: tokenFile, VPP_BASE_URL: baseUrl })
      assert.deepStrictEqual(JSON.parse(stdout), { fromEnvironment: { assignments: 45, users: 20 }, inProcess: { assignments: 30, users: 7 }, inMemory: { assignments: 12, users: 3 } })
    })

    const internal = await inProject("node", ["--input-type=module", "-e", `import("@vppkit/core/internal/envelope").then(() => console.log("imported"), (error) => console.log(error.code))`])
    assert.strictEqual(internal.stdout.trim(), "ERR_PACKAGE_PATH_NOT_EXPORTED")
    // its steps have their own limits (the type-check alone up to 120 s on a loaded machine)
  }, 180_000)
})

/** Runs `vppkit mock-server` of the installed package (its bin, as a shell finds it) for the duration of `use`. */
const withMockServer = async (tokenFile: string, use: (baseUrl: string) => Promise<void>): Promise<void> => {
  const child: ChildProcess = spawn(
    path.join(project, "node_modules", ".bin", "vppkit"),
    ["mock-server", "--port", "0", "--write-token", tokenFile, "--assignments", "45", "--users", "20", "--page-size", "10"],
    { cwd: project, env: environment(), stdio: ["ignore", "pipe", "pipe"] }
  )
  try {
    const baseUrl = await new Promise<string>((resolve, reject) => {
      let output = ""
      const timer = setTimeout(() => reject(new Error(`mock-server printed no base URL within 20 s: ${output}`)), 20_000)
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        output += chunk
        const match = /export VPP_BASE_URL=(\S+)/.exec(output)
        if (match !== null) {
          clearTimeout(timer)
          resolve(match[1]!)
        }
      })
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
      child.on("exit", (code) => reject(new Error(`mock-server exited (${code}): ${output}`)))
    })
    await use(baseUrl)
  } finally {
    child.kill("SIGKILL")
  }
}
