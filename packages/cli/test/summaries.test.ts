import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { serve } from "./helpers/cli.js"
import { assertFailure, run } from "./support/bin.js"

interface ResourceSummary {
  readonly resource: string
  readonly mode: string
  readonly reason: string | null
  readonly records: number
  readonly deleted: number
  readonly rows: number
  readonly pages: number
  readonly retries: number
  readonly passes: number
  readonly consistency: string
  readonly checkpoint: string
  readonly millis: number
}

interface Report {
  readonly ok: boolean
  readonly exitCode: number
  readonly error?: string
  readonly db: string
  readonly resources: ReadonlyArray<ResourceSummary>
  readonly notSynced: ReadonlyArray<string>
}

const settings = { seed: 3, pageSize: 40, records: { assets: 10, users: 90, assignments: 130 } }

describe("one word for pages", () => {
  it.scopedLive("list of a legacy service counts pages, as sync does", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const list = yield* run(["list", "legacy-users", "--format", "ndjson", ...served.connect])
      assert.strictEqual(list.code, 0, list.stderr)
      assert.match(list.stderr, /\(\d+ pages?, 0 retries\)/)
      assert.notInclude(list.stderr, "batch")
      const db = path.join(served.directory, "words.sqlite")
      const sync = yield* run(["sync", "--db", db, "--resources", "legacy-users", ...served.connect])
      assert.strictEqual(sync.code, 0, sync.stderr)
      assert.match(sync.stderr, /legacy-users: full, [\d,]+ records, \d+ pages?/)
    }))
})

describe("vppkit sync --json and --summary-file", () => {
  it.scopedLive("--json: the per-resource summary as one JSON object on stdout, as the summary lines say", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const db = path.join(served.directory, "json.sqlite")
      const args = ["sync", "--json", "--db", db, "--resources", "assignments,users", ...served.connect]
      const first = yield* run(args)
      assert.strictEqual(first.code, 0, first.stderr)
      const report = JSON.parse(first.stdout) as Report
      assert.deepStrictEqual([report.ok, report.exitCode, report.db, report.notSynced], [true, 0, db, []])
      assert.deepStrictEqual(report.resources.map((r) => [r.resource, r.mode, r.reason, r.records, r.pages, r.consistency, r.checkpoint]), [
        ["assignments", "full", "first", 130, 4, "consistent", "advanced"],
        ["users", "full", "first", 90, 3, "consistent", "advanced"]
      ])
      assert.include(first.stderr, "assignments: full, 130 records, 4 pages, 0 retries, consistent")
      const second = JSON.parse((yield* run(args)).stdout) as Report
      assert.deepStrictEqual(second.resources.map((r) => [r.mode, r.records, r.rows]), [["incremental", 0, 130], ["incremental", 0, 90]])
    }))

  it.scopedLive("--summary-file: the same JSON in a file, written also when the run fails (exit 3: ok false, what was not synced)", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const db = path.join(served.directory, "file.sqlite")
      const file = path.join(served.directory, "summary.json")
      const ok = yield* run(["sync", "-q", "--summary-file", file, "--db", db, "--resources", "assets", ...served.connect])
      assert.strictEqual(ok.code, 0, ok.stderr)
      assert.strictEqual(ok.stdout, "")
      const written = JSON.parse(fs.readFileSync(file, "utf8")) as Report
      assert.deepStrictEqual(written.resources.map((r) => [r.resource, r.records]), [["assets", 10]])
      assert.isTrue(written.ok)

      const revoked = yield* serve({ ...settings, revoked: true })
      const args = ["sync", "-q", "--summary-file", file, "--db", path.join(revoked.directory, "x.sqlite"), ...revoked.connect]
      const failed = yield* run(args)
      assertFailure(failed, 3, args)
      const report = JSON.parse(fs.readFileSync(file, "utf8")) as Report
      assert.deepStrictEqual([report.ok, report.exitCode, report.resources.length], [false, 3, 0])
      assert.include(report.error, "revoked")
      assert.include(report.notSynced, "assignments")
      assert.deepStrictEqual(fs.readdirSync(served.directory).filter((name) => name.endsWith(".tmp")), [])
    }))

  it.scopedLive("--summary-file in a directory that does not exist: one line, exit 2, nothing synced", () =>
    Effect.gen(function*() {
      const served = yield* serve(settings)
      const missing = path.join(served.directory, "nowhere", "summary.json")
      const args = ["sync", "--summary-file", missing, "--db", path.join(served.directory, "m.sqlite"), ...served.connect]
      const line = assertFailure(yield* run(args), 2, args)
      assert.include(line, `--summary-file ${missing}`)
      assert.deepStrictEqual((yield* served.simulator.log).length, 0)
    }))
})
