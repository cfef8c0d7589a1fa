import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { PassThrough, Writable } from "node:stream"
import * as Output from "../src/internal/output.js"
import { parseCsv } from "./helpers/csv.js"
import type * as Resources from "../src/Resources.js"

const fields: ReadonlyArray<Resources.Field> = [
  { name: "id", type: "integer" },
  { name: "name", type: "text" },
  { name: "active", type: "boolean" },
  { name: "tags", type: "json" }
]

const records: ReadonlyArray<Resources.JsonRecord> = [
  { id: 1, name: "plain", active: true, tags: ["a", "b"] },
  { id: 2, name: "comma, \"quote\"\nnewline", active: false, tags: { k: 1 } },
  { id: 3 }
]

/** Writes `pages` with a writer of `format` into memory and answers the text. */
const render = (format: Output.Format, pages: ReadonlyArray<ReadonlyArray<Resources.JsonRecord>>) =>
  Effect.gen(function*() {
    const sink = Output.memorySink()
    const writer = Output.make(format, fields, sink)
    for (const page of pages) yield* writer.records(page)
    yield* writer.end
    return sink.text()
  })

describe("output formats", () => {
  it.effect("ndjson: one JSON object per line, in order", () =>
    Effect.gen(function*() {
      const text = yield* render("ndjson", [records.slice(0, 2), [], records.slice(2)])
      assert.deepStrictEqual(text.trimEnd().split("\n").map((line) => JSON.parse(line)), [...records])
      assert.strictEqual(yield* render("ndjson", []), "")
    }))

  it.effect("json: one array over every page, valid for no records and for empty pages", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(JSON.parse(yield* render("json", [records.slice(0, 1), [], records.slice(1)])), [...records])
      assert.deepStrictEqual(JSON.parse(yield* render("json", [])), [])
      assert.deepStrictEqual(JSON.parse(yield* render("json", [[], []])), [])
    }))

  it.effect("csv: header of the fields, booleans as true/false, json fields as JSON text, missing as empty", () =>
    Effect.gen(function*() {
      const rows = parseCsv(yield* render("csv", [records.slice(0, 1), records.slice(1)]))
      assert.deepStrictEqual(rows, [
        ["id", "name", "active", "tags"],
        ["1", "plain", "true", "[\"a\",\"b\"]"],
        ["2", "comma, \"quote\"\nnewline", "false", "{\"k\":1}"],
        ["3", "", "", ""]
      ])
      assert.deepStrictEqual(parseCsv(yield* render("csv", [])), [["id", "name", "active", "tags"]])
    }))

  it.effect("table: the fields as columns, one line per record, the header written with the first page", () =>
    Effect.gen(function*() {
      const text = yield* render("table", [[records[0]!], [records[2]!]])
      assert.deepStrictEqual(text.split("\n"), [
        "id  name   active  tags",
        "1   plain  true    [\"a\",\"b\"]",
        "3",
        ""
      ])
      assert.notInclude(text, "\u001b[", "no colour unless asked")
      assert.strictEqual(yield* render("table", []), "id  name  active  tags\n", "no records: the header")
    }))

  it.effect("table: each page is written as it arrives, with the widths of the first page", () =>
    Effect.gen(function*() {
      const sink = Output.memorySink()
      const writer = Output.make("table", fields, sink, { width: 80 })
      yield* writer.records([])
      assert.strictEqual(sink.text(), "", "nothing before the first record")
      yield* writer.records([{ id: 1, name: "ab", active: true, tags: [] }])
      assert.strictEqual(sink.text(), "id  name  active  tags\n1   ab    true    []\n")
      yield* writer.records([{ id: 22, name: "longer than ab", active: false, tags: [] }])
      assert.strictEqual(sink.text().split("\n")[2], "22  lon…  false   []", "a later, longer value is cut to its column")
    }))

  it.effect("table: fits the width, cutting headers before values, then the widest values, with an ellipsis", () =>
    Effect.gen(function*() {
      const long = { id: 1, name: "x".repeat(50), active: true, tags: ["y".repeat(40)] }
      const sink = Output.memorySink()
      const writer = Output.make("table", fields, sink, { width: 40 })
      yield* writer.records([long, { id: 2, name: "a\nb\u001b[31m", active: false }])
      yield* writer.end
      const lines = sink.text().trimEnd().split("\n")
      for (const line of lines) assert.isAtMost(line.length, 40, line)
      // 40 columns less 3 gaps of 2: id and active keep their width, name and tags share the rest.
      assert.strictEqual(lines[0], "id  name           active  tags")
      assert.match(lines[1]!, /^1   x{12}…  true    \["y{10}…$/)
      assert.strictEqual(lines[2], `2   ${"a b [31m".padEnd(13)}  false`, "control characters become spaces")
      assert.deepStrictEqual(Output.columnWidths(["header", "h"], [["1", "22"]], 8), [4, 2], "values keep their width")
      // a column kept whole (an identifier) keeps its width; the others give way, down to 3
      const id = "2049025000494316"
      assert.deepStrictEqual(Output.columnWidths(["uId", "name"], [[id, "x".repeat(30)]], 30), [14, 14])
      assert.deepStrictEqual(Output.columnWidths(["uId", "name"], [[id, "x".repeat(30)]], 30, ["uId"]), [16, 12])
      assert.deepStrictEqual(Output.columnWidths(["uId", "name"], [[id, "x".repeat(30)]], 10, ["uId"]), [16, 3], "whole even past the width")
      const kept = Output.memorySink()
      const keeping = Output.make("table", [{ name: "uId", type: "text" }, { name: "name", type: "text" }], kept, { width: 30, whole: ["uId"] })
      yield* keeping.records([{ uId: id, name: "x".repeat(30) }])
      yield* keeping.end
      assert.strictEqual(kept.text().split("\n")[1], `${id}  ${"x".repeat(11)}…`)
      assert.strictEqual(Output.truncate("日本語のテキスト", 7), "日本語…")
      assert.strictEqual(Output.displayWidth("日本"), 4)
    }))

  it.effect("wide: every value whole, widths from the first page", () =>
    Effect.gen(function*() {
      const long = { id: 1, name: "x".repeat(100), active: true }
      const text = yield* render("wide", [[records[0]!], [long]])
      const lines = text.trimEnd().split("\n")
      assert.strictEqual(lines[0], "id  name   active  tags")
      assert.strictEqual(lines[2], `1   ${"x".repeat(100)}  true`)
    }))

  it.effect("project: ndjson and json records reduced to the chosen fields, in their order", () =>
    Effect.gen(function*() {
      const chosen = [fields[2]!, fields[0]!]
      for (const format of ["ndjson", "json"] as const) {
        const sink = Output.memorySink()
        const writer = Output.make(format, chosen, sink, { project: true })
        yield* writer.records(records)
        yield* writer.end
        const text = sink.text()
        const parsed = format === "json" ? JSON.parse(text) : text.trimEnd().split("\n").map((line) => JSON.parse(line))
        assert.deepStrictEqual(parsed, [{ active: true, id: 1 }, { active: false, id: 2 }, { id: 3 }])
        assert.include(text, "{\"active\":true,\"id\":1}", "in the order chosen")
      }
    }))
})

describe("streamSink", () => {
  it.live("waits while the stream's buffer is full and resumes when it drains", () =>
    Effect.gen(function*() {
      const stream = new PassThrough({ highWaterMark: 8 })
      const sink = Output.streamSink(stream)
      const fiber = yield* Effect.fork(sink.write("0123456789abcdef"))
      yield* Effect.sleep(20)
      assert.isNull(fiber.unsafePoll(), "the write returned while the buffer was full")
      stream.read()
      yield* Fiber.join(fiber)
      yield* sink.write("more")
      assert.strictEqual(String(stream.read()), "more")
    }))

  it.live("fails with OutputClosed (and no uncaught error) once the reader is gone", () =>
    Effect.gen(function*() {
      const stream = new PassThrough({ highWaterMark: 4 })
      const sink = Output.streamSink(stream)
      const waiting = yield* Effect.fork(sink.write("0123456789"))
      yield* Effect.sleep(10)
      stream.destroy(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }))
      const exit = yield* Fiber.await(waiting)
      assert.isTrue(Exit.isFailure(exit))
      const next = yield* Effect.flip(sink.write("x"))
      assert.strictEqual(next._tag, "OutputClosed")
      assert.strictEqual(next.code, "EPIPE")
    }))

  it.live("flush waits until earlier chunks are written", () =>
    Effect.gen(function*() {
      const pending: Array<() => void> = []
      const stream = new Writable({ write: (_chunk, _encoding, callback) => void pending.push(() => callback()) })
      const sink = Output.streamSink(stream)
      yield* sink.write("abc")
      const flushing = yield* Effect.fork(sink.flush)
      yield* Effect.sleep(20)
      assert.isNull(flushing.unsafePoll(), "flush returned before the chunk was written")
      while (pending.length > 0) {
        pending.shift()!()
        yield* Effect.sleep(1)
      }
      yield* Fiber.join(flushing)
    }))
})
