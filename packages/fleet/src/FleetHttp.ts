/**
 * A runner's HTTP port: `/healthz`, `/status` and `/metrics`, served with `@effect/platform`'s `HttpRouter` on the
 * `HttpServer` the caller provides (`NodeHttpServer.layer(createServer, { port })` on Node).
 *
 * - `GET /healthz`: `200 ok` while the runner is up (not shut down) and its database answers (`SELECT 1`); `503`
 *   with the reason otherwise.
 * - `GET /status`: JSON, `{ runner: { activeEntities }, locations: [...], tokensWithoutLocation }` — each location's status ({@link FleetStatus.LocationStatus}: its
 *   resources' last runs from `sync_state`, its last run) with its stored tokens (name, a fingerprint prefix,
 *   expiry, days left; never the token), the days left of the token it syncs with, whether this runner owns
 *   it (`ownedHere`: the cluster gave its shard to this runner), and its next scheduled syncs (`nextIncrementalAt`,
 *   `nextFullAt`: `Schedules.nextStartsOf`).
 * - `GET /metrics`: the runtime's metrics in Prometheus's text format ({@link FleetMetrics.render}).
 *
 * @since 0.1.0
 */
import * as EntityId from "@effect/cluster/EntityId"
import * as Sharding from "@effect/cluster/Sharding"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as FleetMetrics from "./FleetMetrics.js"
import * as FleetStatus from "./FleetStatus.js"
import * as Location from "./Location.js"
import * as Schedules from "./Schedules.js"
import * as TokenStore from "./TokenStore.js"

const daysLeft = (expiresAt: Date | string | undefined, now: number): number | undefined =>
  expiresAt === undefined ? undefined : Math.round(((new Date(expiresAt).getTime() - now) / 86_400_000) * 100) / 100

const failed = (status: number, error: { readonly message: string }) =>
  HttpServerResponse.unsafeJson({ error: error.message }, { status })

/**
 * `/healthz`: `200 ok` while the runner is up (its `Sharding` not shut down) and its database answers; `503` with
 * the reason otherwise.
 *
 * @since 0.1.0
 * @category handlers
 */
export const healthz = Effect.gen(function*() {
  const sharding = yield* Sharding.Sharding
  if (yield* sharding.isShutdown) return HttpServerResponse.text("shutting down\n", { status: 503 })
  const sql = yield* SqlClient.SqlClient
  return yield* sql`SELECT 1`.pipe(
    Effect.as(HttpServerResponse.text("ok\n")),
    Effect.catchAll((error) => Effect.succeed(HttpServerResponse.text(`database: ${error.message}\n`, { status: 503 })))
  )
}).pipe(Effect.withSpan("FleetHttp.healthz"))

/**
 * The body of `/status`: each location's status and its tokens, by `uId`.
 *
 * @since 0.1.0
 * @category handlers
 */
export const statusBody = Effect.gen(function*() {
  const now = yield* Clock.currentTimeMillis
  const locations = yield* Effect.flatMap(FleetStatus.FleetStatus, (status) => status.locations)
  const tokens = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.list)
  const uIds = new Set([...locations.map((location) => location.uId), ...tokens.flatMap((token) => token.uId ?? [])])
  const byUId = new Map(locations.map((location) => [location.uId, location]))
  const nextStartsOf = Schedules.nextStartsOf(yield* Schedules.stored)
  const sharding = yield* Sharding.Sharding
  const activeEntities = yield* sharding.activeEntityCount
  // whether this runner owns the location's shard (the cluster's choice of the location's one owner)
  const ownedHere = (uId: string) => {
    const entityId = EntityId.make(uId)
    return sharding.hasShardId(sharding.getShardId(entityId, Location.Location.getShardGroup(entityId)))
  }
  return {
    runner: { activeEntities },
    locations: Array.from(uIds).sort().map((uId) => {
      const status = byUId.get(uId)
      const stored = tokens.filter((token) => token.uId === uId)
      // the token a sync uses: of the location's stored tokens, the one that expires last
      const latest = stored.reduce<TokenStore.TokenInfo | undefined>(
        (a, b) => (a === undefined || b.expiresAt > a.expiresAt ? b : a),
        undefined
      )
      const tokenExpiresAt = latest?.expiresAt.toISOString() ?? status?.tokenExpiresAt
      return {
        uId,
        ownedHere: ownedHere(uId),
        locationName: status?.locationName,
        orgName: status?.orgName ?? latest?.orgName,
        tokenExpiresAt,
        tokenDaysLeft: daysLeft(tokenExpiresAt, now),
        ...nextStartsOf(uId, latest?.expiresAt, now),
        tokens: stored.map((token) => ({
          name: token.name,
          fingerprint: token.fingerprint.slice(0, 16),
          expiresAt: token.expiresAt.toISOString(),
          daysLeft: daysLeft(token.expiresAt, now)
        })),
        resources: status?.resources ?? [],
        lastRun: status?.lastRun
      }
    }),
    tokensWithoutLocation: tokens.filter((token) => token.uId === undefined).length
  }
}).pipe(Effect.withSpan("FleetHttp.status"))

/**
 * `/status`: {@link statusBody} as JSON; `500` with the error when the database fails.
 *
 * @since 0.1.0
 * @category handlers
 */
export const status = statusBody.pipe(
  Effect.map((body) => HttpServerResponse.unsafeJson(body)),
  Effect.catchAll((error) => Effect.succeed(failed(500, error)))
)

/**
 * `/metrics`: the runtime's metrics in Prometheus's text format.
 *
 * @since 0.1.0
 * @category handlers
 */
export const metrics = Effect.map(
  FleetMetrics.render,
  (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
)

/**
 * The routes: `/healthz`, `/status`, `/metrics`.
 *
 * @since 0.1.0
 * @category routers
 */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get("/healthz", healthz),
  HttpRouter.get("/status", status),
  HttpRouter.get("/metrics", metrics)
)

/**
 * Serves {@link router} on the `HttpServer` of the context for the layer's lifetime: the runner's port (it reads
 * the runner's `Sharding`, the fleet's status and tokens, and the database).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  never,
  never,
  HttpServer.HttpServer | Sharding.Sharding | FleetStatus.FleetStatus | TokenStore.TokenStore | SqlClient.SqlClient
> = HttpServer.serve(router)
