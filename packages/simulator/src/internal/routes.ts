import * as Duration from "effect/Duration"
import type { Fault, Settings, SimRequest, SimResponse } from "../Simulator.js"
import { CursorEndpoints, cursorPaths } from "./cursor.js"
import { LegacyEndpoints, legacyPaths } from "./legacy.js"
import type { Model } from "./model.js"
import type { Query } from "./pageIndex.js"
import { makePageIndexServing, pagePaths } from "./pageIndexServing.js"
import { errorMessages, errorResponse, json } from "./responses.js"

/**
 * Every endpoint of the simulator by path: Get Service Config, Get Client Config, the page-index endpoints, the
 * cursor (subscription) endpoints (internal/cursor.ts) and the legacy v1 services (internal/legacy.ts).
 */
export const makeRoutes = (model: Model, settings: Settings) => {
  const servePage = makePageIndexServing(model, settings)
  const cursors = new CursorEndpoints(
    model,
    model.subscriptions,
    settings.cursorTtl === undefined ? undefined : Duration.toMillis(settings.cursorTtl)
  )
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
    const subscriptionResource = cursorPaths[path]
    if (subscriptionResource !== undefined) {
      if (request.method !== "GET") return errorResponse(405, 9726)
      return model.checkToken(request.headers["authorization"], now) ?? cursors.serve(subscriptionResource, query, now, fault)
    }
    const kind = legacyPaths[path]
    if (kind !== undefined) return legacy.serve(kind, request.method, request.body, now, fault)
    const resource = pagePaths[path]
    if (resource === undefined) return json(404, { errorNumber: 9602, errorMessage: "Unknown endpoint." })
    if (request.method !== "GET") return errorResponse(405, 9726)
    const tokenError = model.checkToken(request.headers["authorization"], now)
    if (tokenError !== undefined) return tokenError
    model.applyChurn()
    return servePage(resource, query, now)
  }

  return { respond, cursors, legacy }
}
