/**
 * Item 9 (issue 17, goal 5) — start-up: `node packages/cli/dist/vppkit.js --version` against `node -e 0`, the
 * cost of Node itself, each run 20 times, interleaved (one of each in turn, so that the machine's load weighs
 * on both alike); the figure is the ratio of the medians. For context, the same for `--help` (the command line
 * and its help) and for `token --token-file F` (a command that runs: the settings read, no request), and how
 * much of the bundle `--version` loads (the file and the chunks it imports statically, not those it may
 * `import()` later).
 */
import * as SToken from "@vppkit/core/SToken"
import * as Redacted from "effect/Redacted"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { ms, ratio } from "../internal/format.js"
import { cliBin, rootDir, tmpDir } from "../internal/paths.js"
import { type Section, table } from "../internal/report.js"

const title = "Start-up: `vppkit --version` vs `node -e 0`"

const rounds = 20
const warmUp = 2
const goal = 2.5

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Runs `node …args` to its end and answers its wall time; a failing run fails the item. */
const time = (args: ReadonlyArray<string>): number => {
  const started = performance.now()
  const result = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" })
  const millis = performance.now() - started
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} exited ${result.status}: ${result.stderr}`)
  return millis
}

/** The bytes of `file` and of every module it imports statically, transitively (relative imports only). */
const loadedBytes = (file: string, seen: Set<string> = new Set()): number => {
  if (seen.has(file)) return 0
  seen.add(file)
  const text = fs.readFileSync(file, "utf8")
  let bytes = Buffer.byteLength(text)
  // `import{a}from"./x.js"` and `import"./x.js"`; not `import("./x.js")`, loaded only when a command runs.
  for (const match of text.matchAll(/(?:\bfrom|\bimport)\s*["'](\.{1,2}\/[^"']+)["']/g)) {
    bytes += loadedBytes(path.resolve(path.dirname(file), match[1]!), seen)
  }
  return bytes
}

/** Every file of the bundle: the bin and the chunks beside it (a single-file bundle has none). */
const bundleBytes = (): number => {
  const chunks = path.join(path.dirname(cliBin), "vppkit-chunks")
  const files = fs.existsSync(chunks) ? fs.readdirSync(chunks).map((name) => path.join(chunks, name)) : []
  return [cliBin, ...files].reduce((sum, file) => sum + fs.statSync(file).size, 0)
}

const kb = (bytes: number) => `${Math.round(bytes / 1000).toLocaleString("en-US")} kB`

export const run = async (log: (line: string) => void): Promise<Section> => {
  const tokenFile = path.join(tmpDir(), "startup.token")
  const token = SToken.make({ secret: "bench-startup", orgName: "Bench School", expiresAt: new Date(Date.now() + 365 * 86_400_000) })
  fs.writeFileSync(tokenFile, Redacted.value(token.value), { mode: 0o600 })
  const commands = [
    { name: "`node -e 0`", args: ["-e", "0"] },
    { name: "`vppkit --version`", args: [cliBin, "--version"] },
    { name: "`vppkit --help`", args: [cliBin, "--help"] },
    { name: "`vppkit token --token-file F`", args: [cliBin, "token", "--token-file", tokenFile] }
  ]
  const times = commands.map(() => [] as Array<number>)
  for (let round = 0; round < warmUp + rounds; round++) {
    commands.forEach((command, i) => {
      const millis = time(command.args)
      if (round >= warmUp) times[i]!.push(millis)
    })
  }
  const medians = times.map(median)
  const node = medians[0]!
  const versionRatio = medians[1]! / node
  log(`--version ${ms(medians[1]!)} vs node -e 0 ${ms(node)}: ${ratio(versionRatio)}`)
  const loaded = loadedBytes(cliBin)
  const total = bundleBytes()
  return {
    id: "9",
    title,
    figures: [
      { label: "`node -e 0`, median", value: ms(node) },
      { label: "`vppkit --version`, median", value: ms(medians[1]!) },
      { label: "`vppkit --version` / `node -e 0`", value: ratio(versionRatio), goal: `≤ ${goal}`, met: versionRatio <= goal },
      { label: "`vppkit --help` / `node -e 0` (context)", value: ratio(medians[2]! / node) },
      { label: "`vppkit token --token-file F` (offline) / `node -e 0` (context)", value: ratio(medians[3]! / node) },
      { label: "code `--version` loads, of the whole bundle (context)", value: `${kb(loaded)} of ${kb(total)}` }
    ],
    details: [
      `Each command run ${rounds} times (after ${warmUp} rounds not counted), interleaved: a round runs each once, ` +
      "in the order below, as a child process timed from spawn to exit. The figures are medians; the ratio is the " +
      "goal of issue 17 (goal 5). The CLI is `" + path.relative(rootDir, cliBin) + "`, as `npm run build` bundles it; " +
      "`token` reads a token file written for the run (no request is made).",
      table(
        ["command", "median", "/ `node -e 0`", "fastest", "slowest"],
        commands.map((command, i) => [
          command.name,
          ms(medians[i]!),
          ratio(medians[i]! / node),
          ms(Math.min(...times[i]!)),
          ms(Math.max(...times[i]!))
        ])
      ),
      `\`--version\` loads ${kb(loaded)}: \`vppkit.js\` and the chunks it imports statically; the bundle holds ` +
      `${kb(total)} (packages/cli/scripts/bundle.mjs splits it so that a command loads its own work when it runs).`
    ]
  }
}
