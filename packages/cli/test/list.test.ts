import { assert, describe, it } from "@effect/vitest"
import type * as Simulator from "@vppkit/simulator/Simulator"
import * as SToken from "@vppkit/core/SToken"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Resources from "../src/Resources.js"
import { assertFailure, canonicalSet, run, serve, type Served, writeToken } from "./helpers/cli.js"
import { parseCsv } from "./helpers/csv.js"

const briefFields = (name: string) => Either.getOrThrow(Resources.byName(name)).briefFields.map((field) => field.name)

/**
 * `vppkit list` end to end: the built bin in a child process against the simulator served on 127.0.0.1.
 */

const settings: Simulator.Settings = {
  seed: 7,
  pageSize: 7,
  records: { assets: 12, unlimitedAssets: 3, users: 40, assignments: 90 },
  subscriptions: { subscriptions: 9, assignments: 30, admins: 5 }
}

// The legacy services cut batches by the same page size; a licence per slot of every asset makes thousands,
// which small batches would make slow (the client keeps to 15 requests a second).
const legacySettings: Simulator.Settings = { seed: 8, pageSize: 400, records: { assets: 4, users: 30, assignments: 60 } }

const resource = (name: string) => Either.getOrThrow(Resources.byName(name))

/** What the simulator holds for a resource, as Apple's JSON renders it (no filters). */
const expected = (simulator: Simulator.Service, name: Resources.Name): Effect.Effect<ReadonlyArray<unknown>> =>
  simulator.recordsAsSynced(resource(name).descriptor)

// Every legacy user, retired ones included, as simulator.legacy.records("users") has them; unlimited free assets
// from Apple's unlimitedAssets array, marked unlimited, as a sync asks for them.
const extraArgs: Partial<Record<Resources.Name, ReadonlyArray<string>>> = {
  "legacy-users": ["--include-retired", "true"],
  assets: ["--unlimited", "true"]
}

/** A cell as the CSV and table formats show it, written independently of the implementation. */
const cellText = (value: unknown): string =>
  value === undefined || value === null ? "" : typeof value === "object" ? JSON.stringify(value) : String(value)

const expectedRows = (name: Resources.Name, records: ReadonlyArray<unknown>): Array<string> =>
  records.map((record) =>
    JSON.stringify(resource(name).fields.map((field) => cellText((record as Record<string, unknown>)[field.name])))
  ).sort()

/**
 * A table's line as the words it shows (a table's columns are separated by spaces, and values may hold spaces
 * or be empty: the words, in order, are what can be compared without the widths).
 */
const words = (line: string) => line.split(/\s+/).filter((word) => word.length > 0)

/** The words of the cells of a row, as a wide table (nothing cut) shows them. */
const rowWords = (cells: ReadonlyArray<string>) => words(cells.join(" ").replace(/[\u0000-\u001f\u007f-\u009f]/g, " "))

/** Parses a format's output into records (ndjson, json) or header and rows (csv: cells; tables: words). */
const parse = (format: string, stdout: string) => {
  switch (format) {
    case "ndjson":
      return { records: stdout.split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line) as unknown) }
    case "json":
      return { records: JSON.parse(stdout) as Array<unknown> }
    case "csv": {
      const [header, ...rows] = parseCsv(stdout)
      return { header, rows: rows.map((row) => JSON.stringify(row)).sort() }
    }
    default: {
      const [header, ...rows] = stdout.split("\n").filter((line) => line.length > 0)
      return { header: words(header ?? ""), rows: rows.map((row) => JSON.stringify(words(row))).sort(), lines: [header!, ...rows] }
    }
  }
}

const formats = ["ndjson", "json", "csv", "table", "wide"] as const

/** Lists each resource in each format, a few processes at a time, and compares the output with the simulator. */
const listEvery = (cases: ReadonlyArray<{ readonly served: Served; readonly name: Resources.Name }>) =>
  Effect.forEach(
    cases.flatMap((c) => formats.map((format) => ({ ...c, format }))),
    ({ format, name, served }, i) =>
      Effect.gen(function*() {
        const extra = [...(extraArgs[name] ?? []), ...served.connect]
        // Options after the resource, before it, and in the --flag=value form.
        const args = i % 3 === 0
          ? ["list", name, "--format", format, ...extra]
          : i % 3 === 1
          ? ["list", "--format", format, ...extra, name]
          : ["list", `--format=${format}`, name, ...extra]
        const result = yield* run(args)
        const where = `vppkit ${args.join(" ")}\n${result.stderr}`
        assert.strictEqual(result.code, 0, where)
        const records = yield* expected(served.simulator, name)
        assert.isAbove(records.length, 0)
        const output = parse(format, result.stdout)
        if (output.records !== undefined) {
          assert.deepStrictEqual(canonicalSet(output.records), canonicalSet(records), where)
        } else if (format === "table") {
          // Into a pipe, a table fits 80 columns: the resource's default columns, one line per record.
          assert.deepStrictEqual(output.header, briefFields(name), where)
          assert.strictEqual(output.rows.length, records.length, where)
          for (const line of output.lines!) assert.isAtMost(line.length, 80, where)
        } else if (format === "wide") {
          assert.deepStrictEqual(output.header, resource(name).fields.map((field) => field.name), where)
          const cells = expectedRows(name, records).map((row) => JSON.stringify(rowWords(JSON.parse(row))))
          assert.deepStrictEqual(output.rows, cells.sort(), where)
        } else {
          assert.deepStrictEqual(output.header, resource(name).fields.map((field) => field.name), where)
          assert.deepStrictEqual(output.rows, expectedRows(name, records), where)
        }
        // Not a terminal: no progress bar, only the one-line summary.
        assert.strictEqual(result.stderr.trim().split("\n").length, 1, where)
        assert.match(result.stderr, new RegExp(`^listed ${records.length.toLocaleString("en-US")} ${name} records \\(`), where)
      }),
    // Each run is a Node process that spends most of its time loading modules: about one per core.
    { concurrency: 2, discard: true }
  )

// The tests are independent (a server each) and mostly wait for child processes: they run concurrently.
describe.concurrent("vppkit list", () => {
  it.scopedLive("every resource in every format: exactly the simulator's records", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const legacy = yield* serve(legacySettings)
      yield* listEvery(Resources.names.map((name) => ({ served: name.startsWith("legacy-") ? legacy : served, name })))
    }), 180_000) // 40 processes (8 resources × 5 formats), two at a time, on a shared machine

  it.scopedLive("filters, including a repeated flag in both forms; --quiet leaves stderr empty", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const assets = (yield* served.simulator.records("assets")) as ReadonlyArray<Record<string, unknown>>
      const books = assets.filter((asset) => asset.productType === "Book")
      assert.isAbove(books.length, 0)
      assert.isBelow(books.length, assets.length)
      const filtered = yield* run(["list", "assets", "--product-type", "Book", "--format", "ndjson", "-q", ...served.connect])
      assert.strictEqual(filtered.code, 0, filtered.stderr)
      assert.strictEqual(filtered.stderr, "", "--quiet: nothing on stderr")
      assert.deepStrictEqual(canonicalSet(parse("ndjson", filtered.stdout).records!), canonicalSet(books))

      const subscriptions = (yield* served.simulator.subscriptions.records("subscriptions")) as ReadonlyArray<
        Record<string, unknown>
      >
      const chosen = [subscriptions[1]!, subscriptions[4]!]
      const args = ["list", "subscriptions", "--adam-id", String(chosen[0]!.adamId), `--adam-id=${chosen[1]!.adamId}`]
      const result = yield* run([...args, "--format", "json", "--quiet", ...served.connect])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual(canonicalSet(JSON.parse(result.stdout)), canonicalSet(chosen))
    }), 90_000)

  it.scopedLive("-o and --fields: the chosen fields in the chosen order, in every format", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const users = (yield* expected(served.simulator, "users")) as ReadonlyArray<Record<string, unknown>>
      const project = (fields: ReadonlyArray<string>) =>
        users.map((user) => Object.fromEntries(fields.filter((f) => user[f] !== undefined).map((f) => [f, user[f]])))

      const csv = yield* run(["list", "users", "-o", "csv", "--fields", "status,clientUserId", ...served.connect])
      assert.strictEqual(csv.code, 0, csv.stderr)
      const [header, ...rows] = parseCsv(csv.stdout)
      assert.deepStrictEqual(header, ["status", "clientUserId"])
      assert.deepStrictEqual(
        rows.map((row) => JSON.stringify(row)).sort(),
        users.map((user) => JSON.stringify([cellText(user["status"]), cellText(user["clientUserId"])])).sort()
      )

      // JSON: each record reduced to the fields, keys in the order given.
      const ndjson = yield* run(["list", "users", "-o", "ndjson", "--fields", "email, status", ...served.connect])
      assert.strictEqual(ndjson.code, 0, ndjson.stderr)
      const lines = ndjson.stdout.trim().split("\n")
      assert.deepStrictEqual(lines.slice().sort(), project(["email", "status"]).map((user) => JSON.stringify(user)).sort())
      const json = yield* run(["list", "users", "--format=json", "--fields=clientUserId", ...served.connect])
      assert.strictEqual(json.code, 0, json.stderr)
      assert.deepStrictEqual(canonicalSet(JSON.parse(json.stdout)), canonicalSet(project(["clientUserId"])))

      for (const format of ["table", "wide"]) {
        const table = yield* run(["list", "users", "-o", format, "--fields", "email,clientUserId", ...served.connect])
        assert.strictEqual(table.code, 0, table.stderr)
        const output = parse(format, table.stdout)
        assert.deepStrictEqual(output.header, ["email", "clientUserId"])
        assert.deepStrictEqual(
          output.rows,
          users.map((user) => JSON.stringify(rowWords([cellText(user["email"]), cellText(user["clientUserId"])]))).sort()
        )
      }
    }), 90_000)

  it.scopedLive("--limit: stops after N records with exit 0, never as a drifted or failed run, and writes no checkpoint", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const all = yield* expected(served.simulator, "assignments")
      const file = path.join(served.directory, "assignments.json")

      // 10 of 90 records (pages of 7): the listing stops in its second page.
      const limited = yield* run(["list", "assignments", "-o", "ndjson", "--limit", "10", "--checkpoint", file, ...served.connect])
      assert.strictEqual(limited.code, 0, limited.stderr)
      const records = parse("ndjson", limited.stdout).records!
      assert.strictEqual(records.length, 10)
      assert.includeMembers(canonicalSet(all), canonicalSet(records))
      assert.strictEqual(limited.stderr.trim().split("\n").length, 1, limited.stderr)
      assert.match(limited.stderr, /^listed 10 assignments records \(2 pages, 0 retries\) in [\d.]+ s; stopped at --limit 10: /)
      assert.include(limited.stderr, `${file} was left unchanged`)
      assert.isFalse(fs.existsSync(file), "a partial listing writes no checkpoint")

      // JSON stays valid when the listing stops early.
      const json = yield* run(["list", "assignments", "-o", "json", "--limit", "3", ...served.connect])
      assert.strictEqual(json.code, 0, json.stderr)
      assert.strictEqual((JSON.parse(json.stdout) as Array<unknown>).length, 3)

      // A limit above the count: a complete listing, as without --limit (the checkpoint is written).
      const complete = yield* run(["list", "assignments", "-o", "ndjson", "--limit", "1000", "--checkpoint", file, ...served.connect])
      assert.strictEqual(complete.code, 0, complete.stderr)
      assert.deepStrictEqual(canonicalSet(parse("ndjson", complete.stdout).records!), canonicalSet(all))
      assert.notInclude(complete.stderr, "--limit")
      assert.isTrue(fs.existsSync(file))

      // Data that changes while it is read: the whole listing drifts (exit 5), a limited one just stops.
      const drifting = yield* serve({ ...settings, pageSize: 5, churn: { every: 2, resources: ["users"], inserts: 1 } })
      const drifted = yield* run(["list", "users", "-o", "ndjson", ...drifting.connect])
      assert.strictEqual(drifted.code, 5, drifted.stderr)
      const stopped = yield* run(["list", "users", "-o", "ndjson", "--limit", "12", ...drifting.connect])
      assert.strictEqual(stopped.code, 0, stopped.stderr)
      assert.strictEqual(parse("ndjson", stopped.stdout).records!.length, 12)
      assert.notMatch(stopped.stderr, /drift|changed|incomplete|warning/)
    }), 90_000)

  it.scopedLive("--unlimited true lists unlimited free assets marked unlimited; false leaves them out", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const assets = (yield* served.simulator.records("assets")) as ReadonlyArray<Record<string, unknown>>
      // Apple, without the parameter: among the others, with totalCount 2147483647
      const isUnlimited = (asset: Record<string, unknown>) => asset["totalCount"] === 2_147_483_647
      const unlimited = assets.filter(isUnlimited)
      assert.strictEqual(unlimited.length, 3)
      const list = (value: string) => run(["list", "assets", "--unlimited", value, "--format", "ndjson", "-q", ...served.connect])

      const withThem = yield* list("true")
      assert.strictEqual(withThem.code, 0, withThem.stderr)
      const records = parse("ndjson", withThem.stdout).records as ReadonlyArray<Record<string, unknown>>
      const marked = records.filter((record) => record["unlimited"] === true)
      assert.deepStrictEqual(
        canonicalSet(marked),
        canonicalSet(unlimited.map(({ availableCount: _a, retiredCount: _r, totalCount: _t, ...rest }) => ({ ...rest, unlimited: true })))
      )
      assert.strictEqual(records.length, assets.length)
      assert.isTrue((yield* served.simulator.log).some((entry) => entry.path === "/v2/assets" && entry.params["unlimited"] === "true"))

      const without = yield* list("false")
      assert.strictEqual(without.code, 0, without.stderr)
      assert.deepStrictEqual(canonicalSet(parse("ndjson", without.stdout).records!), canonicalSet(assets.filter((a) => !isUnlimited(a))))
    }), 90_000)

  it.scopedLive("a boolean filter flag alone means true, at the end of the line or before another flag", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const users = (yield* served.simulator.records("users")) as ReadonlyArray<Record<string, unknown>>
      const active = users.filter((user) => user.status !== "Retired")
      assert.isAbove(active.length, 0)
      assert.isBelow(active.length, users.length, "the simulator has retired users")
      for (
        const args of [
          ["list", "users", "--format", "ndjson", ...served.connect, "--active-only"],
          ["list", "users", "--active-only", "--format", "ndjson", ...served.connect],
          ["list", "users", "--active-only", "true", "--format", "ndjson", ...served.connect]
        ]
      ) {
        const result = yield* run(args)
        assert.strictEqual(result.code, 0, `vppkit ${args.join(" ")}\n${result.stderr}`)
        assert.deepStrictEqual(canonicalSet(parse("ndjson", result.stdout).records!), canonicalSet(active), args.join(" "))
      }
      const assets = (yield* served.simulator.records("assets")) as ReadonlyArray<Record<string, unknown>>
      const revocable = assets.filter((asset) => asset.revocable === true)
      assert.isBelow(revocable.length, assets.length)
      const result = yield* run(["list", "assets", "--format", "ndjson", ...served.connect, "--revocable"])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual(canonicalSet(parse("ndjson", result.stdout).records!), canonicalSet(revocable))
    }), 90_000)

  it.scopedLive("--checkpoint: full run, delta after churn, failed runs leave the file untouched, --since", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const { simulator } = served
      const file = path.join(served.directory, "users.json")
      const list = ["list", "users", "--format", "ndjson", "--checkpoint", file, ...served.connect]

      const full = yield* run(list)
      assert.strictEqual(full.code, 0, full.stderr)
      assert.deepStrictEqual(canonicalSet(parse("ndjson", full.stdout).records!), canonicalSet(yield* simulator.records("users")))
      const first = yield* simulator.versionId("users")
      assert.deepStrictEqual(JSON.parse(fs.readFileSync(file, "utf8")), { versionId: first, resource: "users" })
      assert.include(full.stderr, `checkpoint written to ${file}`)

      yield* simulator.churn("users", { inserts: 10, updates: 5, deletes: 1 })
      const changed = yield* simulator.changedSince("users", first)
      assert.isAbove(changed.length, 7, "the delta spans pages")
      const before = fs.readFileSync(file)

      // The token is refused (9622 in a 200 body): exit 3, nothing written.
      yield* simulator.inject({ _tag: "InvalidTokenInBody" }, { path: "/v2/users" })
      assertFailure(yield* run(list), 3)
      assert.isTrue(fs.readFileSync(file).equals(before), "a refused run left the checkpoint untouched")

      // Page 1 of the delta keeps failing after page 0 was served: exit 4, nothing written.
      // (One request at a time, so that both faults meet page 1: its first attempt and its one retry.)
      yield* simulator.inject({ _tag: "Unavailable" }, { path: "/v2/users", skip: 1, times: 2 })
      const gaveUp = assertFailure(yield* run([...list, "--retries", "1", "--concurrency", "1"]), 4)
      assert.match(gaveUp, /^vppkit: gave up after retries/)
      assert.isTrue(fs.readFileSync(file).equals(before), "a failed run left the checkpoint untouched")
      yield* simulator.clearLog

      // --since with the same versionId gives the same delta, and writes no file.
      const since = yield* run(["list", "users", "--format", "ndjson", "--since", first, "-q", ...served.connect])
      assert.strictEqual(since.code, 0, since.stderr)
      const delta = yield* run(list)
      assert.strictEqual(delta.code, 0, delta.stderr)
      const got = canonicalSet(parse("ndjson", delta.stdout).records!)
      assert.deepStrictEqual(got, canonicalSet(changed))
      assert.deepStrictEqual(canonicalSet(parse("ndjson", since.stdout).records!), got)
      assert.match(delta.stderr, /changed since the checkpoint/)
      const second = yield* simulator.versionId("users")
      assert.notStrictEqual(second, first)
      assert.deepStrictEqual(JSON.parse(fs.readFileSync(file, "utf8")), { versionId: second, resource: "users" })
      // Every delta request carried the checkpoint of the file.
      const requests = (yield* simulator.log).filter((entry) => entry.path === "/v2/users")
      assert.isAbove(requests.length, 0)
      for (const entry of requests) assert.strictEqual(entry.params["sinceVersionId"], first)
      assert.deepStrictEqual(fs.readdirSync(served.directory).sort(), ["token.vpptoken", "users.json"])
    }), 90_000)

  it.scopedLive("--checkpoint with a legacy service: sinceModifiedToken round trip", () =>
    Effect.gen(function*() {
      const served = yield* serve(legacySettings)
      const file = path.join(served.directory, "licenses.json")
      const list = ["list", "legacy-licenses", "--format", "ndjson", "--checkpoint", file, "-q", ...served.connect]
      const full = yield* run(list)
      assert.strictEqual(full.code, 0, full.stderr)
      const all = yield* served.simulator.legacy.records("licenses")
      assert.strictEqual(parse("ndjson", full.stdout).records!.length, all.length)
      const first = JSON.parse(fs.readFileSync(file, "utf8"))
      assert.strictEqual(first.resource, "legacy-licenses")
      assert.isString(first.sinceModifiedToken)

      yield* served.simulator.churn("assignments", { inserts: 3 })
      const delta = yield* run(list)
      assert.strictEqual(delta.code, 0, delta.stderr)
      const records = parse("ndjson", delta.stdout).records!
      assert.isAbove(records.length, 0)
      assert.isBelow(records.length, all.length)
      const now = new Set(canonicalSet(yield* served.simulator.legacy.records("licenses")))
      for (const record of canonicalSet(records)) assert.isTrue(now.has(record), record)
      const second = JSON.parse(fs.readFileSync(file, "utf8"))
      assert.isString(second.sinceModifiedToken)
      assert.notStrictEqual(second.sinceModifiedToken, first.sinceModifiedToken)
    }), 90_000)

  it.scopedLive("a drifted pass: exit 5 naming what happened and what to do; the checkpoint is not written", () =>
    Effect.gen(function*() {
      const served = yield* serve({ ...settings, pageSize: 5, churn: { every: 2, resources: ["users"], inserts: 1 } })
      const file = path.join(served.directory, "users.json")
      const result = yield* run(["list", "users", "--format", "ndjson", "--checkpoint", file, ...served.connect])
      assert.strictEqual(result.code, 5, result.stderr)
      const lines = result.stderr.trim().split("\n")
      assert.strictEqual(lines.length, 2, result.stderr)
      assert.match(lines[0]!, /^listed \d+ users records \(/)
      assert.match(lines[1]!, /^vppkit: incomplete: users changed while they were read: records may be missing or repeated/)
      assert.include(lines[1]!, "--consistent")
      assert.include(lines[1]!, "--allow-drift")
      assert.include(lines[1]!, `${file} was left unchanged`)
      assert.notMatch(result.stderr, /^\s+at /m)
      assert.isAbove(result.stdout.length, 0, "the records read are on stdout")
      assert.isFalse(fs.existsSync(file))
    }), 90_000)

  it.scopedLive("--allow-drift: the drifted pass is a warning and exit 0, as asked", () =>
    Effect.gen(function*() {
      const served = yield* serve({ ...settings, pageSize: 5, churn: { every: 2, resources: ["users"], inserts: 1 } })
      const file = path.join(served.directory, "users.json")
      const result = yield* run(["list", "users", "--allow-drift", "--format", "ndjson", "--checkpoint", file, ...served.connect])
      assert.strictEqual(result.code, 0, result.stderr)
      const lines = result.stderr.trim().split("\n")
      assert.strictEqual(lines.length, 2, result.stderr)
      assert.match(lines[0]!, /^warning: users changed while they were read: records may be missing or repeated/)
      assert.include(lines[0]!, `${file} was left unchanged`)
      assert.match(lines[1]!, /^listed \d+ users records \(/)
      assert.isFalse(fs.existsSync(file))
    }), 90_000)

  it.scopedLive("--consistent: re-reads until a pass is consistent and writes only that pass, each record once", () =>
    Effect.gen(function*() {
      // Inserts and deletions land during the first pass only (two write batches), shifting live pages.
      const served = yield* serve({
        ...settings,
        pageSize: 5,
        churn: { every: 2, resources: ["users"], inserts: 2, deletes: 2, limit: 2 }
      })
      const spill = path.join(served.directory, "tmp")
      fs.mkdirSync(spill)
      const file = path.join(served.directory, "users.json")
      const args = ["list", "users", "--consistent", "--format", "ndjson", ...served.connect]
      const result = yield* run([...args, "--checkpoint", file], { env: { TMPDIR: spill } })
      assert.strictEqual(result.code, 0, result.stderr)
      const records = parse("ndjson", result.stdout).records!
      const server = yield* served.simulator.records("users")
      assert.deepStrictEqual(canonicalSet(records), canonicalSet(server), "exactly the server's records")
      assert.strictEqual(new Set(canonicalSet(records)).size, records.length, "each once")
      assert.match(result.stderr, /^listed \d+ users records \(.*2 passes/m)
      assert.deepStrictEqual(JSON.parse(fs.readFileSync(file, "utf8")), {
        versionId: yield* served.simulator.versionId("users"),
        resource: "users"
      })
      assert.deepStrictEqual(fs.readdirSync(spill), [], "the spill file is removed")

      // A table goes through the temporary file too.
      const table = yield* run(["list", "users", "--consistent", "-o", "table", ...served.connect], { env: { TMPDIR: spill } })
      assert.strictEqual(table.code, 0, table.stderr)
      const shown = parse("table", table.stdout)
      assert.deepStrictEqual(shown.header, briefFields("users"))
      assert.strictEqual(shown.rows!.length, server.length)

      // Writes that never stop: after --max-passes drifted passes, exit 5 and nothing on stdout.
      yield* served.simulator.setChurn({ every: 2, resources: ["users"], inserts: 1, deletes: 1 })
      const stayed = yield* run([...args, "--max-passes", "2"], { env: { TMPDIR: spill } })
      assert.strictEqual(stayed.code, 5, stayed.stderr)
      assert.strictEqual(stayed.stdout, "", "no drifted pass reaches stdout")
      assert.match(stayed.stderr, /vppkit: incomplete: users changed while they were read, in each of 2 passes/)
      assert.deepStrictEqual(fs.readdirSync(spill), [], "the spill file is removed")
    }), 90_000)

  it.scopedLive("bad input: one line on stderr, no stack trace, and the exit code of its kind", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const connect = served.connect
      const { directory } = served
      const malformed = path.join(directory, "malformed.json")
      fs.writeFileSync(malformed, "{\"versionId\":")
      const expired = writeToken(
        directory,
        SToken.make({ secret: "f".repeat(64), orgName: "Old School", expiresAt: new Date(Date.now() - 86_400_000) }).value,
        "expired.vpptoken"
      )
      yield* served.simulator.inject({ _tag: "Unavailable" }, { path: "/v2/assets", times: 20 })
      const cases: ReadonlyArray<{ readonly args: ReadonlyArray<string>; readonly code: number; readonly says: RegExp }> = [
        { args: ["list", "widgets", ...connect], code: 2, says: /unknown resource "widgets": use one of assets, .*legacy-users/ },
        { args: ["list", "assets", "--revocable", "maybe", ...connect], code: 2, says: /--revocable "maybe": expected true or false/ },
        { args: ["list", "users", "--adam-id", "1", ...connect], code: 2, says: /--adam-id does not apply to users/ },
        { args: ["list", "assets", "--since", "v1", ...connect], code: 2, says: /no incremental query for assets/ },
        {
          args: ["list", "users", "--since", "v1", "--checkpoint", malformed, ...connect],
          code: 2,
          says: /--since or --checkpoint, not both/
        },
        { args: ["list", "users", "--checkpoint", malformed, ...connect], code: 2, says: new RegExp(`${malformed}: not JSON`) },
        { args: ["list", "users", "--format", "xml", ...connect], code: 2, says: /--format "xml": expected one of ndjson, json, csv, table/ },
        { args: ["list", "users", "--concurrency", "9", ...connect], code: 2, says: /--concurrency "9": expected a whole number from 1 to 5/ },
        {
          args: ["list", "users", "--fields", "email,nope", ...connect],
          code: 2,
          says: /--fields: users has no field "nope"; users has clientUserId, email, idHash, inviteCode, status$/
        },
        { args: ["list", "users", "--fields", "email,,status", ...connect], code: 2, says: /--fields "email,,status": expected field names/ },
        { args: ["list", "users", "--fields", "email,email", ...connect], code: 2, says: /--fields: email is given twice/ },
        { args: ["list", "users", "--limit", "0", ...connect], code: 2, says: /--limit "0": expected a whole number, 1 or more/ },
        { args: ["list", "users", "--limit", "-1", ...connect], code: 2, says: /--limit "-1": expected a whole number, 1 or more/ },
        { args: ["list", "users", "--limit", "x", ...connect], code: 2, says: /--limit "x": expected a whole number, 1 or more/ },
        { args: ["list", "users", "--limit", "3", "--consistent", ...connect], code: 2, says: /give --limit or --consistent, not both/ },
        {
          args: ["list", "users", "--since", "not-a-version", ...connect],
          code: 1,
          says: /the server no longer accepts the checkpoint \(9721\): list without --since/
        },
        { args: ["list", "users"], code: 3, says: /no sToken configured/ },
        { args: ["list", "users", "--token-file", expired, "--base-url", served.server.baseUrl], code: 3, says: /expired on/ },
        { args: ["list", "assets", "--retries", "1", ...connect], code: 4, says: /^vppkit: gave up after retries/ }
      ]
      yield* Effect.forEach(cases, ({ args, code, says }) =>
        Effect.map(run(args), (result) => {
          const line = assertFailure(result, code, args)
          assert.match(line, says, `vppkit ${args.join(" ")}`)
          assert.strictEqual(result.stdout, "", "nothing on stdout")
        }), { concurrency: 2, discard: true })
      // Usage errors are found before the token is read: the only requests are those of --since and of assets
      // (each run that got that far read service/config first, for the rate limit).
      for (const entry of yield* served.simulator.log) {
        if (entry.path === "/v2/service/config") continue
        if (entry.path === "/v2/users") assert.strictEqual(entry.params["sinceVersionId"], "not-a-version")
        else assert.strictEqual(entry.path, "/v2/assets")
      }
    }), 90_000)

  it.scopedLive("large output through a pipe: complete with backpressure; a reader that goes away ends it quietly", () =>
    Effect.gen(function*() {
      const served = yield* serve({ seed: 3, pageSize: 1000, records: { assets: 5, users: 10, assignments: 20_000 } })
      const args = ["list", "assignments", "--format", "ndjson", ...served.connect]
      const complete = yield* run(args)
      assert.strictEqual(complete.code, 0, complete.stderr)
      assert.strictEqual(complete.stdout.split("\n").filter((line) => line.length > 0).length, 20_000)
      // `vppkit list … | head -1`: the reader closes the pipe after its first chunk.
      const cut = yield* run(args, { onStdout: (_, child) => child.stdout?.destroy() })
      assert.strictEqual(cut.code, 0, cut.stderr)
      assert.strictEqual(cut.stderr, "", "no error, no stack trace, no summary")
      assert.isBelow(cut.stdout.length, complete.stdout.length)
    }), 90_000)
})
