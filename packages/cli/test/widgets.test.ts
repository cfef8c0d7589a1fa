import * as NodeContext from "@effect/platform-node/NodeContext"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as Resource from "@vppkit/core/Resource"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as Sync from "@vppkit/sync/Sync"
import * as SyncStore from "@vppkit/sync/SyncStore"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import * as ListCommand from "../src/internal/listCommand.js"
import * as ListRun from "../src/internal/listRun.js"
import * as Output from "../src/internal/output.js"
import * as Resources from "../src/Resources.js"
import { tempDir } from "./support/store.js"

/**
 * Issue 14, part 1: a resource Apple does not have, described by a descriptor alone, is served by the simulator,
 * listed and synced into SQLite by the functions the real resources go through — no other code for it.
 */

const Colour = Schema.Literal("red", "green", "blue")

const Widget = Schema.Struct({
  widgetId: Schema.String,
  name: Schema.String,
  colour: Colour,
  weight: Schema.Int,
  active: Schema.Boolean,
  tags: Schema.Array(Schema.String)
})
type Widget = typeof Widget.Type

const WidgetFilters = Schema.Struct({
  colour: Schema.optional(Colour.annotations({ description: "only widgets of this colour" })),
  active: Schema.optional(Schema.Boolean.annotations({ description: "only active (true) or inactive (false) widgets" }))
})

const widgets = Resource.make({
  name: "widgets",
  description: "made-up widgets",
  family: "page-index",
  path: "/v2/widgets",
  field: "widgets",
  record: Widget,
  filters: WidgetFilters,
  syncFilters: {},
  key: (widget) => widget.widgetId,
  keyDescription: "`widgetId`",
  delta: { param: "sinceVersionId", checkpoint: "versionId" }
})

const view = Resources.fromDescriptor(widgets)

/** The same widgets behind a cursor-paginated endpoint, without an incremental query. */
const cursorWidgets = Resource.make({
  ...widgets,
  name: "cursor-widgets",
  family: "cursor",
  path: "/v2/widgets/by-cursor",
  field: "items",
  delta: undefined
})

/** `count` widgets with ids `w0000`… from `start`, their other fields generated (seeded). */
const generate = (count: number, start: number, seed: number): ReadonlyArray<Widget> =>
  FastCheck.sample(Arbitrary.make(Widget), { numRuns: count, seed }).map((widget, i) => ({
    ...widget,
    widgetId: `w${String(start + i).padStart(4, "0")}`
  }))

const pageSize = 6
const initial = generate(40, 0, 14)

const settings: Simulator.Settings = {
  seed: 14,
  pageSize,
  served: [{ resource: widgets, records: initial }, { resource: cursorWidgets, records: initial }]
}

const layer = (filename: string) =>
  Layer.mergeAll(
    Simulator.layerTest(settings, { retry: { baseDelay: 0 }, rateLimitPause: 0 }),
    SqlSyncStore.layer.pipe(Layer.provideMerge(SqliteClient.layer({ filename }))),
    NodeContext.layer
  )

/** Runs `body` with a fresh simulator serving the widgets, a fresh SQLite file and Node's platform. */
const withWidgets = <A, E>(
  body: Effect.Effect<A, E, Layer.Layer.Success<ReturnType<typeof layer>>>
) =>
  Effect.flatMap(tempDir, (dir) =>
    Effect.provide(
      // The store scoped to the simulated location, as a sync learns it.
      Effect.flatMap(Sync.learnLocation, (location) => body.pipe(SyncStore.forLocation(location.uId))),
      layer(path.join(dir, "widgets.sqlite"))
    ))

/** Lists the widgets through `vppkit list`'s function, as `format`, and answers the output. */
const list = (flags: Partial<ListCommand.Flags>, format: Output.Format) =>
  Effect.gen(function*() {
    const sink = Output.memorySink()
    yield* ListRun.list(view, { ...ListCommand.noFlags, format: Option.some(format), ...flags }, { quiet: true, sink })
    return sink.text()
  })

const byKey = (records: ReadonlyArray<unknown>): Map<string, string> =>
  new Map(records.map((record) => [view.key(record as Resources.JsonRecord), Simulator.canonicalJson(record)]))

/** A widgets table against the simulator's records, by key. */
const compareTable = (simulator: Simulator.Service, resource: Resource.Any = widgets) =>
  Effect.gen(function*() {
    const server = byKey(yield* simulator.served.records(resource))
    const stored = new Map(
      (yield* SyncStore.rows(resource)).map(({ key, record }) => [key, Simulator.canonicalJson(record)])
    )
    return {
      server,
      missing: [...server.keys()].filter((key) => !stored.has(key)),
      extra: [...stored.keys()].filter((key) => !server.has(key)),
      different: [...server.keys()].filter((key) => stored.has(key) && stored.get(key) !== server.get(key))
    }
  })

const sync = (options: Sync.Options = {}) => Sync.run({ resources: [widgets], ...options })

/** A write batch: `updates` widgets changed, `inserts` new ones, `deletes` removed (answers what it did). */
const churn = (
  simulator: Simulator.Service,
  inserts: number,
  updates: number,
  deletes: number,
  start: number,
  resource: Resource.Resource<Widget, any, any, any> = widgets
) =>
  Effect.gen(function*() {
    const current = (yield* simulator.served.records(resource)).map((record) => Schema.decodeUnknownSync(Widget)(record))
    const updated = current.slice(0, updates).map((widget) => ({ ...widget, weight: widget.weight + 1, active: !widget.active }))
    const inserted = generate(inserts, start, start)
    const removed = current.slice(updates, updates + deletes).map((widget) => widget.widgetId)
    yield* simulator.served.write(resource, { upsert: [...updated, ...inserted], remove: removed })
    return { upserted: [...updated, ...inserted].map((widget) => widget.widgetId), removed }
  })

describe("a resource added by a descriptor alone (/v2/widgets)", () => {
  it.effect("derives its columns and flags from the descriptor's schemas", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(view.fields, [
        { name: "widgetId", type: "text" },
        { name: "name", type: "text" },
        { name: "colour", type: "text" },
        { name: "weight", type: "integer" },
        { name: "active", type: "boolean" },
        { name: "tags", type: "json" }
      ])
      assert.deepStrictEqual(view.filters.map((filter) => [filter.flag, filter.type, filter.choices]), [
        ["colour", "string", ["red", "green", "blue"]],
        ["active", "boolean", undefined]
      ])
      assert.strictEqual(view.endpoint, "GET /v2/widgets")
      assert.strictEqual(view.checkpointField, "versionId")
    }))

  // Live clock: the listing takes its request rate from the simulator's service/config (15 a second).
  it.scopedLive("lists it with vppkit list's function: json with a filter, a table, and --since", () =>
    withWidgets(Effect.gen(function*() {
      const simulator = yield* Simulator.Simulator
      const all = yield* simulator.served.records(widgets)
      assert.isAbove(all.length, 4 * pageSize, "a few pages")

      for (const colour of ["red", "green", "blue"]) {
        const listed = JSON.parse(yield* list({ filters: { colour: [colour] } }, "json")) as ReadonlyArray<unknown>
        const expected = all.filter((record) => (record as Widget).colour === colour)
        assert.isTrue(expected.length > 0 && expected.length < all.length, `${colour}: the filter selects some widgets`)
        assert.deepStrictEqual(byKey(listed), byKey(expected), colour)
      }

      const table = (yield* list({ filters: { active: ["true"] } }, "table")).trimEnd().split("\n")
      const active = all.filter((record) => (record as Widget).active)
      assert.deepStrictEqual(table[0]!.split(/\s+/), view.briefFields.map((field) => field.name))
      assert.deepStrictEqual(
        table.slice(1).map((line) => line.split(/\s+/)[0]),
        active.map((record) => (record as Widget).widgetId)
      )

      const checkpoint = yield* simulator.served.versionId(widgets)
      const { upserted } = yield* churn(simulator, 3, 4, 2, 100)
      const changed = JSON.parse(yield* list({ since: Option.some(checkpoint) }, "json")) as ReadonlyArray<unknown>
      assert.deepStrictEqual([...byKey(changed).keys()].sort(), [...upserted].sort())
      assert.deepStrictEqual(byKey(changed), byKey(yield* simulator.served.changedSince(widgets, checkpoint)))

      const refused = yield* Effect.flip(list({ filters: { colour: ["purple"] } }, "json"))
      assert.strictEqual(refused._tag, "UsageError")
    })))

  it.scoped("syncs it into SQLite with Sync.run, in full and then incrementally under churn", () =>
    withWidgets(Effect.gen(function*() {
      const simulator = yield* Simulator.Simulator
      const [first] = yield* sync()
      assert.strictEqual(first!.mode, "full")
      assert.strictEqual(first!.consistency, "consistent")
      const afterFull = yield* compareTable(simulator)
      assert.strictEqual(afterFull.server.size, initial.length)
      assert.deepStrictEqual([afterFull.missing, afterFull.extra, afterFull.different], [[], [], []])

      const { removed, upserted } = yield* churn(simulator, 5, 6, 3, 200)
      yield* simulator.clearLog
      const [second] = yield* sync()
      assert.strictEqual(second!.mode, "incremental")
      assert.strictEqual(second!.records, upserted.length)
      assert.isTrue((yield* simulator.log).every((entry) => entry.path !== "/v2/widgets" || entry.params["sinceVersionId"] !== undefined))
      // Deltas do not show deletions: the removed widgets stay until a full run; everything else matches.
      const afterDelta = yield* compareTable(simulator)
      assert.deepStrictEqual([afterDelta.missing, afterDelta.different], [[], []])
      assert.deepStrictEqual([...afterDelta.extra].sort(), [...removed].sort())

      const [third] = yield* sync({ full: true })
      assert.strictEqual(third!.mode, "full")
      assert.strictEqual(third!.deleted, removed.length)
      const afterReconcile = yield* compareTable(simulator)
      assert.deepStrictEqual([afterReconcile.missing, afterReconcile.extra, afterReconcile.different], [[], [], []])
    })))

  it.scoped("syncs a cursor resource described alone too: full runs, reconciled under churn", () =>
    withWidgets(Effect.gen(function*() {
      const simulator = yield* Simulator.Simulator
      const [first] = yield* Sync.run({ resources: [cursorWidgets] })
      assert.deepStrictEqual([first!.mode, first!.reason, first!.pages], ["full", "no-incremental", Math.ceil(initial.length / pageSize)])
      const afterFirst = yield* compareTable(simulator, cursorWidgets)
      assert.strictEqual(afterFirst.server.size, initial.length)
      assert.deepStrictEqual([afterFirst.missing, afterFirst.extra, afterFirst.different], [[], [], []])
      const { removed } = yield* churn(simulator, 4, 5, 3, 300, cursorWidgets)
      const [second] = yield* Sync.run({ resources: [cursorWidgets] })
      assert.strictEqual(second!.deleted, removed.length)
      const afterSecond = yield* compareTable(simulator, cursorWidgets)
      assert.deepStrictEqual([afterSecond.missing, afterSecond.extra, afterSecond.different], [[], [], []])
      // The page-index widgets were not touched by the cursor resource's writes.
      assert.deepStrictEqual(byKey(yield* simulator.served.records(widgets)), byKey(initial.map((w) => Schema.encodeSync(Widget)(w))))
    })))
})
