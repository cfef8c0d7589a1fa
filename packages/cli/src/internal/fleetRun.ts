/**
 * The work of `vppkit fleet …` (loaded when a fleet command runs): the token store, the `Location` entity on a
 * runner over the database (SQLite: a `SingleRunner`; PostgreSQL: a runner of the database's cluster, over TCP),
 * the schedules.
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import type * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SingleRunner from "@effect/cluster/SingleRunner"
import * as SocketRunner from "@effect/cluster/SocketRunner"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpServer from "@effect/platform/HttpServer"
import * as SocketServer from "@effect/platform/SocketServer"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Fleet from "@vppkit/fleet/Fleet"
import * as FleetHttp from "@vppkit/fleet/FleetHttp"
import * as FleetKey from "@vppkit/fleet/FleetKey"
import * as FleetMetrics from "@vppkit/fleet/FleetMetrics"
import * as FleetStatus from "@vppkit/fleet/FleetStatus"
import * as Location from "@vppkit/fleet/Location"
import * as MessageRetention from "@vppkit/fleet/MessageRetention"
import * as Schedules from "@vppkit/fleet/Schedules"
import * as TokenStore from "@vppkit/fleet/TokenStore"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as NodeVppClient from "@vppkit/node/NodeVppClient"
import * as SqlSyncStore from "@vppkit/sync/SqlSyncStore"
import * as Sync from "@vppkit/sync/Sync"
import * as VppClient from "@vppkit/core/VppClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as HashSet from "effect/HashSet"
import * as FiberRef from "effect/FiberRef"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as http_ from "node:http"
import * as os from "node:os"
import { CommandError, markStopAsSuccess, SyncLockedError, UsageError } from "../ExitCode.js"
import type * as Resources from "../Resources.js"
import { loadSettings } from "./settings.js"
import * as Help from "./help.js"
import * as Output from "./output.js"
import { logger as commandLogger, withLogging } from "./reporting.js"
import * as SyncLock from "./syncLock.js"
import { databaseError, describeSqlError, isSqlError, parseDatabase } from "./syncRun.js"

import type { AddFlags, ListFlags, RemoveFlags, RunFlags, StatusFlags, SyncFlags } from "./fleetCommand.js"

/** A failure of the fleet's pieces as a one-line command error (never a token). */
const oneLine = (what: string) => (cause: Cause.Cause<unknown>) => {
  const failure = Cause.squash(cause)
  if (failure instanceof UsageError || failure instanceof CommandError) return Effect.fail(failure)
  if (failure instanceof FleetKey.FleetKeyError) return Effect.fail(new UsageError({ message: failure.message }))
  if (failure instanceof NodeDatabase.DatabaseError) return Effect.fail(databaseError(failure))
  const message = isSqlError(failure)
    ? describeSqlError(failure)
    : failure instanceof Error
    ? failure.message.split("\n")[0]!
    : String(failure)
  return Effect.fail(new CommandError({ message: `${what}: ${message}` }))
}

/** The key (`VPPKIT_FLEET_KEY_FILE`; refused without it), the database and the token store over it. */
const tokenStoreLayer = (target: NodeDatabase.Target) =>
  TokenStore.layer.pipe(
    Layer.provideMerge(NodeDatabase.layerTarget(target)),
    Layer.provideMerge(FleetKey.layerConfig)
  )

/**
 * `VPPKIT_FLEET_POLL_MILLIS` (undocumented in help; for tests): the runner's storage poll and assignment refresh
 * (10 s and 3 s by default) and how long a stop waits for a running sync before interrupting it (15 s) all become
 * this many milliseconds, so a test's `fleet run` sees each tick and stops at once. On a cluster, a runner's shard
 * locks and heartbeat also expire after 30 times as long (at least 3 s; 35 s by default), so the runners see a
 * killed one gone within seconds. Unset: the cluster's defaults.
 */
const shardingConfigOf: Effect.Effect<Partial<ShardingConfig.ShardingConfig["Type"]> | undefined> = Config.integer(
  "VPPKIT_FLEET_POLL_MILLIS"
).pipe(
  Config.option,
  Effect.map(Option.match({
    onNone: () => undefined,
    onSome: (millis) => ({
      entityMessagePollInterval: millis,
      refreshAssignmentsInterval: millis,
      entityTerminationTimeout: millis,
      shardLockExpiration: Duration.millis(Math.max(3000, 30 * millis))
    })
  })),
  Effect.orElseSucceed(() => undefined)
)

/** The fleet's messages in the database and its runner in this process alone (SQLite). */
const singleRunner = Layer.unwrapEffect(
  Effect.map(shardingConfigOf, (shardingConfig) => SingleRunner.layer({ runnerStorage: "memory", shardingConfig }))
)

/**
 * The connections of a runner's cluster machinery: the one its shard locks are held on (reserved for the runner's
 * life, rebuilt when it fails) and the ones its message and runner storage query on.
 */
const clusterConnections = 4

/**
 * A runner of the database's cluster (PostgreSQL): `@effect/cluster`'s socket runner (as `NodeClusterSocket.layer({
 * storage: "sql" })` makes it) on the socket `server` this process listens on, known to the others as `address`:
 * the runners and their shard locks (advisory locks) and the messages in the database, messages between runners
 * over TCP (MessagePack), runners that stop answering pings marked unhealthy.
 *
 * The cluster has a pool of its own ({@link clusterConnections}, sessions named `name`): each running sync holds a
 * connection of the runner's pool for its length (its location's lock), the runner's pool sized for its own pools of
 * syncs (`Location.connectionsFor`) and no more. Sharing that pool (before it was so sized), the cluster's storage
 * queued behind the syncs — its shard-lock refresh timed out, the runner declared its shard locks unhealthy and
 * interrupted its entities, replies and the schedules' next ticks waited — and a fleet of three runners on one
 * machine slowed to a fifth of one runner's rate or stopped (BENCHMARKS.md, item 10).
 */
const clusterRunner = (
  target: NodeDatabase.Target,
  name: string,
  server: SocketServer.SocketServer["Type"],
  address: RunnerAddress.RunnerAddress,
  shardingConfig: Partial<ShardingConfig.ShardingConfig["Type"]> | undefined
) =>
  SocketRunner.layer.pipe(
    Layer.provide(RunnerHealth.layerPing.pipe(Layer.provide(Runners.layerRpc), Layer.provide(NodeClusterSocket.layerClientProtocol))),
    Layer.provide(Layer.succeed(SocketServer.SocketServer, server)),
    Layer.provide(NodeClusterSocket.layerClientProtocol),
    Layer.provideMerge(SqlMessageStorage.layer),
    Layer.provide(SqlRunnerStorage.layer),
    Layer.provide(ShardingConfig.layer({ ...shardingConfig, runnerAddress: Option.some(address) })),
    Layer.provide(RpcSerialization.layerMsgPack),
    Layer.provide(NodeDatabase.layerTarget(target, { applicationName: name, maxConnections: clusterConnections }))
  )

/**
 * A client of the database's cluster (PostgreSQL), for `fleet sync` while runners run: it registers no runner and
 * owns no shard; its messages are stored in the database and handed to the runner that owns each location.
 */
const clusterClient = Layer.unwrapEffect(Effect.map(shardingConfigOf, (shardingConfig) =>
  SocketRunner.layerClientOnly.pipe(
    Layer.provide(NodeClusterSocket.layerClientProtocol),
    Layer.provideMerge(SqlMessageStorage.layer),
    Layer.provideMerge(SqlRunnerStorage.layer),
    Layer.provide(ShardingConfig.layer({ ...shardingConfig, runnerAddress: Option.none() })),
    Layer.provide(RpcSerialization.layerMsgPack)
  )
))

/** The runners of the database's cluster that are alive (their heartbeat recent), healthy or not. */
const liveRunners = Effect.flatMap(RunnerStorage.RunnerStorage, (storage) => storage.getRunners)

/**
 * The fleet on a runner (`sharding`) over the database: `fleet`, the Location entity and the stores
 * (`Fleet.layerLocations`) or a whole runner (`Fleet.layer`: the schedules too), its client over undici at `baseUrl`.
 * `name`, if any, names the runner's PostgreSQL sessions and its syncs' location locks; `runnerName` names the
 * runner in the runs it records (`fleet status`'s runner; default the machine's name).
 *
 * With `connections` (`Fleet.connectionsFor` of the runner's pools) the pool has that many connections, one for each
 * scheduled sync the runner may run at once (it holds one for its length) and two more: with node-postgres's
 * default of 10, 16 incremental syncs at once were 10, the others waiting for a connection (item 10: one runner held
 * 10 location locks at a time). The pool opens connections as they are wanted, so a runner with few syncs keeps few;
 * the whole fleet's peak is the runners × (this + the cluster's {@link clusterConnections} + 1).
 */
const runnerLayer = <A, E, ROut, E2>(
  target: NodeDatabase.Target,
  baseUrl: string | undefined,
  sharding: Layer.Layer<ROut, E2, SqlClient.SqlClient>,
  fleet: Layer.Layer<A, E, Sharding.Sharding | SqlClient.SqlClient | FleetKey.FleetKey | HttpClient.HttpClient>,
  name?: string,
  connections?: number,
  runnerName: string = os.hostname()
) =>
  fleet.pipe(
    Layer.provideMerge(sharding),
    // the stores (`fleet`'s own, built once) before the runner: their migrations done before it joins the cluster
    Layer.provideMerge(Fleet.layerStores),
    Layer.provideMerge(NodeDatabase.layerTarget(target, { applicationName: name, maxConnections: connections })),
    Layer.provideMerge(FleetKey.layerConfig),
    Layer.provideMerge(NodeVppClient.layerHttpClient()),
    Layer.provideMerge(Layer.succeed(Location.ClientOptions, baseUrl === undefined ? {} : { baseUrl })),
    Layer.provideMerge(Layer.succeed(Location.SyncOptions, name === undefined ? {} : { lockHolder: name })),
    Layer.provideMerge(Layer.succeed(Location.RunnerName, runnerName))
  )

/**
 * On SQLite, one fleet runner per database: `fleet run` and `fleet sync` are each a `SingleRunner` that owns every
 * location, so two of them on one database could sync a location twice at once. The second fails at once (exit 6):
 * the lock of `vppkit sync` (`<db>-lock`, so a `vppkit sync` into the same file waits its turn too).
 *
 * On PostgreSQL, an advisory lock of the database and schema, on a connection of its own, for the process: a
 * `fleet sync` without runners (a `SingleRunner` of its own) takes it exclusively; each runner of the cluster
 * (`shared`) takes it in share mode. So runners run together, and a `fleet sync` on its own runs while none does.
 */
const holdRunner = (target: NodeDatabase.Target, options?: { readonly shared?: boolean; readonly holder?: string }) =>
  target._tag === "Sqlite"
    ? SyncLock.acquire(target.filename)
    : Effect.flatMap(
      Layer.build(NodeDatabase.layerTarget(target)).pipe(Effect.catchAllCause(oneLine(`database ${target.description}`))),
      (database) =>
        SqlSyncStore.holdLock("vppkit-fleet-runner", {
          holder: options?.holder ?? `vppkit fleet ${process.pid}@${os.hostname()}`,
          shared: options?.shared
        }).pipe(
          Effect.provide(database),
          Effect.catchTag("LocationBusyError", (busy) =>
            new SyncLockedError({
              message: options?.shared === true
                ? `a vppkit fleet sync without runners is running on ${target.description}${
                  busy.holder === undefined ? "" : ` (${busy.holder.name})`
                }: wait for it to finish`
                : `another vppkit fleet run or fleet sync is running on ${target.description}${
                  busy.holder === undefined ? "" : ` (${busy.holder.name})`
                }: stop it, or wait for it to finish`
            })),
          Effect.catchIf(isSqlError, (error) =>
            new CommandError({ message: `cannot lock ${target.description}: ${describeSqlError(error)}` }))
        )
    )

/**
 * Leaves out pg's deprecation warning about queries queued on a busy client: @effect/cluster's SQL runner storage
 * sends its queries on the connection that holds its advisory locks without waiting for each other, which pg 8
 * queues and runs in order (correct, but it warns once on stderr, where it reads as a fault of the fleet). Every
 * other warning is printed as before.
 */
const quietQueuedQueryWarning = Effect.sync(() => {
  const emitWarning = process.emitWarning
  process.emitWarning = function(this: unknown, warning: string | Error, ...rest: Array<any>) {
    const text = typeof warning === "string" ? warning : warning.message
    if (text.startsWith("Calling client.query() when the client is already executing a query is deprecated")) return
    return (emitWarning as (...args: Array<unknown>) => void).call(process, warning, ...rest)
  } as typeof process.emitWarning
})

/**
 * Syncs at once on SQLite (each schedule's pool, and `fleet sync`'s messages), instead of 16 incremental and 4 full
 * (8 for `fleet sync`) on PostgreSQL. A SQLite client has one connection, and each resource's pass holds it in its
 * transaction across its requests, its retries' backoff and its rate limit's waits (15 requests a second per token):
 * the syncs write one after another whatever the pool. Two keep it busy (one in its transaction, the next learning
 * its location and reading its state); more only queue for it, and the fleet's own statements (the schedules' ticks,
 * the messages' replies, the runner's storage poll) wait behind them. 30 small locations with faults, each synced
 * every 2 s, on a loaded 2-core machine: 2 at once brought every location's change in 5-6 s, 16 at once in 11 s
 * (and of the ticks due every 2 s, 2 came in the first 19 s).
 */
const sqliteConcurrency = 2

/** The base URL the fleet talks to: `--base-url`, else `VPP_BASE_URL`, else Apple's. */
const baseUrlOf = (flag: Option.Option<string>) =>
  Option.isSome(flag)
    ? Effect.succeed(flag.value)
    : Config.string("VPP_BASE_URL").pipe(Config.option, Effect.map(Option.getOrUndefined), Effect.orElseSucceed(() => undefined))

const textField = (name: string): Resources.Field => ({ name, type: "text" })

/** The uIds `refs` name (a uId, a token's name or fingerprint prefix); all locations when there are none. */
const resolveLocations = (refs: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const tokens = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.list)
    const all = [...TokenStore.byLocation(tokens).keys()]
    if (refs.length === 0) return all
    const uIds: Array<string> = []
    for (const ref of refs) {
      const uId = all.includes(ref)
        ? ref
        : tokens.find((t) => t.name === ref || (ref.length >= 8 && t.fingerprint.startsWith(ref.toLowerCase())))?.uId
      if (uId === undefined) return yield* new UsageError({ message: `fleet sync: no location ${JSON.stringify(ref)} (a uId, or a token's name or fingerprint)` })
      if (!uIds.includes(uId)) uIds.push(uId)
    }
    return uIds
  })

/**
 * A location's outcome in one line. Drifted resources are named: their records are stored, but their pass saw the
 * data change, so the deletions (and, for a full pass, the checkpoint) wait for the next run — as `vppkit sync` says.
 */
const outcomeLine = (outcome: Location.Outcome) => {
  const records = outcome.resources.reduce((sum, r) => sum + r.records, 0)
  const drifted = outcome.resources.filter((r) => r.consistency === "drifted").map((r) => r.resource)
  // what ran: a first sync is full whatever was asked, an incremental request runs full where Apple has no delta
  const modes = [...new Set(outcome.resources.map((r) => r.mode))].sort().join(" and ")
  return `location ${outcome.uId}: ${outcome.result} (${modes === "" ? outcome.full ? "full" : "incremental" : modes}, ${outcome.resources.length} resources, ${records} records${
    drifted.length === 0 ? "" : `; drifted, caught up by the next run: ${drifted.join(", ")}`
  })${outcome.failure === undefined ? "" : `: ${outcome.failure.message}`}`
}

/** A schedule's event as a line on stderr (failures and expired tokens even with --quiet). */
const report = (event: Schedules.Event, quiet: boolean): Effect.Effect<void> => {
  switch (event._tag) {
    case "Synced":
      return quiet ? Effect.void : Console.error(outcomeLine(event.outcome))
    case "Failed":
      return Console.error(`location ${event.uId}: failed: ${event.failure.message} (tried again at its next slot)`)
    case "Overrun":
      return Console.error(Schedules.overrunMessage(event))
    case "Expired":
      return Console.error(`location ${event.uId}: skipped: its token(s) ${event.tokens.join(", ")} expired ${event.expiredAt.toISOString().slice(0, 10)}`)
    case "Unscheduled":
      return Console.error(`token ${event.name ?? event.fingerprint.slice(0, 12)}: no uId, not synced`)
    case "Tick":
      return quiet ? Effect.void : Console.error(Schedules.tickMessage(event))
    case "TickDone":
      return Effect.void
  }
}

/** `--format`, else table on a terminal and ndjson otherwise; one of {@link Output.formats} (`wide`: nothing cut). */
const chooseFormat = (format: Option.Option<string>) => {
  const chosen = Option.getOrElse(format, () => process.stdout.isTTY === true ? "table" : "ndjson")
  return (Output.formats as ReadonlyArray<string>).includes(chosen)
    ? Effect.succeed(chosen as Output.Format)
    : new UsageError({ message: `--format ${JSON.stringify(chosen)}: expected one of ${Output.formats.join(", ")}` })
}

/** Writes `records` to stdout as `format`: whole for json/ndjson, as `tableRow` makes them for table/csv. */
const write = <A extends object>(format: Output.Format, records: ReadonlyArray<A>, tableRow: (record: A) => Record<string, string>) => {
  const width = process.stdout.isTTY === true && process.stdout.columns > 0 ? process.stdout.columns : 80
  const table = format === "table" || format === "wide" || format === "csv"
  const rows: ReadonlyArray<object> = table ? records.map(tableRow) : records
  const writer = Output.make(
    format,
    Object.keys(rows[0] ?? { name: "" }).map(textField),
    Output.streamSink(process.stdout),
    // a location's uId, cut, identifies nothing: the other columns give way
    { color: Help.useColor(process.stdout), width, whole: ["uId"] }
  )
  return Effect.zipRight(writer.records(rows as ReadonlyArray<Record<string, unknown>>), writer.end)
}

/**
 * A `HOST:PORT` flag's value (`:PORT` or `PORT` alone: every interface; `[::1]:PORT` for IPv6). `advertise`: a host and
 * a port other than 0 are needed (it is where others connect).
 */
export const parseAddress = (
  flag: string,
  value: string,
  options?: { readonly advertise?: boolean }
): Effect.Effect<{ readonly host: string | undefined; readonly port: number }, UsageError> => {
  const match = /^(?:(.*):)?(\d{1,5})$/.exec(value)
  const port = match === null ? NaN : Number(match[2])
  const host = match?.[1] === undefined || match[1] === "" ? undefined : match[1].replace(/^\[(.*)\]$/, "$1")
  if (match === null || port > 65535 || (options?.advertise === true && (host === undefined || port === 0)) || host?.includes(" ")) {
    const example = flag === "--http" ? "127.0.0.1:9090" : flag === "--advertise" ? "runner1.example.net:34431" : "0.0.0.0:34431"
    return new UsageError({
      message: `${flag} ${JSON.stringify(value)}: expected HOST:PORT, e.g. ${example}${
        options?.advertise === true ? " (a host and a port other machines reach)" : " (port 0: any free port)"
      }`
    })
  }
  return Effect.succeed({ host, port })
}

/** `--http HOST:PORT`. */
export const parseListen = (value: string) => parseAddress("--http", value)

/** An address that means every interface: none, `0.0.0.0`, `::`. */
const isWildcard = (host: string | undefined) => host === undefined || host === "0.0.0.0" || host === "::" || host === "[::]"

/** A host as a URL or `HOST:PORT` writes it (an IPv6 address in brackets). */
const hostPort = (host: string, port: number) => `${host.includes(":") ? `[${host}]` : host}:${port}`

/** The work of `vppkit fleet add`. */
export const runAdd = ({ db, name, ...globals }: AddFlags) =>
    Effect.gen(function*() {
      if (Option.isNone(globals.tokenFile)) {
        return yield* new UsageError({ message: "fleet add: --token-file PATH is required (the token file downloaded from Apple)" })
      }
      const target = yield* parseDatabase(db)
      const context = yield* Layer.build(tokenStoreLayer(target)).pipe(Effect.catchAllCause(oneLine(`database ${target.description}`)))
      const settings = yield* loadSettings(globals)
      const client = yield* NodeVppClient.make(settings)
      const location = yield* Sync.learnLocation.pipe(Effect.provideService(VppClient.VppClient, client))
      const tokens = yield* TokenStore.TokenStore.pipe(Effect.provide(context))
      const info = yield* tokens.add({ token: settings.token.value, name: Option.getOrUndefined(name), uId: location.uId }).pipe(
        Effect.catchAllCause(oneLine("cannot add the token"))
      )
      if (!globals.quiet) {
        yield* Console.error(
          `added ${info.name ?? info.fingerprint.slice(0, 12)}: location ${location.locationName ?? ""} (uId ${location.uId}) of ${info.orgName}, expires ${
            info.expiresAt.toISOString().slice(0, 10)
          }`
        )
      }
    }).pipe(Effect.scoped, withLogging(globals))

/** The work of `vppkit fleet remove`. */
export const runRemove = ({ db, quiet, ref }: RemoveFlags) =>
    Effect.gen(function*() {
      const target = yield* parseDatabase(db)
      const context = yield* Layer.build(tokenStoreLayer(target)).pipe(Effect.catchAllCause(oneLine(`database ${target.description}`)))
      const tokens = yield* TokenStore.TokenStore.pipe(Effect.provide(context))
      const removed = yield* tokens.remove(ref).pipe(
        Effect.catchTag("TokenNotFoundError", () => new UsageError({ message: `fleet remove: no token named ${JSON.stringify(ref)}` })),
        Effect.catchAllCause(oneLine("cannot remove the token"))
      )
      if (!quiet) yield* Console.error(`removed ${removed.name ?? removed.fingerprint.slice(0, 12)} (uId ${removed.uId ?? "unknown"})`)
    }).pipe(Effect.scoped)

/**
 * `fleet list` and `fleet status` only read: a SQLite file that does not exist is refused (exit 2), not created.
 */
const requireExisting = (target: NodeDatabase.Target, command: string) =>
  target._tag === "Sqlite" && !fs.existsSync(target.filename)
    ? new UsageError({ message: `${command}: no database ${target.description} (vppkit fleet add --token-file F --db ${target.description} creates it)` })
    : Effect.void

/** The work of `vppkit fleet list`. */
export const runList = ({ db, format, quiet }: ListFlags) =>
    Effect.gen(function*() {
      const chosen = yield* chooseFormat(format)
      const target = yield* parseDatabase(db)
      yield* requireExisting(target, "fleet list")
      const context = yield* Layer.build(SqlSyncStore.layer.pipe(Layer.provideMerge(tokenStoreLayer(target)))).pipe(
        Effect.catchAllCause(oneLine(`database ${target.description}`))
      )
      const [tokens, locations] = yield* Effect.all([
        Effect.flatMap(TokenStore.TokenStore, (store) => store.list),
        SqlSyncStore.readLocations
      ]).pipe(Effect.provide(context), Effect.catchAllCause(oneLine(`database ${target.description}`)))
      const now = yield* Clock.currentTimeMillis
      const names = new Map(locations.map((l) => [l.uId, l.locationName]))
      const records = tokens.map((token) => ({
        name: token.name ?? null,
        fingerprint: token.fingerprint.slice(0, 12),
        uId: token.uId ?? null,
        location: (token.uId === undefined ? undefined : names.get(token.uId)) ?? null,
        orgName: token.orgName,
        expiresAt: token.expiresAt.toISOString(),
        daysLeft: TokenStore.daysLeft(token.expiresAt, now),
        expired: token.expiresAt.getTime() <= now
      }))
      if (records.length === 0 && !quiet) yield* Console.error(`no tokens in ${target.description} (vppkit fleet add --token-file F adds one)`)
      if (records.length === 0 && chosen === "table") return
      yield* write(chosen, records, (r) => ({
        name: r.name ?? r.fingerprint,
        uId: r.uId ?? "",
        location: r.location ?? "",
        org: r.orgName,
        expires: r.expiresAt.slice(0, 10),
        "days left": r.expired ? "EXPIRED" : String(r.daysLeft)
      }))
    }).pipe(
      Effect.scoped,
      Output.endWhenReaderCloses
    )

/** The work of `vppkit fleet status`: each location's last run, resources and token expiry, from the database. */
export const runStatus = ({ db, format, quiet }: StatusFlags) =>
  Effect.gen(function*() {
    const chosen = yield* chooseFormat(format)
    const target = yield* parseDatabase(db)
    yield* requireExisting(target, "fleet status")
    const context = yield* Layer.build(FleetStatus.layer.pipe(Layer.provideMerge(tokenStoreLayer(target)))).pipe(
      Effect.catchAllCause(oneLine(`database ${target.description}`))
    )
    const [tokens, statuses, schedules] = yield* Effect.all([
      Effect.flatMap(TokenStore.TokenStore, (store) => store.list),
      Effect.flatMap(FleetStatus.FleetStatus, (status) => status.locations),
      Schedules.stored
    ]).pipe(Effect.provide(context), Effect.catchAllCause(oneLine(`database ${target.description}`)))
    const now = yield* Clock.currentTimeMillis
    const byUId = new Map(statuses.map((status) => [status.uId, status]))
    const stored = TokenStore.byLocation(tokens)
    // the next syncs by the schedules the runners last started with, for a location with a stored token
    const nextStartsOf = Schedules.nextStartsOf(schedules)
    const uIds = [...new Set([...statuses.map((status) => status.uId), ...stored.keys()])].sort()
    const records = uIds.map((uId) => {
      const status = byUId.get(uId)
      // the token a sync uses: of the location's stored tokens, the one that expires last
      const expiry = stored.get(uId)?.expiresAt ??
        (status?.tokenExpiresAt === undefined ? undefined : new Date(status.tokenExpiresAt))
      const next = nextStartsOf(uId, stored.get(uId)?.expiresAt, now)
      return {
        uId,
        locationName: status?.locationName ?? null,
        orgName: status?.orgName ?? null,
        tokenExpiresAt: expiry?.toISOString() ?? null,
        tokenDaysLeft: expiry === undefined ? null : TokenStore.daysLeft(expiry, now),
        records: (status?.resources ?? []).reduce((sum, resource) => sum + resource.records, 0),
        lastRun: status?.lastRun === undefined ? null : { ...status.lastRun, outcome: undefined },
        ...next,
        resources: status?.resources ?? []
      }
    })
    if (records.length === 0 && !quiet) yield* Console.error(`no locations in ${target.description} (vppkit fleet add --token-file F adds one)`)
    if (records.length === 0 && chosen === "table") return
    yield* write(chosen, records, (r) => ({
      uId: r.uId,
      location: r.locationName ?? "",
      // when it ended, and "full" for a full sync (as the next column says it)
      "last run": r.lastRun === null
        ? "never"
        : `${r.lastRun.result} ${r.lastRun.finishedAt.slice(0, 16).replace("T", " ")}Z${r.lastRun.full ? " full" : ""}`,
      fails: String(r.lastRun?.consecutiveFailures ?? 0),
      records: String(r.records),
      // the token's days left (EXPIRED once it is)
      days: r.tokenDaysLeft === null ? "" : r.tokenDaysLeft < 0 ? "EXPIRED" : String(r.tokenDaysLeft),
      runner: r.lastRun?.runner ?? "",
      // the next scheduled sync: the incremental, or the full one when it comes first
      next: r.nextIncrementalAt === null || r.nextFullAt === null
        ? ""
        : r.nextFullAt < r.nextIncrementalAt
        ? `${shortTime(r.nextFullAt, now)} full`
        : shortTime(r.nextIncrementalAt, now),
      failure: r.lastRun?.failure?.message ?? ""
    }))
  }).pipe(
    Effect.scoped,
    Output.endWhenReaderCloses
  )

/** A time in a table (UTC): `HH:MMZ` within a day of `now`, else `MM-DD HH:MMZ`. */
const shortTime = (iso: string, now: number) =>
  Date.parse(iso) - now < 86_400_000 ? `${iso.slice(11, 16)}Z` : `${iso.slice(5, 10)} ${iso.slice(11, 16)}Z`

/** The fleet's key, before anything is locked or created: no key, nothing touched (not even the `<db>-lock`). */
const requireKey = Layer.build(FleetKey.layerConfig).pipe(Effect.asVoid, Effect.catchAllCause(oneLine("fleet")))

/**
 * Whether the database's cluster has runners alive (PostgreSQL: a `fleet run` whose heartbeat is recent); SQLite
 * has none.
 */
const runnersUp = (target: NodeDatabase.Target) =>
  target._tag === "Sqlite"
    ? Effect.succeed(false)
    : Effect.flatMap(shardingConfigOf, (shardingConfig) =>
      liveRunners.pipe(
        Effect.map((runners) => runners.length > 0),
        Effect.provide(SqlRunnerStorage.layer.pipe(
          Layer.provide(ShardingConfig.layer(shardingConfig)),
          Layer.provide(NodeDatabase.layerTarget(target))
        )),
        Effect.scoped,
        Effect.catchAllCause(oneLine(`database ${target.description}`))
      ))

/**
 * Fails once the cluster has had no runner alive for two checks in a row (every 2 seconds): the messages a `fleet
 * sync` sent through the cluster stay stored, but nothing will answer them until a runner starts.
 */
const runnersGone = Effect.gen(function*() {
  let missing = 0
  while (missing < 2) {
    yield* Effect.sleep("2 seconds")
    const runners = yield* Effect.orElseSucceed(liveRunners, () => undefined)
    missing = runners !== undefined && runners.length === 0 ? missing + 1 : 0
  }
  return yield* new CommandError({
    message: "fleet sync: the fleet's runners stopped before answering; the syncs asked for stay stored in the database and run when a runner starts"
  })
})

/**
 * The work of `vppkit fleet sync`. On PostgreSQL while runners of the database's cluster run (`fleet run`), each
 * location's `Sync` goes through the cluster to the runner that owns it; otherwise (SQLite, or no runner) the
 * locations are synced on a `SingleRunner` in this process, alone on the database.
 */
export const runSync = ({ baseUrl, db, full, locations, quiet }: SyncFlags) =>
  Effect.gen(function*() {
    const target = yield* parseDatabase(db)
    const url = yield* baseUrlOf(baseUrl)
    yield* requireKey
    if (target._tag === "Postgres") yield* quietQueuedQueryWarning
    const throughCluster = yield* runnersUp(target)
    const work = Effect.gen(function*() {
      const uIds = yield* resolveLocations(locations)
      if (uIds.length === 0) return yield* new UsageError({ message: "fleet sync: no locations (vppkit fleet add --token-file F adds one)" })
      if (throughCluster && !quiet) yield* Console.error(`fleet sync: ${uIds.length} location(s) through the runners of ${target.description}`)
      const client = yield* Location.Location.client
      const failed: Array<string> = []
      yield* Effect.forEach(uIds, (uId) =>
        client(uId).Sync({ full }).pipe(
          Effect.exit,
          Effect.flatMap((exit) => {
            if (Exit.isSuccess(exit)) return quiet ? Effect.void : Console.log(outcomeLine(exit.value))
            failed.push(uId)
            const error = Cause.squash(exit.cause)
            return Console.error(
              error instanceof Location.LocationSyncError ? outcomeLine(error.outcome) : `location ${uId}: failed: ${String(error)}`
            )
          })
        ), { concurrency: target._tag === "Sqlite" ? sqliteConcurrency : 8, discard: true })
      if (failed.length > 0) {
        return yield* new CommandError({ message: `fleet sync: ${failed.length} of ${uIds.length} location(s) failed: ${failed.join(", ")}` })
      }
    })
    if (throughCluster) {
      const context = yield* Layer.build(runnerLayer(target, url, clusterClient, Fleet.layerLocations())).pipe(
        Effect.catchAllCause(oneLine(`database ${target.description}`))
      )
      return yield* Effect.raceFirst(work, runnersGone).pipe(Effect.provide(context), Effect.catchAllCause(oneLine("fleet sync")))
    }
    yield* holdRunner(target)
    const context = yield* Layer.build(runnerLayer(target, url, singleRunner, Fleet.layerLocations())).pipe(
      Effect.catchAllCause(oneLine(`database ${target.description}`))
    )
    yield* work.pipe(Effect.provide(context), Effect.catchAllCause(oneLine("fleet sync")))
  }).pipe(Effect.scoped)

/**
 * The work of `vppkit fleet run`: on SQLite a `SingleRunner`, alone on the database; on PostgreSQL a runner of the
 * database's cluster, listening on `--listen` and known to the others as `--advertise`.
 */
export const runRun = (
  {
    advertise,
    baseUrl,
    db,
    every,
    fullConcurrency,
    fullCron,
    fullWindow,
    http,
    incrementalConcurrency,
    listen,
    logFormat,
    logLevel,
    quiet
  }: RunFlags
) =>
  Effect.gen(function*() {
    const target = yield* parseDatabase(db)
    const httpAt = Option.isSome(http) ? yield* parseListen(http.value) : undefined
    if (target._tag === "Sqlite" && (Option.isSome(listen) || Option.isSome(advertise))) {
      return yield* new UsageError({
        message: `fleet run: --${Option.isSome(listen) ? "listen" : "advertise"} needs a PostgreSQL --db (postgres://…): on SQLite the fleet is one process`
      })
    }
    const listenValue = Option.getOrElse(listen, () => "127.0.0.1:0")
    const listenAt = target._tag === "Postgres" ? yield* parseAddress("--listen", listenValue) : undefined
    const advertiseAt = Option.isSome(advertise) ? yield* parseAddress("--advertise", advertise.value, { advertise: true }) : undefined
    // VPPKIT_FLEET_INCREMENTAL_CRON (undocumented in help; for tests, as VPPKIT_FLEET_POLL_MILLIS): a cron expression, seconds allowed, instead of --every
    const incrementalCron = yield* Config.string("VPPKIT_FLEET_INCREMENTAL_CRON").pipe(
      Config.option,
      Effect.map(Option.getOrUndefined),
      Effect.orElseSucceed(() => undefined)
    )
    const options: Fleet.Options = {
      every,
      fullCron,
      fullWindow,
      incrementalCron,
      incrementalConcurrency: Option.getOrElse(incrementalConcurrency, () => target._tag === "Sqlite" ? sqliteConcurrency : undefined),
      fullConcurrency: Option.getOrElse(fullConcurrency, () => target._tag === "Sqlite" ? sqliteConcurrency : undefined)
    }
    // the schedule's flags checked before anything is opened
    const resolved = yield* Either.mapLeft(
      Fleet.resolve(options),
      (error) => new UsageError({ message: `fleet run: ${error.message}` })
    )
    // VPPKIT_FLEET_MESSAGE_RETENTION: how long the cluster's done messages are kept (a duration; default 1 day)
    const retention = yield* Config.duration(MessageRetention.retentionVariable).pipe(
      Config.withDefault(MessageRetention.defaultRetention),
      Effect.mapError(() =>
        new UsageError({ message: `${MessageRetention.retentionVariable}: not a duration (e.g. "1 day", "36 hours")` })
      )
    )
    const url = yield* baseUrlOf(baseUrl)
    yield* requireKey
    if (target._tag === "Postgres") yield* quietQueuedQueryWarning
    let sharding: Layer.Layer<Sharding.Sharding, unknown, SqlClient.SqlClient> = singleRunner
    let name: string | undefined
    // as the status names the runner: its address on a cluster, the machine's name alone
    let runnerName: string | undefined
    if (listenAt === undefined) {
      yield* holdRunner(target)
    } else {
      const server = yield* NodeSocketServer.make({ host: listenAt.host, port: listenAt.port }).pipe(
        Effect.mapError((error) =>
          new CommandError({
            message: `--listen ${listenValue}: cannot listen: ${error.cause instanceof Error ? error.cause.message.split("\n")[0] : String(error.cause)}`
          })
        )
      )
      const bound = server.address._tag === "TcpAddress" ? server.address.port : listenAt.port
      const address = RunnerAddress.make(
        advertiseAt?.host ?? (isWildcard(listenAt.host) ? os.hostname() : listenAt.host!),
        advertiseAt?.port ?? bound
      )
      runnerName = hostPort(address.host, address.port)
      name = `vppkit fleet runner ${runnerName}`
      yield* holdRunner(target, { shared: true, holder: name })
      sharding = clusterRunner(target, name, server, address, yield* shardingConfigOf)
    }
    // the entity in this runner's pools, the schedules, the deletion of the cluster's processed messages older than
    // the retention (at start and hourly)
    const schedules = runnerLayer(target, url, sharding, Fleet.layer({ ...options, retention }), name, Fleet.connectionsFor(resolved), runnerName).pipe(
      Layer.provideMerge(Layer.succeed(Schedules.Report, (event) => report(event, quiet)))
    )
    // @effect/cluster creates its tables with CREATE TABLE IF NOT EXISTS, which runners starting at once on a new
    // database race on (a duplicate key of pg_type): one runner sets up at a time
    const setup = yield* Scope.make()
    if (name !== undefined) {
      yield* Layer.build(NodeDatabase.layerTarget(target)).pipe(
        Effect.flatMap((database) =>
          SqlSyncStore.holdLock("vppkit-fleet-setup", { holder: name }).pipe(
            Effect.provide(database),
            Effect.retry({ while: (error) => error._tag === "LocationBusyError", schedule: Schedule.spaced("100 millis") })
          )
        ),
        Scope.extend(setup),
        Effect.catchAllCause(oneLine(`database ${target.description}`))
      )
    }
    const runner = yield* Layer.build(schedules).pipe(
      Effect.ensuring(Scope.close(setup, Exit.void)),
      Effect.catchAllCause(oneLine(`fleet run`))
    )
    // each location's token days left from the start (not only once it has synced): /metrics shows them at once
    yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.list).pipe(
      Effect.flatMap((tokens) =>
        Effect.forEach(TokenStore.byLocation(tokens), ([uId, { expiresAt }]) => FleetMetrics.observeToken(uId, expiresAt), {
          discard: true
        })
      ),
      Effect.provide(runner),
      Effect.catchAllCause(oneLine("fleet run"))
    )
    if (httpAt !== undefined) {
      // the runner's port: /healthz, /status, /metrics (FleetHttp) over the runner's own services
      const served = FleetHttp.layer.pipe(
        Layer.provideMerge(NodeHttpServer.layer(http_.createServer, { port: httpAt.port, host: httpAt.host })),
        Layer.provide(Layer.succeedContext(runner))
      )
      const context = yield* Layer.build(served).pipe(Effect.catchAllCause(oneLine(`--http ${Option.getOrElse(http, () => "")}`)))
      const address = Context.get(context, HttpServer.HttpServer).address
      if (!quiet && address._tag === "TcpAddress") {
        yield* Console.error(`fleet status on http://${hostPort(address.hostname, address.port)}/status (and /healthz, /metrics)`)
      }
    }
    if (name !== undefined && !quiet) {
      // the cluster's runners, each opening as many connections as this one may, against the server's limit
      const most = Fleet.connectionsFor(resolved) + clusterConnections + 1
      yield* connectionBudget(resolved.incrementalConcurrency + resolved.fullConcurrency, most).pipe(
        Effect.provide(runner),
        Effect.flatMap((warning) => warning === undefined ? Effect.void : Console.error(warning)),
        Effect.ignore
      )
    }
    yield* markStopAsSuccess
    const schedule = `incremental ${incrementalCron ?? `every ${every} min`}, full "${fullCron}" (UTC); SIGINT or SIGTERM stops it`
    if (!quiet) {
      yield* Console.error(
        name === undefined
          ? `fleet running on ${target.description}: ${schedule}`
          : `fleet ${name.slice("vppkit fleet ".length)} joined the cluster on ${target.description}: ${schedule}`
      )
    }
    return yield* Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => stopping = true)))
  }).pipe(
    Effect.scoped,
    withLogging({ logFormat, logLevel: Option.orElse(logLevel, () => Option.some("warning" as const)) }),
    Effect.locally(FiberRef.currentLoggers, HashSet.make(quietWhileStopping))
  )

/**
 * PostgreSQL: a warning when the cluster's runners (those `@effect/cluster` holds healthy, this one included), each
 * opening up to `perRunner` connections as this one may (`pools` scheduled syncs at once, and the rest), and the sessions open now that are not the fleet's would
 * pass the connections the server allows (`max_connections` less `superuser_reserved_connections`): syncs would
 * then fail with "too many clients" when the runners are busy (BENCHMARKS.md, "Fleet: scale model"). Nothing when
 * they fit.
 */
const connectionBudget = (pools: number, perRunner: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly allowed: number; readonly runners: number; readonly others: number }>`
      SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int AS allowed,
        (SELECT count(*) FROM cluster_runners WHERE healthy)::int AS runners,
        (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
          AND application_name NOT LIKE 'vppkit fleet%')::int AS others`
    if (row === undefined) return undefined
    const runners = Math.max(1, row.runners)
    const needed = runners * perRunner + row.others
    return needed <= row.allowed ? undefined : `warning: ${runners} runner(s) of up to ${perRunner} PostgreSQL connections each${
      row.others > 0 ? ` and ${row.others} other session(s)` : ""
    } need ${needed}, more than the ${row.allowed} the server allows (max_connections less superuser_reserved_connections): busy runners' syncs may fail with "too many clients"; raise max_connections, or lower --incremental-concurrency and --full-concurrency (a runner opens up to their sum + ${perRunner - pools})`
  })

/** Whether this process's `fleet run` has been told to stop (SIGINT or SIGTERM) and is shutting its runner down. */
let stopping = false

/**
 * The commands' logger, without the warning `@effect/cluster` logs when its runner, stopping, is no longer among the
 * healthy runners (it deregisters itself before its assignment loop ends): no warning is due on a normal stop.
 */
const quietWhileStopping = Logger.make<unknown, void>((options) => {
  if (stopping && messageOf(options.message) === "No healthy runners available") return
  commandLogger.log(options)
})

const messageOf = (message: unknown) => (Array.isArray(message) && message.length === 1 ? message[0] : message)
