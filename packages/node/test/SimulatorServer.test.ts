import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Asset from "@vppkit/core/Asset"
import * as Assignment from "@vppkit/core/Assignment"
import * as Page from "@vppkit/core/Page"
import * as Simulator from "@vppkit/simulator/Simulator"
import * as SToken from "@vppkit/core/SToken"
import * as User from "@vppkit/core/User"
import * as VppClient from "@vppkit/core/VppClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { listen } from "../src/internal/server.js"
import * as NodeVppClient from "../src/NodeVppClient.js"
import * as SimulatorServer from "../src/SimulatorServer.js"

/** Retries fast enough for a test over loopback. */
const fast = {
  retry: { baseDelay: Duration.millis(5), maxDelay: Duration.millis(40) },
  rateLimitPause: Duration.millis(10),
  requestTimeout: Duration.seconds(2)
} satisfies Omit<NodeVppClient.Options, "token" | "baseUrl">

const resources = {
  assets: { path: "/v2/assets", record: Asset.Asset, envelope: Page.envelope("assets", Asset.Asset) },
  assignments: {
    path: "/v2/assignments",
    record: Assignment.Assignment,
    envelope: Page.envelope("assignments", Assignment.Assignment)
  },
  users: { path: "/v2/users", record: User.User, envelope: Page.envelope("users", User.User) }
} as const

type AnyEnvelope = Schema.Schema<Schema.Struct.Type<typeof Page.PageFields> & { readonly [key: string]: unknown }, any>

/** Walks one page-index endpoint from page 0, following `nextPageIndex` (the paginators live in core). */
const walk = (resource: Simulator.PageResource, params: VppClient.UrlParams = {}) =>
  Effect.gen(function*() {
    const client = yield* VppClient.VppClient
    const { path } = resources[resource]
    const envelope = resources[resource].envelope as unknown as AnyEnvelope
    const record = resources[resource].record as unknown as Schema.Schema<unknown, unknown>
    const pages: Array<Page.Page<unknown>> = []
    let pageIndex: number | undefined = 0
    while (pageIndex !== undefined) {
      const body = yield* client.get(path, { ...params, pageIndex }, envelope)
      const page: Page.Page<unknown> = Page.fromEnvelope(resource, body)
      pages.push(page)
      pageIndex = page.nextPageIndex
    }
    // Encoded back to their JSON shape, to compare with what the simulator holds.
    const records = Schema.encodeSync(Schema.Array(record))(pages.flatMap((p) => p.records))
    return { pages, records }
  })

const canonical = Simulator.canonicalJson

const keys = (records: ReadonlyArray<unknown>): Set<string> => new Set(records.map(canonical))

const serverWithClient = (settings: Simulator.Settings, client: Omit<NodeVppClient.Options, "token" | "baseUrl"> = fast) =>
  SimulatorServer.layerClient(client).pipe(Layer.provideMerge(SimulatorServer.layer(settings)))

/** Waits (up to 2 s) until `check` holds, for facts that settle asynchronously such as a socket closing. */
const eventually = <A>(get: Effect.Effect<A>, check: (a: A) => boolean, deadline = Date.now() + 2000): Effect.Effect<A> =>
  Effect.flatMap(get, (a) =>
    check(a) || Date.now() > deadline
      ? Effect.succeed(a)
      : Effect.zipRight(Effect.sleep(Duration.millis(10)), eventually(get, check, deadline)))

/** A served simulator with `fault` queued for the matching request(s), and an undici client on it. */
const servedWithFault = (
  settings: Simulator.Settings,
  fault: Simulator.Fault,
  match: Simulator.FaultMatch,
  options: Omit<NodeVppClient.Options, "token" | "baseUrl"> = {}
) =>
  Effect.gen(function*() {
    const server = yield* SimulatorServer.make(settings)
    yield* server.simulator.inject(fault, match)
    const client = yield* NodeVppClient.make({ ...fast, ...options, token: server.simulator.token, baseUrl: server.baseUrl })
    return { server, client }
  })

const socketFaults: ReadonlyArray<Simulator.Fault> = [
  { _tag: "RateLimited" },
  { _tag: "Unavailable" },
  { _tag: "InternalError" },
  { _tag: "BadGateway" },
  { _tag: "GatewayTimeout" },
  { _tag: "MalformedJson" },
  { _tag: "Slow", millis: 20 },
  { _tag: "ConnectionReset" }
]

describe("SimulatorServer over loopback with the undici client", () => {
  it.scopedLive("reports its address and serves Service Config", () =>
    Effect.gen(function*() {
      const server = yield* SimulatorServer.make({ seed: 3 })
      assert.strictEqual(server.host, "127.0.0.1")
      assert.isAbove(server.port, 0)
      assert.strictEqual(server.url, `http://127.0.0.1:${server.port}`)
      assert.strictEqual(server.baseUrl, `${server.url}/mdm`)
      const client = yield* NodeVppClient.make({ token: server.simulator.token, baseUrl: server.baseUrl })
      const config = yield* client.syncServiceConfig
      assert.strictEqual(config.limits["maxRequestPerSecond"], 15)
    }))

  it.live("passes the simulator settings through: page size, latency per request, churn", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const { pages, records } = yield* walk("users")
      // Three requests, each at least 40 ms late.
      assert.isAtLeast(Date.now() - started, 120)
      assert.deepStrictEqual(pages.map((page) => page.records.length), [5, 5, 2])
      assert.strictEqual(records.length, 12)
      // Churn before every second request: the versionId moves during the walk.
      assert.isAbove(new Set(pages.map((page) => page.versionId)).size, 1)
    }).pipe(Effect.provide(serverWithClient({
      seed: 6,
      pageSize: 5,
      records: { users: 12 },
      latency: Duration.millis(40),
      churn: { every: 2, resources: ["users"], updates: 1 }
    }))))

  it.live("walks assets, assignments and users completely and correctly under random faults", () =>
    Effect.gen(function*() {
      const server = yield* SimulatorServer.SimulatorServer
      const sim = server.simulator
      const [assets, assignments, users] = yield* Effect.all(
        [walk("assets"), walk("assignments"), walk("users")],
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(assets.records, yield* sim.records("assets"))
      assert.deepStrictEqual(assignments.records, yield* sim.records("assignments"))
      assert.deepStrictEqual(users.records, yield* sim.records("users"))
      assert.strictEqual(assets.pages.length, 3)
      assert.strictEqual(assignments.pages.length, 16)

      const log = yield* sim.log
      const faults = new Set(log.flatMap((entry) => entry.fault === undefined ? [] : [entry.fault]))
      assert.isTrue(faults.has("ConnectionReset"), `faults seen: ${[...faults].join(", ")}`)
      assert.isAtLeast(faults.size, 4, `faults seen: ${[...faults].join(", ")}`)
      const stats = yield* (yield* VppClient.VppClient).stats
      // Every fault but Slow (served normally, late) costs a retry.
      assert.isAtLeast(stats.retries, log.filter((entry) => entry.fault !== undefined && entry.fault !== "Slow").length)
      assert.isAtMost(yield* sim.maxInFlight, VppClient.maxConcurrency)
    }).pipe(Effect.provide(serverWithClient({
      seed: 11,
      pageSize: 25,
      records: { assets: 60, users: 90, assignments: 400 },
      randomFaults: { probability: 0.25, faults: socketFaults }
    }))))

  it.live("reuses keep-alive connections: one for a sequential walk", () =>
    Effect.gen(function*() {
      const server = yield* SimulatorServer.SimulatorServer
      const { pages } = yield* walk("assignments")
      assert.strictEqual(pages.length, 20)
      assert.deepStrictEqual(yield* server.connections, { accepted: 1, open: 1 })
    }).pipe(Effect.provide(serverWithClient({ seed: 2, pageSize: 10, records: { assignments: 200 } }, { ...fast, concurrency: 1 }))))

  it.live("reuses keep-alive connections: at most five for concurrent walks", () =>
    Effect.gen(function*() {
      const server = yield* SimulatorServer.SimulatorServer
      const walks = yield* Effect.all([walk("assets"), walk("assignments"), walk("users")], { concurrency: "unbounded" })
      const requests = walks.reduce((n, w) => n + w.pages.length, 0)
      assert.isAtLeast(requests, 40)
      assert.isAtMost((yield* server.connections).accepted, VppClient.maxConcurrency)
    }).pipe(Effect.provide(serverWithClient({ seed: 2, pageSize: 10, records: { assets: 50, assignments: 200, users: 150 } }))))

  it.live("follows sinceVersionId deltas under faults, including a zero-record delta and an unusable checkpoint", () =>
    Effect.gen(function*() {
      const sim = (yield* SimulatorServer.SimulatorServer).simulator
      const fullUsers = yield* walk("users")
      const fullAssignments = yield* walk("assignments")
      const usersCheckpoint = fullUsers.pages[0]!.versionId
      const assignmentsCheckpoint = fullAssignments.pages[0]!.versionId

      yield* sim.churn("users", { inserts: 6, updates: 5, deletes: 4 })
      yield* sim.churn("assignments", { inserts: 9, updates: 4 })

      // Users: every write changes the record (a delete retires it), so the delta is exactly what changed.
      const usersDelta = yield* walk("users", { sinceVersionId: usersCheckpoint })
      const usersNow = yield* sim.records("users")
      const previousUsers = keys(fullUsers.records)
      const changedUsers = usersNow.filter((user) => !previousUsers.has(canonical(user)))
      assert.isAbove(changedUsers.length, 0)
      assert.deepStrictEqual(keys(usersDelta.records), keys(changedUsers))
      assert.strictEqual(keys(usersDelta.records).size, usersDelta.records.length)

      // Assignments: an update re-stamps a record without changing it, so the delta covers every new record
      // and holds nothing that is not current.
      const assignmentsDelta = yield* walk("assignments", { sinceVersionId: assignmentsCheckpoint })
      const assignmentsNow = keys(yield* sim.records("assignments"))
      const previousAssignments = keys(fullAssignments.records)
      const deltaAssignments = keys(assignmentsDelta.records)
      for (const record of assignmentsNow) {
        if (!previousAssignments.has(record)) assert.isTrue(deltaAssignments.has(record), record)
      }
      for (const record of deltaAssignments) assert.isTrue(assignmentsNow.has(record), record)
      assert.isAtLeast(deltaAssignments.size, 9)

      // Nothing changed since the delta: zero records is a normal answer.
      const empty = yield* walk("users", { sinceVersionId: usersDelta.pages[0]!.versionId })
      assert.strictEqual(empty.records.length, 0)
      assert.strictEqual(empty.pages.length, 1)

      const unusable = yield* Effect.flip(walk("users", { sinceVersionId: "00000000-0000-0000-0000-000000000000" }))
      assert.strictEqual(unusable._tag, "CheckpointUnusableError")
    }).pipe(Effect.provide(serverWithClient({
      seed: 5,
      pageSize: 7,
      records: { users: 60, assignments: 120 },
      randomFaults: { probability: 0.2, faults: socketFaults }
    }))))

  it.scopedLive("times out a stalled response and retries it", () =>
    Effect.gen(function*() {
      const { client, server } = yield* servedWithFault({ seed: 4, records: { users: 12 } }, { _tag: "Stall" }, {
        path: "/v2/users"
      }, { requestTimeout: Duration.millis(300) })
      const started = Date.now()
      const response = yield* client.execute(
        { _tag: "Get", path: "/v2/users", params: {} },
        Page.envelope("users", User.User)
      )
      assert.isAtLeast(Date.now() - started, 300)
      assert.strictEqual(response.attempts, 2)
      assert.strictEqual((response.value.users as ReadonlyArray<unknown>).length, (yield* server.simulator.records("users")).length)
      // The client gave up on the stalled connection and closed it; the retry came on another one.
      const connections = yield* eventually(server.connections, (c) => c.open <= 1)
      assert.isAtLeast(connections.accepted, 2)
      assert.strictEqual(connections.open, 1)
      // The server saw the stalled request end (its fiber was interrupted when the socket closed).
      const log = yield* eventually(server.simulator.log, (entries) => entries.length === 2)
      assert.deepStrictEqual(log.map((entry) => entry.fault), ["Stall", undefined])
    }))

  it.scopedLive("fails with a TimeoutError when every attempt stalls", () =>
    Effect.gen(function*() {
      const { client } = yield* servedWithFault({ seed: 4 }, { _tag: "Stall" }, { path: "/v2/assets", times: 2 }, {
        requestTimeout: Duration.millis(150),
        retry: { maxRetries: 1, baseDelay: Duration.millis(5) }
      })
      const error = yield* Effect.flip(client.get("/v2/assets", {}, Page.envelope("assets", Asset.Asset)))
      assert.strictEqual(error._tag, "TimeoutError")
      assert.strictEqual(error._tag === "TimeoutError" && error.timeoutMillis, 150)
    }))

  it.scopedLive("applies the pool's own headers timeout as a backstop to the request timeout", () =>
    Effect.gen(function*() {
      const { client } = yield* servedWithFault({ seed: 4 }, { _tag: "Stall" }, { path: "/v2/assets" }, {
        requestTimeout: Duration.seconds(10),
        retry: { maxRetries: 0 },
        dispatcher: { headersTimeout: Duration.millis(100) }
      })
      const started = Date.now()
      const error = yield* Effect.flip(client.get("/v2/assets", {}, Page.envelope("assets", Asset.Asset)))
      assert.strictEqual(error._tag, "TransportError")
      assert.isBelow(Date.now() - started, 2000)
    }))

  it.scopedLive("retries a reset connection (TransportError) until it succeeds", () =>
    Effect.gen(function*() {
      const { client, server } = yield* servedWithFault({ seed: 9, records: { assets: 15 } }, { _tag: "ConnectionReset" }, {
        path: "/v2/assets",
        times: 2
      })
      const response = yield* client.execute(
        { _tag: "Get", path: "/v2/assets", params: {} },
        Page.envelope("assets", Asset.Asset)
      )
      assert.strictEqual(response.attempts, 3)
      assert.strictEqual((response.value.assets as ReadonlyArray<unknown>).length, 15)
      const log = yield* server.simulator.log
      assert.deepStrictEqual(log.map((entry) => entry.fault), ["ConnectionReset", "ConnectionReset", undefined])
      // Each reset really dropped its connection.
      assert.isAtLeast((yield* server.connections).accepted, 3)
    }))

  it.scopedLive("reports a TransportError when the connection is reset and retries are off", () =>
    Effect.gen(function*() {
      const { client } = yield* servedWithFault({ seed: 9 }, { _tag: "ConnectionReset" }, { path: "/v2/users" }, {
        retry: { maxRetries: 0 }
      })
      const error = yield* Effect.flip(client.get("/v2/users", {}, Page.envelope("users", User.User)))
      assert.strictEqual(error._tag, "TransportError")
      assert.strictEqual(error.endpoint, "/v2/users")
    }))

  it.scopedLive("a refused connection is a TransportError whose reason names the socket error", () =>
    Effect.gen(function*() {
      const token = SToken.make({ secret: "refused", orgName: "Nobody", expiresAt: new Date("2031-01-01T00:00:00Z") })
      // Port 9 (discard) on loopback: nothing listens there in a test sandbox.
      const client = yield* NodeVppClient.make({ ...fast, retry: { maxRetries: 0 }, token, baseUrl: "http://127.0.0.1:9/mdm" })
      const error = yield* Effect.flip(client.get("/v2/users", {}, Page.envelope("users", User.User)))
      assert.strictEqual(error._tag, "TransportError")
      assert.include(error.message, "ECONNREFUSED")
    }))

  it.scopedLive("POSTs JSON to an unknown legacy path and maps the simulator's 404 to a typed error", () =>
    Effect.gen(function*() {
      const server = yield* SimulatorServer.make({ seed: 1 })
      const client = yield* NodeVppClient.make({ ...fast, token: server.simulator.token, baseUrl: server.baseUrl })
      const error = yield* Effect.flip(
        client.execute({ _tag: "LegacyPost", path: "/getVPPNothingSrv", body: { assignedOnly: true } }, Schema.Unknown)
      )
      assert.strictEqual(error._tag, "BadRequestError")
      if (error._tag !== "BadRequestError") return
      assert.strictEqual(error.status, 404)
      assert.strictEqual(error.errorNumber, 9602)
      const [entry] = yield* server.simulator.log
      assert.strictEqual(entry?.method, "POST")
      assert.strictEqual(entry?.path, "/getVPPNothingSrv")
    }))

  it.scopedLive("sends legacy POSTs as JSON with the sToken in the body and treats status -1 as an error", () =>
    Effect.gen(function*() {
      const token = SToken.make({ secret: "legacy-secret", orgName: "Legacy School", expiresAt: new Date("2031-01-01T00:00:00Z") })
      const received: Array<{ path: string; contentType: string | undefined; body: Record<string, unknown> }> = []
      // A stand-in for the legacy service (the simulator's legacy endpoints belong to another issue).
      const legacy = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const body = (yield* Effect.orDie(request.json)) as Record<string, unknown>
        const path = new URL(request.url, "http://legacy").pathname
        received.push({ path, contentType: request.headers["content-type"], body })
        return path.endsWith("/VPPServiceConfigSrv")
          ? HttpServerResponse.unsafeJson({ status: 0, maxBatchAssociateLicenseCount: 20 })
          : HttpServerResponse.unsafeJson({ status: -1, errorNumber: 9625, errorMessage: "The server has revoked the sToken." })
      })
      const listening = yield* listen(legacy)
      const client = yield* NodeVppClient.make({
        ...fast,
        token,
        baseUrl: `http://127.0.0.1:${listening.port}/mdm`
      })
      const config = yield* client.execute(
        { _tag: "LegacyPost", path: "/VPPServiceConfigSrv", body: {} },
        Schema.Struct({ status: Schema.Literal(0), maxBatchAssociateLicenseCount: Schema.Number })
      )
      assert.strictEqual(config.value.maxBatchAssociateLicenseCount, 20)
      const error = yield* Effect.flip(
        client.execute({ _tag: "LegacyPost", path: "/getVPPLicensesSrv", body: { batchToken: "abc" } }, Schema.Unknown)
      )
      assert.strictEqual(error._tag, "AuthError")
      assert.strictEqual(error._tag === "AuthError" && error.reason, "revoked")
      assert.notInclude(error.message, Redacted.value(token.value))
      assert.deepStrictEqual(received.map((r) => r.path), ["/mdm/VPPServiceConfigSrv", "/mdm/getVPPLicensesSrv"])
      assert.isTrue(received.every((r) => r.contentType === "application/json"))
      assert.strictEqual(received[1]!.body["sToken"], Redacted.value(token.value))
      assert.strictEqual(received[1]!.body["batchToken"], "abc")
    }))
})

describe("cleanup", () => {
  it.live("leaves no server, socket or stalled handler behind", () =>
    Effect.gen(function*() {
      const handles = yield* eventually(
        Effect.sync(() => process.getActiveResourcesInfo()),
        (names) => !names.some((name) => name.startsWith("TCP")) && names.filter((name) => name === "Timeout").length <= 1
      )
      assert.deepStrictEqual(handles.filter((name) => name.startsWith("TCP")), [])
      // One timer is the running test's own timeout; a stalled handler left running would hold another.
      assert.isAtMost(handles.filter((name) => name === "Timeout").length, 1)
    }))
})
