import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as SToken from "@vppkit/core/SToken"
import * as SimulatorServer from "@vppkit/node/SimulatorServer"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { temporaryDirectorySync, writeToken } from "./helpers/cli.js"
import { runBin } from "./support/bin.js"

/**
 * Bad input, in one table: every row runs the built bin once and expects its exit code (0 ok, 1 other, 2 usage,
 * 3 token/auth, 4 gave up after retries) and ONE line on stderr that says what is wrong and names the thing to
 * fix — no stack trace, nothing on stdout. Some rows are also tested with their command elsewhere; this is the
 * one place that lists them all. The rows run concurrently (each is a Node process that mostly loads modules).
 */

const temp = temporaryDirectorySync()
const dir = temp.dir
const days = (n: number) => new Date(Date.now() + n * 86_400_000)
const tokenText = (expiresAt: Date, secret = "b".repeat(64)) =>
  Redacted.value(SToken.make({ secret, orgName: "Bad Input School", expiresAt }).value)

const file = (name: string, content: string, mode = 0o600) => {
  const target = path.join(dir, name)
  fs.writeFileSync(target, content, { mode })
  return target
}

// Token files.
const expiredToken = writeToken(dir, tokenText(days(-2)), "expired.vpptoken")
const strangerToken = writeToken(dir, tokenText(days(300), "0".repeat(64)), "stranger.vpptoken")
const notBase64 = file("not-base64.vpptoken", "<plist>this is not a token</plist>\n")
const notAToken = file("not-a-token.vpptoken", Buffer.from("{\"hello\":\"world\"}").toString("base64"))
const emptyToken = file("empty.vpptoken", "\n")
const unreadableToken = file("unreadable.vpptoken", tokenText(days(300)), 0o000)
// Root reads a file whatever its mode: that row cannot fail as it should, and is skipped with the reason.
const readsEverything = (() => {
  try {
    fs.readFileSync(unreadableToken)
    return true
  } catch {
    return false
  }
})()

// Checkpoint files and databases.
const badJson = file("bad.checkpoint.json", "{\"versionId\": ")
const otherResource = file("other.checkpoint.json", JSON.stringify({ versionId: "v", resource: "assignments" }))
const notADatabase = file("not-a-database.sqlite", "this is not a SQLite database, and it is long enough to have a header page\n".repeat(20))
const missingDirectory = path.join(dir, "no", "such", "directory")

// Servers: one that accepts its own token, one whose token is revoked; a loopback port nobody listens on.
const scope = Effect.runSync(Scope.make())
let connect: ReadonlyArray<string> = []
let baseUrl = ""
let revoked: ReadonlyArray<string> = []
let closedPort = 0

beforeAll(async () => {
  const served = await Effect.runPromise(Scope.extend(SimulatorServer.make({ seed: 3, pageSize: 50 }), scope))
  baseUrl = served.baseUrl
  connect = ["--token-file", writeToken(dir, served.simulator.token.value, "good.vpptoken"), "--base-url", baseUrl]
  // Subscription admins keep answering 503: a run with --retries 0 gives up at once.
  await Effect.runPromise(served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/subscriptions/admins", times: 1000 }))
  // Subscription assignments answer 503 with Retry-After: a day, longer than the retry budget: no waiting.
  await Effect.runPromise(
    served.simulator.inject({ _tag: "Unavailable", retryAfter: { seconds: 86_400 } }, { path: "/v2/subscriptions/assignments", times: 1000 })
  )
  const refusing = await Effect.runPromise(Scope.extend(SimulatorServer.make({ seed: 4, revoked: true }), scope))
  revoked = ["--token-file", writeToken(dir, refusing.simulator.token.value, "revoked.vpptoken"), "--base-url", refusing.baseUrl]
  closedPort = await new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
})

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  temp.remove()
})

interface Row {
  readonly name: string
  /** The arguments; a function for those that need the servers (known once they listen). */
  readonly args: ReadonlyArray<string> | (() => ReadonlyArray<string>)
  readonly env?: Readonly<Record<string, string>>
  readonly code: 0 | 1 | 2 | 3 | 4
  /** What the one line must say. */
  readonly says: RegExp
  /** Why the row cannot run here, if it cannot. */
  readonly skip?: string | false
}

const rows: ReadonlyArray<Row> = [
  // The sToken: exit 3.
  { name: "no token configured", args: ["list", "assets"], code: 3, says: /no sToken configured: pass --token-file PATH .*VPP_TOKEN_FILE/ },
  {
    name: "VPP_TOKEN that is not a token",
    args: ["list", "assets"],
    env: { VPP_TOKEN: "not a token" },
    code: 3,
    says: /VPP_TOKEN: its value is not a valid sToken: it is not valid Base64/
  },
  {
    name: "a token file that is not Base64",
    args: ["token", "--token-file", notBase64],
    code: 3,
    says: new RegExp(`--token-file: the content of ${notBase64} is not a valid sToken: it is not Base64 text \\(is this the right file\\?\\)`)
  },
  {
    name: "a token file with Base64 of something else",
    args: ["list", "users", "--token-file", notAToken],
    code: 3,
    says: /is not a valid sToken: it lacks the fields token, expDate and orgName/
  },
  { name: "an empty token file", args: ["sync", "--token-file", emptyToken], code: 3, says: /is not a valid sToken: it is empty/ },
  {
    name: "a token file that does not exist",
    args: ["list", "users", "--token-file", path.join(dir, "missing.vpptoken")],
    code: 3,
    says: /--token-file: cannot read .*missing\.vpptoken: no such file/
  },
  { name: "a token file that is a directory", args: ["token", "--token-file", dir], code: 3, says: /--token-file: cannot read / },
  {
    name: "a token file without read permission",
    args: ["token", "--token-file", unreadableToken],
    code: 3,
    says: /--token-file: cannot read .*unreadable\.vpptoken: permission denied/,
    skip: readsEverything && "running as root, which reads a file whatever its mode (the directory row covers an unreadable path)"
  },
  {
    name: "an expired token (list)",
    args: () => ["list", "assets", "--token-file", expiredToken, "--base-url", baseUrl],
    code: 3,
    says: /the sToken of Bad Input School expired on \d{4}-\d\d-\d\d: download a new one/
  },
  {
    name: "a token the server does not know (9622)",
    args: () => ["list", "assets", "--token-file", strangerToken, "--base-url", baseUrl],
    code: 3,
    says: /the sToken is invalid: the server does not recognise it .*9622/
  },
  {
    name: "a revoked token (9625)",
    args: () => ["list", "users", ...revoked],
    code: 3,
    says: /the sToken has been revoked: download a new one .*9625/
  },

  // The base URL: exit 2 before anything is sent; exit 4 when nothing answers.
  {
    name: "a remote base URL without HTTPS",
    args: () => ["list", "assets", connect[0]!, connect[1]!, "--base-url", "http://vpp.example.com/mdm"],
    code: 2,
    says: /--base-url must use https:\/\/ \(plain http:\/\/ is accepted only for a loopback host/
  },
  {
    name: "a malformed base URL",
    args: () => ["list", "assets", connect[0]!, connect[1]!, "--base-url", "vpp.itunes.apple.com/mdm"],
    code: 2,
    says: /--base-url is not a valid URL \(expected e\.g\. https:\/\/vpp\.itunes\.apple\.com\/mdm\)/
  },
  {
    name: "an unreachable loopback port (not retried)",
    args: () => ["list", "assets", connect[0]!, connect[1]!, "--base-url", `http://127.0.0.1:${closedPort}/mdm`],
    code: 4,
    // the first request is service/config (the rate limit Apple publishes)
    says: /^vppkit: could not reach the server at \/v2\/service\/config: connection refused by 127\.0\.0\.1:\d+ \(is the server running\?\)$/
  },
  {
    name: "a server that keeps answering 503",
    args: () => ["list", "subscription-admins", "--retries", "0", ...connect],
    code: 4,
    says: /^vppkit: gave up after retries: .*503/
  },
  {
    name: "a server that asks to retry in a day (Retry-After: 86400, past the retry budget)",
    args: () => ["list", "subscription-assignments", ...connect],
    code: 4,
    says: /^vppkit: gave up: the service is unavailable \(HTTP 503, error 9729 from \/v2\/subscriptions\/assignments\): the server asks to retry after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
  },

  // Resources, filters and options: exit 2, found before the token is read.
  { name: "an unknown command", args: ["lsit"], code: 2, says: /^vppkit: unknown command "lsit": did you mean list\?$/ },
  {
    name: "an unknown resource (list)",
    args: ["list", "licences"],
    code: 2,
    says: /unknown resource "licences": use one of assets, .*legacy-users/
  },
  {
    name: "an unknown resource (sync --resources)",
    args: ["sync", "--resources", "assets,widgets"],
    code: 2,
    says: /--resources: unknown resource "widgets": use one of assets/
  },
  { name: "a filter the resource does not have", args: ["list", "users", "--product-type", "Book"], code: 2, says: /--product-type does not apply to users/ },
  { name: "a boolean filter that is not true or false", args: ["list", "assets", "--revocable", "yes"], code: 2, says: /--revocable "yes": expected true or false/ },
  // A flag that takes a value but has none: a usage error, never a dropped filter or option.
  { name: "a filter flag without its value at the end", args: ["list", "assets", "--adam-id"], code: 2, says: /^vppkit: --adam-id: expected a value after it/ },
  {
    name: "a filter flag followed by another flag",
    args: ["list", "assets", "--adam-id", "--format", "ndjson"],
    code: 2,
    says: /^vppkit: --adam-id: expected a value, got the flag --format/
  },
  { name: "an empty filter value", args: ["list", "assets", "--adam-id", ""], code: 2, says: /^vppkit: --adam-id: expected a value, got an empty one/ },
  { name: "--since without its value", args: ["list", "users", "--since"], code: 2, says: /^vppkit: --since: expected a value after it/ },
  {
    name: "an empty --resources (sync, with a server that would answer)",
    args: () => ["sync", "--db", path.join(dir, "empty-resources.sqlite"), "--resources", "", ...connect],
    code: 2,
    says: /^vppkit: --resources: expected a value, got an empty one/
  },
  { name: "--resources without its value (sync)", args: ["sync", "--db", "x.sqlite", "--resources"], code: 2, says: /^vppkit: --resources: expected a value after it/ },
  { name: "an unknown --format", args: ["list", "users", "--format", "xml"], code: 2, says: /--format "xml": expected one of ndjson, json, csv, table/ },
  { name: "--concurrency out of range (list)", args: ["list", "users", "--concurrency", "9"], code: 2, says: /--concurrency "9": expected a whole number from 1 to 5/ },
  { name: "--since on a resource without deltas", args: ["list", "assets", "--since", "v1"], code: 2, says: /--since: Apple's API has no incremental query for assets/ },

  // Files: the database and checkpoint files.
  {
    name: "a database in a missing directory",
    args: () => ["sync", "--db", path.join(missingDirectory, "vppkit.sqlite"), ...connect],
    code: 2,
    says: new RegExp(`--db .*vppkit\\.sqlite: directory ${missingDirectory} does not exist`)
  },
  {
    name: "a database file that is not a database",
    args: () => ["sync", "--db", notADatabase, ...connect],
    code: 1,
    says: /not-a-database\.sqlite.*file is not a database/
  },
  {
    name: "a checkpoint file with bad JSON",
    args: ["list", "users", "--checkpoint", badJson],
    code: 2,
    says: new RegExp(`--checkpoint ${badJson}: not JSON \\(expected \\{"versionId": "…"\\}\\): fix it, or delete it for a full run`)
  },
  {
    name: "a checkpoint file of another resource",
    args: ["list", "users", "--checkpoint", otherResource],
    code: 2,
    says: /it is the checkpoint of assignments, not users: use one checkpoint file per resource/
  },
  {
    name: "a checkpoint file in a missing directory",
    args: ["list", "users", "--checkpoint", path.join(missingDirectory, "users.json")],
    code: 2,
    says: /--checkpoint .*users\.json: cannot use the directory .*: no such file or directory/
  },
  {
    name: "a checkpoint the server refuses (9721)",
    args: () => ["list", "users", "--since", "not-a-version-id", ...connect],
    code: 1,
    says: /users: the server no longer accepts the checkpoint \(9721\): list without --since for every record/
  },
  {
    name: "a legacy checkpoint the server refuses (9602)",
    args: () => ["list", "legacy-users", "--since", "not-a-token", ...connect],
    code: 1,
    says: /legacy-users: the server no longer accepts the checkpoint \(9602\): list without --since for every record/
  }
]

describe.concurrent("bad input: one actionable line on stderr and the exit code of its kind (the built bin)", () => {
  for (const row of rows) {
    const title = `${row.name} → exit ${row.code}${row.skip ? ` (skipped: ${row.skip})` : ""}`
    it.skipIf(Boolean(row.skip))(title, async () => {
      const args = typeof row.args === "function" ? row.args() : row.args
      const result = await runBin(args, row.env === undefined ? {} : { env: row.env })
      const where = `vppkit ${args.join(" ")}\nexit ${result.code}\nstderr: ${result.stderr}`
      assert.strictEqual(result.code, row.code, where)
      assert.strictEqual(result.stdout, "", `nothing on stdout: ${where}`)
      const lines = result.stderr.trimEnd().split("\n")
      assert.strictEqual(lines.length, 1, `one line: ${where}`)
      assert.notMatch(result.stderr, /^\s+at |\bError:|node:internal/m, `no stack trace: ${where}`)
      assert.match(lines[0]!, row.says, where)
    })
  }
})
