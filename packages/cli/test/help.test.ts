import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import { temporaryDirectorySync } from "./helpers/cli.js"
import { binPath, environment, runBin } from "./support/bin.js"

/**
 * Help, version, parse errors and shell completions of the built bin, as a user meets them: through a pipe,
 * and on a terminal (a pseudo-terminal made by util-linux `script`).
 */

const escape = "\u001b["
const commands = ["list", "sync", "locations", "token", "mock-server", "demo", "fleet"] as const

const temp = temporaryDirectorySync()
afterAll(() => temp.remove())

/** Runs the bin on a pseudo-terminal (stdin, stdout and stderr are the terminal); answers what it printed. */
const onTerminal = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) => {
  const command = [process.execPath, binPath, ...args].map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(" ")
  const childEnvironment = environment({ COLUMNS: "80", LINES: "24", TERM: "xterm-256color", ...env })
  if (env.NO_COLOR === undefined) delete childEnvironment.NO_COLOR
  const result = spawnSync("script", ["-q", "-e", "-c", command, "/dev/null"], {
    env: childEnvironment,
    encoding: "utf8",
    timeout: 20_000
  })
  return { code: result.status, output: result.stdout }
}

/**
 * `vppkit … --help` (and `vppkit --help`), run once per file for the same arguments: help is the same text each
 * time, and several tests read the same page (each run is a Node process).
 */
const helpRuns = new Map<string, ReturnType<typeof runBin>>()
const helpPage = (args: ReadonlyArray<string>): ReturnType<typeof runBin> => {
  const key = JSON.stringify(args)
  if (!helpRuns.has(key)) helpRuns.set(key, runBin(args))
  return helpRuns.get(key)!
}

/** Asserts a usage failure: exit 2, nothing on stdout, exactly one line on stderr (no blank line after it). */
const assertUsageLine = (result: { code: number | null; stdout: string; stderr: string }, args: ReadonlyArray<string>) => {
  const where = `vppkit ${args.join(" ")}\nstderr: ${JSON.stringify(result.stderr)}`
  assert.strictEqual(result.code, 2, where)
  assert.strictEqual(result.stdout, "", where)
  assert.match(result.stderr, /^vppkit: [^\n]+\n$/, where)
  assert.notInclude(result.stderr, escape, where)
  return result.stderr.trimEnd()
}

describe("help (built bin, piped)", () => {
  for (const args of [["--help"], ...commands.map((command) => [command, "--help"])]) {
    it(`vppkit ${args.join(" ")}: plain, usage names vppkit, no boilerplate, examples`, async () => {
      const result = await helpPage(args)
      const where = `vppkit ${args.join(" ")}\n${result.stdout}`
      assert.strictEqual(result.code, 0, where)
      assert.strictEqual(result.stderr, "", where)
      assert.notInclude(result.stdout, escape, where)
      const command = args.length === 2 ? args[0]! : "<command>"
      assert.match(result.stdout, new RegExp(`^Usage:\\n  vppkit ${command}`, "m"), where)
      assert.notMatch(result.stdout, /^\$ /m, where)
      for (const boilerplate of [
        "A user-defined piece of text.",
        "An integer.",
        "A true or false value.",
        "A floating point number.",
        "This setting is optional",
        "may be repeated"
      ]) {
        assert.notInclude(result.stdout, boilerplate, where)
      }
      assert.match(result.stdout, /^Examples:\n {2}vppkit /m, where)
      // (list --help was 294 lines, the framework's layout)
      assert.isBelow(result.stdout.split("\n").length, 80, where)
    })
  }

  it("vppkit --help lists every command with its summary", async () => {
    const result = await helpPage(["--help"])
    for (const command of commands) assert.match(result.stdout, new RegExp(`^  ${command} +\\S`, "m"), result.stdout)
  })

  it("vppkit list --help lists the resources, and says where each one's filters are", async () => {
    const result = await helpPage(["list", "--help"])
    for (const resource of ["assets", "assignments", "users", "legacy-users"]) {
      assert.match(result.stdout, new RegExp(`^  ${resource} +\\S`, "m"), result.stdout)
    }
    assert.include(result.stdout, "vppkit list <resource> --help")
    assert.notInclude(result.stdout, "--active-only", result.stdout)
  })

  it("vppkit list users --help shows users' filters, not assets' ones, and is short", async () => {
    const result = await helpPage(["list", "users", "--help"])
    const where = result.stdout
    assert.strictEqual(result.code, 0, where)
    assert.match(result.stdout, /^Usage:\n {2}vppkit list users /m, where)
    for (const flag of ["--active-only", "--retired-only", "--client-user-id"]) assert.include(result.stdout, flag, where)
    for (const flag of ["--product-type", "--pricing-param", "--include-retired-only", "--serial-number"]) {
      assert.notInclude(result.stdout, flag, where)
    }
    assert.isBelow(result.stdout.split("\n").length, 70, where)
    // users is incremental: its help says so; assets' does not.
    assert.include(result.stdout, "--checkpoint")
    const assets = await helpPage(["list", "assets", "--help"])
    assert.include(assets.stdout, "--product-type")
    assert.notInclude(assets.stdout, "--active-only")
    assert.notInclude(assets.stdout, "--checkpoint")
  })

  it("a once-only filter does not say it repeats; an array filter does", async () => {
    const users = await helpPage(["list", "users", "--help"])
    const activeOnly = users.stdout.split("\n").find((line) => line.includes("--active-only"))!
    assert.notMatch(activeOnly, /repeat/, activeOnly)
    const subscriptions = await helpPage(["list", "subscriptions", "--help"])
    assert.match(subscriptions.stdout, /--adam-id N[^\n]*repeat/, subscriptions.stdout)
  })

  it("vppkit help <command> is <command> --help; vppkit help is --help", async () => {
    for (const args of [["list"], ["list", "users"], ["sync"], ["mock-server"]]) {
      const help = await runBin(["help", ...args])
      const flag = await helpPage([...args, "--help"])
      assert.strictEqual(help.code, 0, help.stderr)
      assert.strictEqual(help.stdout, flag.stdout)
    }
    assert.strictEqual((await runBin(["help"])).stdout, (await helpPage(["--help"])).stdout)
    const unknown = await runBin(["help", "lsit"])
    assert.match(assertUsageLine(unknown, ["help", "lsit"]), /did you mean list\?/)
  })

  it("-V, --version and vppkit version print the version", async () => {
    for (const args of [["-V"], ["--version"], ["version"]]) {
      const result = await runBin(args)
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stdout, "0.1.0\n", args.join(" "))
      assert.strictEqual(result.stderr, "")
    }
  })
})

describe("parse errors (built bin, piped)", () => {
  it("an unknown command: one line, vppkit: prefix, did you mean", async () => {
    const result = await runBin(["lsit", "users"])
    const line = assertUsageLine(result, ["lsit", "users"])
    assert.match(line, /^vppkit: unknown command "lsit": did you mean list\?/)
  })

  it("an unknown command without a close match names the commands", async () => {
    const line = assertUsageLine(await runBin(["frobnicate"]), ["frobnicate"])
    assert.match(line, /^vppkit: unknown command "frobnicate" \(commands: list, sync, locations, token, mock-server, demo, fleet[;)]/)
  })

  it("an unknown flag: did you mean the close one", async () => {
    const line = assertUsageLine(await runBin(["list", "users", "--formt", "csv"]), ["list", "users", "--formt"])
    assert.match(line, /^vppkit: list: unknown flag --formt: did you mean --format\?/)
    const sync = assertUsageLine(await runBin(["sync", "--ful"]), ["sync", "--ful"])
    assert.match(sync, /^vppkit: sync: unknown flag --ful: did you mean --full\?/)
  })

  it("an unexpected argument is named", async () => {
    const line = assertUsageLine(await runBin(["list", "users", "extra"]), ["list", "users", "extra"])
    assert.match(line, /^vppkit: list: unexpected argument "extra"/)
  })

  it("a missing resource says what to list", async () => {
    const line = assertUsageLine(await runBin(["list"]), ["list"])
    assert.match(line, /^vppkit: list: which resource\? one of assets, assignments, users, .*legacy-users/)
  })

  for (
    const [args, says] of [
      [["sync", "--concurrency", "0.5"], /^vppkit: --concurrency "0\.5": expected a whole number$/],
      [["list", "users", "--max-requests-per-second", "1.5"], /^vppkit: --max-requests-per-second "1\.5": expected a whole number$/],
      [["mock-server", "--fault-rate", "x"], /^vppkit: --fault-rate "x": expected a number$/],
      [["mock-server", "--pages", "foo"], /^vppkit: --pages "foo": expected one of live, snapshot$/],
      [["--completions", "tcsh"], /^vppkit: --completions "tcsh": expected one of bash, zsh, fish$/]
    ] as const
  ) {
    it(`vppkit ${args.join(" ")}: the flag and the value, in English`, async () => {
      const line = assertUsageLine(await runBin(args), args)
      assert.notInclude(line, "a integer")
      assert.match(line, says)
    })
  }
})

describe("colour (built bin)", () => {
  it("on a terminal, help is in colour; under NO_COLOR it is not", () => {
    const coloured = onTerminal(["list", "--help"])
    assert.strictEqual(coloured.code, 0, coloured.output)
    assert.include(coloured.output, escape, "a terminal gets colour")
    const plain = onTerminal(["list", "--help"], { NO_COLOR: "1" })
    assert.strictEqual(plain.code, 0, plain.output)
    assert.notInclude(plain.output, escape, plain.output)
    assert.include(plain.output, "Usage:")
  })

  it("on a terminal of 80 columns, help fills them and no more", () => {
    const result = onTerminal(["token", "--help"], { NO_COLOR: "1" })
    const lines = result.output.replace(/\r/g, "").split("\n")
    for (const line of lines) assert.isAtMost(line.length, 80, line)
    assert.isAbove(lines[0]!.length, 70, lines[0])
  })

  it("a parse error under NO_COLOR on a terminal is plain text", () => {
    const result = onTerminal(["lsit"], { NO_COLOR: "1" })
    assert.strictEqual(result.code, 2, result.output)
    assert.notInclude(result.output, escape, result.output)
    assert.match(result.output, /^vppkit: unknown command "lsit": did you mean list\?/)
  })
})

describe("completions (built bin)", () => {
  const bashScript = path.join(temp.dir, "vppkit.bash")

  /** Sources the generated bash completion, completes `words` (the last one is the word being typed). */
  const complete = (words: ReadonlyArray<string>): Array<string> => {
    const quoted = words.map((word) => `'${word}'`).join(" ")
    const program = [
      `source '${bashScript}'`,
      `COMP_WORDS=(${quoted})`,
      `COMP_CWORD=${words.length - 1}`,
      `COMP_LINE='${words.join(" ")}'`,
      `COMP_POINT=\${#COMP_LINE}`,
      `_vppkit_bash_completions vppkit '${words[words.length - 1]}' '${words[words.length - 2] ?? ""}'`,
      `printf '%s\\n' "\${COMPREPLY[@]}"`
    ].join("\n")
    const result = spawnSync("bash", ["--norc", "--noprofile", "-c", program], { encoding: "utf8", cwd: os.tmpdir() })
    assert.strictEqual(result.status, 0, result.stderr)
    return result.stdout.split("\n").filter((line) => line.length > 0)
  }

  it("vppkit --completions bash prints a script bash accepts", async () => {
    const result = await runBin(["--completions", "bash"])
    assert.strictEqual(result.code, 0, result.stderr)
    fs.writeFileSync(bashScript, result.stdout)
    const check = spawnSync("bash", ["-n", bashScript], { encoding: "utf8" })
    assert.strictEqual(check.status, 0, check.stderr)
  })

  it("bash: mock-server's options", () => {
    const offered = complete(["vppkit", "mock-server", "--"])
    for (const flag of ["--port", "--fault-rate", "--write-token", "--churn-every"]) assert.include(offered, flag, offered.join(" "))
  })

  it("bash: locations' options and its formats; mock-server's --tokens", () => {
    assert.include(complete(["vppkit", "loc"]), "locations")
    const offered = complete(["vppkit", "locations", "--"])
    for (const flag of ["--db", "--format", "--quiet"]) assert.include(offered, flag, offered.join(" "))
    assert.deepStrictEqual(complete(["vppkit", "locations", "--format", ""]).sort(), ["csv", "json", "ndjson", "table", "wide"])
    assert.include(complete(["vppkit", "mock-server", "--"]), "--tokens")
  })

  it("bash: the resource names after list, then the resource's flags", () => {
    const offered = complete(["vppkit", "list", ""])
    for (const resource of ["assets", "assignments", "users", "legacy-users"]) assert.include(offered, resource, offered.join(" "))
    assert.deepStrictEqual(complete(["vppkit", "list", "leg"]), ["legacy-licenses", "legacy-users"])
    assert.deepStrictEqual(complete(["vppkit", "list", "--format", "csv", "us"]), ["users"])
    assert.include(complete(["vppkit", "list", "users", "--"]), "--format")
  })

  it("bash: the values of a flag with a fixed set of them", () => {
    assert.deepStrictEqual(complete(["vppkit", "mock-server", "--pages", ""]), ["live", "snapshot"])
    assert.deepStrictEqual(complete(["vppkit", "list", "users", "--format", ""]).sort(), ["csv", "json", "ndjson", "table", "wide"])
    // After a flag without a value, the flags again.
    assert.include(complete(["vppkit", "list", "users", "--consistent", "--"]), "--allow-drift")
  })

  it("zsh and fish: scripts that complete the commands and the resources", async () => {
    for (const shell of ["zsh", "fish"]) {
      const result = await runBin(["--completions", shell])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, "mock-server")
      assert.notInclude(result.stdout, "mock__server)")
      const resources = shell === "zsh"
        ? /\(list\)\n *_arguments [^\n]*\n *':resource:\(\(assets\\:[^']*legacy-users\\:/
        : /__fish_seen_subcommand_from list; and not __fish_seen_subcommand_from [^"]*" -f -a users -d /
      assert.match(result.stdout, resources, shell)
      // --format takes one of its values
      assert.match(result.stdout, shell === "zsh" ? /'--format\[[^\n]*:\(ndjson json csv table wide\)' \\$/m : /-l format -r -f -a "ndjson json csv table wide"/)
    }
  })
})
