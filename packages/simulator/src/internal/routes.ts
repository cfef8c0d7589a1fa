import type * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import * as Duration from "effect/Duration"
import type { Fault, Settings, SimRequest, SimResponse } from "../Simulator.js"
import { CursorEndpoints, type CursorSource } from "./cursor.js"
import { type LegacyKind, LegacyEndpoints } from "./legacy.js"
import type { Model } from "./model.js"
import type { Query } from "./pageIndex.js"
import { makePageIndexServing } from "./pageIndexServing.js"
import type { PageSource } from "./pageSource.js"
import { errorMessages, errorResponse, json } from "./responses.js"
import type { SubscriptionResource } from "./subscriptions.js"

/** The subscription data behind each cursor resource of `Resources.all`, by descriptor name. */
const subscriptionData: Readonly<Record<string, SubscriptionResource>> = {
  "subscriptions": "subscriptions",
  "subscription-assignments": "subscriptionAssignments",
  "subscription-admins": "subscriptionAdmins"
}

/** The legacy services the model has, by the descriptor's records field (`licenses`, `users`). */
const legacyKinds: ReadonlySet<string> = new Set<LegacyKind>(["licenses", "users"])

/** A data endpoint: what serves a path. */
export type Endpoint =
  | { readonly family: "page-index"; readonly source: PageSource }
  | { readonly family: "cursor"; readonly descriptor: Resource.Any; readonly source: CursorSource }
  | { readonly family: "legacy"; readonly descriptor: Resource.Any; readonly kind: LegacyKind }

/** A resource served from its descriptor, as a cursor endpoint serves it (its records keyed and sorted alike). */
const cursorSource = (source: PageSource): CursorSource => ({
  label: source.descriptor.name,
  store: source.store,
  select: (query) => {
    const selection = source.select(query)
    // A served resource renders a record by its schema alone: the stored record is all it needs.
    return {
      cacheKey: selection.cacheKey,
      filter: selection.filter,
      render: (record) => selection.render({ key: "", record, modified: 0, deleted: false })
    }
  }
})

/**
 * The data endpoints by path (without `/mdm`), derived from the descriptors: those of `Resources.all` (each
 * family over the model's data for it) and the page-index and cursor resources served from a descriptor. A
 * descriptor the model has no data for is a programming error: thrown.
 */
export const endpointsOf = (model: Model, cursors: CursorEndpoints): ReadonlyMap<string, Endpoint> => {
  const endpoints = new Map<string, Endpoint>()
  for (const descriptor of Resources.all) {
    switch (descriptor.family) {
      case "page-index":
        endpoints.set(descriptor.path, { family: "page-index", source: model.page(descriptor.name) })
        break
      case "cursor": {
        const data = subscriptionData[descriptor.name]
        if (data === undefined) throw new TypeError(`the simulator has no model of the cursor resource ${descriptor.name}`)
        endpoints.set(descriptor.path, { family: "cursor", descriptor, source: cursors.source(data) })
        break
      }
      case "legacy": {
        if (!legacyKinds.has(descriptor.field)) {
          throw new TypeError(`the simulator has no model of the legacy service ${descriptor.name}`)
        }
        endpoints.set(descriptor.path, { family: "legacy", descriptor, kind: descriptor.field as LegacyKind })
        break
      }
    }
  }
  for (const source of model.served.values()) {
    const { descriptor } = source
    endpoints.set(
      descriptor.path,
      descriptor.family === "cursor" ? { family: "cursor", descriptor, source: cursorSource(source) } : { family: "page-index", source }
    )
  }
  return endpoints
}

/**
 * Every endpoint of the simulator by path: Get Service Config, Get Client Config, and the data endpoints of
 * {@link endpointsOf}: page-index (internal/pageIndexServing.ts), cursor (subscription) endpoints
 * (internal/cursor.ts) and the legacy v1 services (internal/legacy.ts).
 */
export const makeRoutes = (model: Model, settings: Settings) => {
  const servePage = makePageIndexServing(model, settings)
  const cursors = new CursorEndpoints(
    model,
    model.subscriptions,
    settings.cursorTtl === undefined ? undefined : Duration.toMillis(settings.cursorTtl)
  )
  const endpoints = endpointsOf(model, cursors)
  const legacy = new LegacyEndpoints(model, settings.legacyOverrideIndex ?? "next-batch", settings.deltaDeletions === "visible")

  const serviceConfig = (): SimResponse =>
    json(200, {
      errorCodes: Object.entries(errorMessages).map(([errorNumber, errorMessage]) => ({ errorNumber: Number(errorNumber), errorMessage })),
      limits: { maxRequestPerSecond: settings.maxRequestsPerSecond ?? 15, maxAssets: 25, maxUsers: 100 },
      notificationTypes: ["ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED", "ASSET_COUNT"],
      urls: {
        getAssets: "/mdm/v2/assets",
        getAssignments: "/mdm/v2/assignments",
        getUsers: "/mdm/v2/users"
      }
    })

  // Client Config (read): what Apple knows of the token's location; no mdmInfo, as before an MDM set one.
  const clientConfig = (request: SimRequest, now: number): SimResponse => {
    if (request.method !== "GET") return errorResponse(405, 9726)
    return model.checkToken(request.headers["authorization"], now) ?? json(200, {
      locationName: model.orgName,
      countryISO2ACode: "US",
      defaultPlatform: "volumestore",
      websiteURL: "https://school.apple.com",
      subscribedNotificationTypes: [],
      ...model.metadata(now)
    })
  }

  /** The response to a request (`path` without `/mdm`); `fault` is the one injected, for the endpoints that apply it. */
  const respond = (request: SimRequest, path: string, query: Query, now: number, fault?: Fault): SimResponse => {
    if (path === "/v2/service/config") return serviceConfig()
    if (path === "/v2/client/config") return clientConfig(request, now)
    const endpoint = endpoints.get(path)
    if (endpoint === undefined) return json(404, { errorNumber: 9602, errorMessage: "Unknown endpoint." })
    switch (endpoint.family) {
      case "cursor": {
        if (request.method !== "GET") return errorResponse(405, 9726)
        return model.checkToken(request.headers["authorization"], now) ??
          cursors.serve(endpoint.source, endpoint.descriptor.field, query, now, fault)
      }
      case "legacy":
        return legacy.serve(endpoint.kind, request.method, request.body, now, fault)
      case "page-index": {
        if (request.method !== "GET") return errorResponse(405, 9726)
        const tokenError = model.checkToken(request.headers["authorization"], now)
        if (tokenError !== undefined) return tokenError
        model.applyChurn()
        return servePage(endpoint.source, query, now)
      }
    }
  }

  /** The family of the data endpoint at `path`, if there is one. */
  const familyOf = (path: string): Resource.Family | undefined => endpoints.get(path)?.family

  return { respond, familyOf, cursors, legacy }
}
