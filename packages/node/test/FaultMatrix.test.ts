import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Asset from "@vppkit/core/Asset"
import * as Assignment from "@vppkit/core/Assignment"
import * as Cursor from "@vppkit/core/Cursor"
import * as Legacy from "@vppkit/core/Legacy"
import * as PageIndex from "@vppkit/core/PageIndex"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as Subscription from "@vppkit/core/Subscription"
import type * as Traversal from "@vppkit/core/Traversal"
import * as User from "@vppkit/core/User"
import * as VppClient from "@vppkit/core/VppClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as NodeVppClient from "../src/NodeVppClient.js"
import * as SimulatorServer from "../src/SimulatorServer.js"

/**
 * The fault matrix: every paginator family against every fault, over the real loopback stack (the simulator
 * served on 127.0.0.1, the undici client), so a reset or a stall is a real socket fault. Each cell is a test
 * named `family × fault` with the documented expectation:
 *
 * - a retryable fault (429/9646, 503/9729, 500/9603, 502, 504, reset, stall, malformed JSON, a legacy
 *   token-less response) → the complete, correct record set (equal to the simulator's by canonical JSON, each
 *   record once), a consistent outcome, and at least one retry; a `Retry-After` is waited out;
 * - 9622 in an HTTP 200 body → the typed failure `AuthError` (reason `invalid`);
 * - 9633 → the legacy walk restarts and completes; 9633 on every pass → `BadRequestError` 9633 after
 *   `maxRestarts`;
 * - a zero-record legacy batch, or a delta with nothing in it → the complete set (empty for the delta);
 * - writes during the traversal (totalPages grows or shrinks, the versionId changes) → the traversal ends and
 *   reports `drifted`; a `sinceVersionId` delta from its checkpoint recovers every record written after it
 *   (assets and cursors have no delta), and a new pass is complete. Unchanged records that moved to a page
 *   already read are in neither the drifted pass nor the delta: the table's note counts them. A legacy walk is
 *   complete as the server cut it at its first request, and its `sinceModifiedToken` delta catches up.
 *
 * Never a silent partial result. The matrix is printed as a markdown table at the end.
 */

// ---------------------------------------------------------------------------------------------------------
// Families (rows)

type Row =
  | { readonly kind: "page-index"; readonly resource: Simulator.PageResource; readonly mode: "parallel" | "sequential" }
  | { readonly kind: "delta"; readonly resource: "assignments" | "users" }
  | { readonly kind: "cursor"; readonly resource: Simulator.SubscriptionResource }
  | { readonly kind: "legacy"; readonly resource: Simulator.LegacyKind; readonly mode: "sequential" | "parallel" }

const rows: ReadonlyArray<Row> = [
  ...(["assets", "assignments", "users"] as const).flatMap((resource) =>
    (["parallel", "sequential"] as const).map((mode) => ({ kind: "page-index", resource, mode }) as const)
  ),
  { kind: "delta", resource: "assignments" },
  { kind: "delta", resource: "users" },
  { kind: "cursor", resource: "subscriptions" },
  { kind: "cursor", resource: "subscriptionAssignments" },
  { kind: "cursor", resource: "subscriptionAdmins" },
  ...(["licenses", "users"] as const).flatMap((resource) =>
    (["sequential", "parallel"] as const).map((mode) => ({ kind: "legacy", resource, mode }) as const)
  )
]

const cursorNames: Record<Simulator.SubscriptionResource, string> = {
  subscriptions: "subscriptions",
  subscriptionAssignments: "subscription assignments",
  subscriptionAdmins: "subscription admins"
}

const label = (row: Row): string => {
  switch (row.kind) {
    case "page-index":
      return `page-index ${row.resource} (${row.mode})`
    case "delta":
      return `delta ${row.resource} (sinceVersionId)`
    case "cursor":
      return `cursor ${cursorNames[row.resource]}`
    case "legacy":
      return `legacy ${row.resource === "licenses" ? "licences" : "users"} (${row.mode})`
  }
}

const cursorPaths: Record<Simulator.SubscriptionResource, string> = {
  subscriptions: "/v2/subscriptions",
  subscriptionAssignments: "/v2/subscriptions/assignments",
  subscriptionAdmins: "/v2/subscriptions/admins"
}

const pathOf = (row: Row): string => {
  switch (row.kind) {
    case "page-index":
    case "delta":
      return `/v2/${row.resource}`
    case "cursor":
      return cursorPaths[row.resource]
    case "legacy":
      return row.resource === "licenses" ? "/getVPPLicensesSrv" : "/getVPPUsersSrv"
  }
}

// Five records a page: every traversal spans several pages, batches or cursor responses.
const settingsOf = (row: Row): Simulator.Settings =>
  row.kind === "legacy"
    ? { seed: 7, pageSize: 5, records: { assets: 4, users: 20, assignments: 30 }, deltaDeletions: "visible" }
    : {
      seed: 7,
      pageSize: 5,
      records: { assets: 22, users: 24, assignments: 40 },
      subscriptions: { subscriptions: 12, assignments: 24, admins: 12 }
    }

/**
 * Retries and backoff short enough for a test over loopback. The request timeout is 250 ms where a response
 * stalls, 2 s elsewhere: a timeout under the load of the whole suite would turn a 429 or 503 into a retry that
 * never saw its Retry-After.
 */
const fast = (column: Column) =>
  ({
    maxRequestsPerSecond: Infinity,
    retry: { baseDelay: Duration.millis(5), maxDelay: Duration.millis(40) },
    rateLimitPause: Duration.millis(10),
    requestTimeout: Duration.millis(column.kind === "retryable" && column.fault._tag === "Stall" ? 250 : 2000)
  }) satisfies Omit<NodeVppClient.Options, "token" | "baseUrl">

/** `active`: users with `activeOnly`, the selection that retiring users shrinks. */
type Variant = "all" | "active"

const variantFor = (row: Row, column: Column): Variant =>
  column.kind === "shrink" && row.resource === "users" ? "active" : "all"

const isActive = (record: unknown) => {
  const status = (record as { readonly status?: string }).status
  return status === "Registered" || status === "Associated"
}

interface Prepared {
  /** A delta's baseline checkpoint. */
  readonly since?: string
}

type AnyTraversal = Traversal.Traversal<unknown>

const pageIndexTraversal = (
  resource: Simulator.PageResource,
  options: PageIndex.Options & { readonly sinceVersionId?: string | undefined },
  variant: Variant
): AnyTraversal => {
  const { sinceVersionId, ...rest } = options
  const since = sinceVersionId === undefined ? {} : { sinceVersionId }
  switch (resource) {
    case "assets":
      return PageIndex.assets(rest) as AnyTraversal
    case "assignments":
      return PageIndex.assignments({ ...rest, ...since }) as AnyTraversal
    case "users":
      return PageIndex.users({ ...rest, ...since, ...(variant === "active" ? { filters: { activeOnly: true } } : {}) }) as AnyTraversal
  }
}

const legacyTraversal = (row: Row & { readonly kind: "legacy" }, options: Legacy.Options = {}): AnyTraversal =>
  (row.resource === "licenses"
    ? Legacy.licenses({ mode: row.mode, ...options, filters: { assignedOnly: true } })
    : Legacy.users({ mode: row.mode, ...options, filters: { includeRetired: true } })) as AnyTraversal

const cursorTraversals: Record<Simulator.SubscriptionResource, () => AnyTraversal> = {
  subscriptions: () => Cursor.subscriptions() as AnyTraversal,
  subscriptionAssignments: () => Cursor.subscriptionAssignments() as AnyTraversal,
  subscriptionAdmins: () => Cursor.subscriptionAdmins() as AnyTraversal
}

const traversalOf = (row: Row, prepared: Prepared, variant: Variant): AnyTraversal => {
  switch (row.kind) {
    case "page-index":
      return pageIndexTraversal(row.resource, { mode: row.mode }, variant)
    case "delta":
      return pageIndexTraversal(row.resource, { sinceVersionId: prepared.since }, variant)
    case "cursor":
      return cursorTraversals[row.resource]()
    case "legacy":
      return legacyTraversal(row)
  }
}

const schemaOf = (row: Row): Schema.Schema<any, any> => {
  switch (row.kind) {
    case "page-index":
    case "delta":
      return { assets: Asset.Asset, assignments: Assignment.Assignment, users: User.User }[row.resource]
    case "cursor":
      return {
        subscriptions: Subscription.Subscription,
        subscriptionAssignments: Subscription.SubscriptionAssignment,
        subscriptionAdmins: Subscription.SubscriptionAdmin
      }[row.resource]
    case "legacy":
      return row.resource === "licenses" ? Legacy.VppLicense : Legacy.VppUser
  }
}

const keyOf = (row: Row) => (record: unknown): string =>
  row.kind === "legacy" && row.resource === "licenses"
    ? Legacy.licenseKey(record as Legacy.VppLicense)
    : Legacy.userKey(record as Legacy.VppUser)

/** The records a complete traversal delivers, as the simulator holds them now. */
const expectedOf = (row: Row, sim: Simulator.Service, prepared: Prepared, variant: Variant) =>
  Effect.map(
    row.kind === "page-index"
      ? sim.records(row.resource)
      : row.kind === "delta"
      ? sim.changedSince(row.resource, prepared.since!)
      : row.kind === "cursor"
      ? sim.subscriptions.records(row.resource)
      : Effect.map(
        sim.legacy.records(row.resource),
        (records) => row.resource === "licenses" ? records.filter((l) => (l as { status?: string }).status === "Associated") : records
      ),
    (records) => variant === "active" ? records.filter(isActive) : records
  )

/**
 * Before the fault is armed: a delta row takes a full pass for its baseline checkpoint and, unless
 * `changes` is false, writes enough for a delta of several pages.
 */
const prepare = (row: Row, sim: Simulator.Service, changes: boolean) =>
  Effect.gen(function*() {
    if (row.kind !== "delta") return {} as Prepared
    const full = yield* pageIndexTraversal(row.resource, {}, "all").run()
    if (changes) yield* sim.churn(row.resource, { inserts: 8, updates: 14 })
    yield* sim.clearLog
    return { since: full.checkpoint! } as Prepared
  })

// ---------------------------------------------------------------------------------------------------------
// Faults (columns)

type Column =
  | { readonly id: string; readonly kind: "retryable"; readonly fault: Simulator.Fault }
  | { readonly id: string; readonly kind: "auth" | "restart" | "restart-exhausted" | "zero" | "grow" | "shrink" | "writes" }

const columns: ReadonlyArray<Column> = [
  { id: "429", kind: "retryable", fault: { _tag: "RateLimited" } },
  { id: "429 RA", kind: "retryable", fault: { _tag: "RateLimited", retryAfter: { seconds: 1 } } },
  { id: "503 RA s", kind: "retryable", fault: { _tag: "Unavailable", retryAfter: { seconds: 1 } } },
  // An HTTP-date has whole seconds: "now" rounded up to the next second, so a wait of up to 1 s.
  { id: "503 RA date", kind: "retryable", fault: { _tag: "Unavailable", retryAfter: { seconds: 0, format: "http-date" } } },
  { id: "500", kind: "retryable", fault: { _tag: "InternalError" } },
  { id: "502", kind: "retryable", fault: { _tag: "BadGateway" } },
  { id: "504", kind: "retryable", fault: { _tag: "GatewayTimeout" } },
  { id: "reset", kind: "retryable", fault: { _tag: "ConnectionReset" } },
  { id: "stall", kind: "retryable", fault: { _tag: "Stall" } },
  { id: "bad JSON", kind: "retryable", fault: { _tag: "MalformedJson" } },
  { id: "9622 in 200", kind: "auth" },
  { id: "token-less", kind: "retryable", fault: { _tag: "TokenlessResponse" } },
  { id: "9633", kind: "restart" },
  { id: "9633 always", kind: "restart-exhausted" },
  { id: "0 records", kind: "zero" },
  { id: "grow", kind: "grow" },
  { id: "shrink", kind: "shrink" },
  { id: "versionId Δ", kind: "writes" }
]

/** Whether a fault exists for a family; the others are "n/a" cells. */
const applies = (row: Row, column: Column): boolean => {
  switch (column.kind) {
    case "retryable":
      return column.fault._tag !== "TokenlessResponse" || row.kind === "legacy"
    case "auth":
    case "writes":
      return true
    case "restart":
    case "restart-exhausted":
      return row.kind === "legacy"
    case "zero":
      return row.kind === "legacy" || row.kind === "delta"
    case "grow":
      return row.kind === "page-index" || row.kind === "delta"
    case "shrink":
      // The model never removes an asset (Apple keeps an asset while it has licences).
      return (row.kind === "page-index" && row.resource !== "assets") || row.kind === "delta"
  }
}

// ---------------------------------------------------------------------------------------------------------
// Checks


const canonical = Simulator.canonicalJson

/** Runs a traversal to its end; the records come back encoded (Apple's JSON shape) as canonical JSON. */
const collect = (traversal: AnyTraversal, schema: Schema.Schema<any, any>) =>
  Effect.gen(function*() {
    const pages: Array<Traversal.Page<unknown>> = []
    const outcome = yield* traversal.run((page) => Effect.sync(() => void pages.push(page)))
    const encode = Schema.encodeSync(schema)
    return { outcome, pages, records: pages.flatMap((page) => page.records.map((record) => canonical(encode(record)))) }
  })

const assertSameSet = (delivered: ReadonlyArray<string>, expected: ReadonlyArray<unknown>, what: string) => {
  assert.deepStrictEqual([...delivered].sort(), expected.map(canonical).sort(), what)
  assert.strictEqual(new Set(delivered).size, delivered.length, `${what}: a record was delivered twice`)
}

/** Whether the data changed during the traversal: pages at different versionIds, or a page that vanished. */
const sawWrites = (log: ReadonlyArray<Simulator.LogEntry>) =>
  new Set(log.filter((e) => e.status === 200 && e.fault === undefined && e.versionId !== undefined).map((e) => e.versionId))
      .size > 1 || log.some((e) => e.errorNumber === 9650)

type Cell = Effect.Effect<string, unknown, VppClient.VppClient>

const retryable = (row: Row, column: Column & { readonly kind: "retryable" }, sim: Simulator.Service): Cell =>
  Effect.gen(function*() {
    const prepared = yield* prepare(row, sim, true)
    yield* sim.inject(column.fault, { path: pathOf(row), skip: 1 })
    const { outcome, records } = yield* collect(traversalOf(row, prepared, "all"), schemaOf(row))
    assertSameSet(records, yield* expectedOf(row, sim, prepared, "all"), "records")
    assert.strictEqual(outcome.consistency, "consistent")
    assert.isAtLeast(outcome.retries, 1, "the fault was not met and retried")
    const retryAfter = "retryAfter" in column.fault ? column.fault.retryAfter : undefined
    if (retryAfter !== undefined) {
      // The retry of the faulted request waited until the server said it may come.
      const log = yield* sim.log
      const faulted = log.find((e) => e.fault === column.fault._tag)!
      const retry = log.filter((e) => e.startedAt >= faulted.startedAt && e.seq !== faulted.seq && canonical(e.params) === canonical(faulted.params))
        .sort((a, b) => a.startedAt - b.startedAt)[0]!
      const notBefore = retryAfter.format === "http-date"
        ? Math.ceil(faulted.startedAt / 1000) * 1000
        : faulted.finishedAt + retryAfter.seconds * 1000
      assert.isAtLeast(retry.startedAt, notBefore - 5, "the retry came before Retry-After")
    }
    return "✓ complete"
  })

const auth = (row: Row, sim: Simulator.Service): Cell =>
  Effect.gen(function*() {
    const prepared = yield* prepare(row, sim, true)
    yield* sim.inject({ _tag: "InvalidTokenInBody" }, { path: pathOf(row), skip: 1 })
    const error = yield* Effect.flip(traversalOf(row, prepared, "all").run())
    assert.strictEqual(error._tag, "AuthError", error.message)
    if (error._tag !== "AuthError") return "✗"
    assert.strictEqual(error.reason, "invalid")
    assert.strictEqual(error.errorNumber, 9622)
    assert.strictEqual(error.status, 200)
    return `✓ typed-error: ${error._tag}`
  })

const restart = (row: Row & { readonly kind: "legacy" }, sim: Simulator.Service, exhausted: boolean): Cell =>
  Effect.gen(function*() {
    // Once, or on every request after the first. The default maxRestarts is 3: the fourth pass's 9633 is returned.
    yield* sim.inject({ _tag: "BatchDataLost" }, { path: pathOf(row), skip: 1, times: exhausted ? 1000 : 1 })
    if (exhausted) {
      const error = yield* Effect.flip(legacyTraversal(row).run())
      assert.strictEqual(error._tag, "BadRequestError", error.message)
      assert.strictEqual(error._tag === "BadRequestError" && error.errorNumber, 9633)
      // four passes, each starting with a request without batchToken
      assert.strictEqual((yield* sim.log).filter((e) => e.params["batchToken"] === undefined).length, 4)
      return `✓ typed-error: ${error._tag}`
    }
    const { outcome, records } = yield* collect(legacyTraversal(row), schemaOf(row))
    assertSameSet(records, yield* expectedOf(row, sim, {}, "all"), "records")
    assert.strictEqual(outcome.passes, 2)
    assert.strictEqual(outcome.consistency, "consistent")
    return "✓ complete (restart)"
  })

const zero = (row: Row, sim: Simulator.Service): Cell =>
  Effect.gen(function*() {
    if (row.kind === "delta") {
      // Nothing was written since the checkpoint: one page without records is the complete answer.
      const prepared = yield* prepare(row, sim, false)
      const { outcome, records } = yield* collect(traversalOf(row, prepared, "all"), schemaOf(row))
      assert.deepStrictEqual(yield* expectedOf(row, sim, prepared, "all"), [])
      assert.deepStrictEqual(records, [])
      assert.strictEqual(outcome.pages, 1)
      assert.strictEqual(outcome.consistency, "consistent")
      assert.strictEqual(outcome.checkpoint, yield* sim.versionId(row.resource))
      return "✓ complete"
    }
    // Legacy: an extra batch without records whose token leads on. In parallel mode it is the first response
    // (indexed batches are served as they are), in sequential mode one within the chain.
    yield* sim.inject({ _tag: "ZeroRecordBatch" }, { path: pathOf(row), skip: row.kind === "legacy" && row.mode === "parallel" ? 0 : 1 })
    const { outcome, records } = yield* collect(traversalOf(row, {}, "all"), schemaOf(row))
    assertSameSet(records, yield* expectedOf(row, sim, {}, "all"), "records")
    assert.strictEqual(outcome.consistency, "consistent")
    assert.isTrue((yield* sim.log).some((e) => e.fault === "ZeroRecordBatch" && e.status === 200 && e.records === 0))
    return "✓ complete"
  })

/** Writes during a page-index pass or a delta: totalPages grows, shrinks, or only the versionId changes. */
const pagedWrites = (row: Row & { readonly kind: "page-index" | "delta" }, column: Column, sim: Simulator.Service): Cell =>
  Effect.gen(function*() {
    const variant = variantFor(row, column)
    const prepared = yield* prepare(row, sim, true)
    const writes = column.kind === "grow"
      ? { inserts: 12 }
      : column.kind === "shrink"
      ? { deletes: row.kind === "delta" && row.resource === "assignments" ? 30 : 12 }
      : { updates: 6 }
    // One batch of writes, before the third request of the pass.
    yield* sim.setChurn({ every: 3, limit: 1, resources: [row.resource], ...writes })
    const { outcome, pages, records } = yield* collect(traversalOf(row, prepared, variant), schemaOf(row))
    yield* sim.setChurn(undefined)
    const log = yield* sim.log
    assert.isTrue(sawWrites(log), "the writes did not land during the traversal: the cell proves nothing")
    const first = pages[0]!.total!
    if (column.kind === "grow") assert.isTrue(pages.some((p) => p.total! > first), "totalPages did not grow")
    if (column.kind === "shrink") {
      assert.isTrue(pages.some((p) => p.total! < first) || log.some((e) => e.errorNumber === 9650), "totalPages did not shrink")
    }
    // The data changed while it was read: the outcome must say so.
    assert.strictEqual(outcome.consistency, "drifted")
    const held = new Set(records)
    if (row.resource !== "assets") {
      // Every record written after the checkpoint comes with the delta from it (assets have no delta).
      const delta = yield* collect(pageIndexTraversal(row.resource, { sinceVersionId: outcome.checkpoint }, variant), schemaOf(row))
      assert.strictEqual(delta.outcome.consistency, "consistent")
      for (const record of delta.records) held.add(record)
      const written = (yield* sim.changedSince(row.resource, outcome.checkpoint!)).filter((r) => variant === "all" || isActive(r))
      if (column.kind !== "shrink") assert.isAbove(written.length, 0, "the delta had nothing to recover")
      for (const record of written) assert.isTrue(held.has(canonical(record)), `not recovered by the delta: ${canonical(record)}`)
    }
    // Unchanged records that moved between pages while the pass ran may be in neither; a new pass has them.
    yield* noteMissed(row, column, held, yield* expectedOf(row, sim, prepared, variant))
    yield* assertNewPassComplete(row, sim, prepared, variant)
    return "✓ drifted"
  })

/** Records the current records that the drifted pass (and its delta) did not deliver, for the note under the table. */
const noteMissed = (row: Row, column: Column, held: ReadonlySet<string>, current: ReadonlyArray<unknown>) =>
  Effect.sync(() => {
    const missed = current.filter((record) => !held.has(canonical(record))).length
    if (missed > 0) moved.set(`${label(row)} × ${column.id}`, missed)
  })

const assertNewPassComplete = (row: Row, sim: Simulator.Service, prepared: Prepared, variant: Variant) =>
  Effect.gen(function*() {
    const again = yield* collect(traversalOf(row, prepared, variant), schemaOf(row))
    assertSameSet(again.records, yield* expectedOf(row, sim, prepared, variant), "records of a new pass")
    assert.strictEqual(again.outcome.consistency, "consistent")
  })

/** Writes during a cursor traversal: the versionId changes; there is no delta, and a new pass is complete. */
const cursorWrites = (row: Row & { readonly kind: "cursor" }, sim: Simulator.Service): Cell =>
  Effect.gen(function*() {
    yield* sim.setChurn({ every: 2, limit: 1, resources: [row.resource], inserts: 3, updates: 3, deletes: 2 })
    const { outcome, records } = yield* collect(traversalOf(row, {}, "all"), schemaOf(row))
    yield* sim.setChurn(undefined)
    assert.isTrue(sawWrites(yield* sim.log), "the writes did not land during the traversal: the cell proves nothing")
    assert.strictEqual(outcome.consistency, "drifted")
    yield* noteMissed(row, columns.find((c) => c.kind === "writes")!, new Set(records), yield* expectedOf(row, sim, {}, "all"))
    yield* assertNewPassComplete(row, sim, {}, "all")
    return "✓ drifted"
  })

/**
 * Writes during a legacy walk: the server cut the walk's batches at its first request, so the walk is complete
 * as of then; its sinceModifiedToken delta brings every record up to date.
 */
const legacyWrites = (row: Row & { readonly kind: "legacy" }, sim: Simulator.Service): Cell =>
  Effect.gen(function*() {
    const encode = Schema.encodeSync(schemaOf(row))
    const key = keyOf(row)
    const held = new Map<string, string>()
    const delivered: Array<string> = []
    let atStart: ReadonlyArray<unknown> = []
    const upsert = (page: Traversal.Page<unknown>) =>
      Effect.sync(() => {
        for (const record of page.records) held.set(key(record), canonical(encode(record)))
      })
    yield* sim.setChurn({ every: 2, limit: 2, resources: ["assignments", "users"], inserts: 2, updates: 2, deletes: 2 })
    const outcome = yield* legacyTraversal(row).run((page) =>
      Effect.gen(function*() {
        if (page.index === 0) atStart = yield* expectedOf(row, sim, {}, "all")
        delivered.push(...page.records.map((record) => canonical(encode(record))))
        yield* upsert(page)
      })
    )
    yield* sim.setChurn(undefined)
    assertSameSet(delivered, atStart, "records as of the walk's first request")
    assert.strictEqual(outcome.consistency, "consistent")
    const now = yield* expectedOf(row, sim, {}, "all")
    assert.notDeepEqual(now.map(canonical).sort(), atStart.map(canonical).sort(), "no write landed during the walk")
    yield* legacyTraversal(row, { sinceModifiedToken: outcome.checkpoint! }).run(upsert)
    for (const record of now) assert.strictEqual(held.get(key(record)), canonical(record), `not caught up: ${key(record)}`)
    return "✓ complete → delta"
  })

const check = (row: Row, column: Column, sim: Simulator.Service): Cell => {
  switch (column.kind) {
    case "retryable":
      return retryable(row, column, sim)
    case "auth":
      return auth(row, sim)
    case "restart":
    case "restart-exhausted":
      return row.kind === "legacy" ? restart(row, sim, column.kind === "restart-exhausted") : Effect.die("not applicable")
    case "zero":
      return zero(row, sim)
    case "grow":
    case "shrink":
    case "writes":
      return row.kind === "cursor"
        ? cursorWrites(row, sim)
        : row.kind === "legacy"
        ? legacyWrites(row, sim)
        : pagedWrites(row, column, sim)
  }
}

/** One cell on its own served simulator and client; at most 5 requests in flight, whatever happened. */
const runCell = (row: Row, column: Column) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* SimulatorServer.make(settingsOf(row))
    const client = yield* NodeVppClient.make({ ...fast(column), token: server.simulator.token, baseUrl: server.baseUrl })
    const result = yield* check(row, column, server.simulator).pipe(Effect.provideService(VppClient.VppClient, client))
    assert.isAtMost(yield* server.simulator.maxInFlight, VppClient.maxConcurrency)
    return result
  }))

// ---------------------------------------------------------------------------------------------------------
// The matrix

const results = new Map<string, string>()
/** Per cell, the current records a drifted pass (and its delta) did not deliver. */
const moved = new Map<string, number>()
const cellKey = (row: Row, column: Column) => `${label(row)}|${column.id}`

describe.concurrent("fault matrix over loopback", () => {
  for (const row of rows) {
    for (const column of columns) {
      if (!applies(row, column)) continue
      it.live(`${label(row)} × ${column.id}`, () =>
        runCell(row, column).pipe(
          Effect.tap((text) => Effect.sync(() => results.set(cellKey(row, column), text))),
          Effect.tapErrorCause(() => Effect.sync(() => results.set(cellKey(row, column), "✗ FAILED")))
        ))
    }
  }
})

const table = (): string => {
  const header = ["family", ...columns.map((c) => c.id)]
  const body = rows.map((row) => [
    label(row),
    ...columns.map((column) => applies(row, column) ? results.get(cellKey(row, column)) ?? "(not run)" : "n/a")
  ])
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((line) => line[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n")
}

afterAll(() => {
  console.log(
    [
      "Fault matrix (family × fault), over the simulator served on 127.0.0.1 and the undici client:",
      "",
      table(),
      "",
      "✓ complete: the records equal the simulator's (canonical JSON), each once, consistent, after ≥ 1 retry (Retry-After waited out)",
      "✓ typed-error: T: the traversal failed with T (9622 in a 200 body: AuthError invalid; 9633 on every pass: BadRequestError 9633)",
      "✓ drifted: writes landed during the pass; it ended and reported drifted; the sinceVersionId delta from its checkpoint",
      "  recovered every record written after it (assets and cursors have no delta); a new pass is complete and consistent",
      "✓ complete → delta: the legacy walk is complete as the server cut it at its first request; its sinceModifiedToken delta caught up",
      "n/a: the fault does not exist for the family (assets never shrink in the model: Apple keeps an asset while it has licences)",
      "",
      "Current records that a drifted pass and its delta did not deliver in their current state (a new pass did): written",
      "records where no delta exists (assets, cursors), and unchanged records that moved to a page already read:",
      ...(moved.size === 0 ? ["  none"] : [...moved].sort().map(([cell, count]) => `  ${cell}: ${count}`))
    ].join("\n")
  )
})
