import type { Settings, SimResponse } from "../Simulator.js"
import type { Model } from "./model.js"
import type { PageResource } from "./organisation.js"
import { first, integerParam, type Query, select } from "./pageIndex.js"
import { errorResponse, json } from "./responses.js"
import type { Stored } from "./store.js"

/** The page-index endpoints by path (without `/mdm`). */
export const pagePaths: Readonly<Record<string, PageResource>> = {
  "/v2/assets": "assets",
  "/v2/assignments": "assignments",
  "/v2/users": "users"
}

const pageFields: Record<PageResource, string> = { assets: "assets", assignments: "assignments", users: "users" }
const versioned: ReadonlySet<PageResource> = new Set(["assignments", "users"])

/**
 * Serves the page-index endpoints (Get Assets, Get Assignments, Get Users): the filters, live pages or snapshots,
 * `sinceVersionId` deltas, `totalPages` and `nextPageIndex`. The request's method and token are checked already.
 */
export const makePageIndexServing = (model: Model, settings: Settings) => {
  const snapshots = new Map<string, ReadonlyArray<Stored<unknown>>>()
  return (resource: PageResource, query: Query, now: number): SimResponse => {
    const { organisation } = model
    const selection = select(organisation, resource, query)
    const pageIndex = integerParam(query, "pageIndex") ?? 0
    const since = first(query, "sinceVersionId")
    const store = organisation[resource] as unknown as {
      view: (key: string, filter: (r: unknown) => boolean) => ReadonlyArray<Stored<unknown>>
      delta: (key: string, since: number, deletions: boolean, filter: (r: unknown) => boolean) => ReadonlyArray<Stored<unknown>>
    }
    let records: ReadonlyArray<Stored<unknown>>
    if (since !== undefined) {
      const known = model.versionOf(since)
      if (!versioned.has(resource) || known === undefined || known.resource !== resource) {
        return errorResponse(400, versioned.has(resource) ? 9721 : 9602)
      }
      records = store.delta(selection.cacheKey, known.version, settings.deltaDeletions === "visible", selection.filter)
    } else {
      records = store.view(selection.cacheKey, selection.filter)
    }
    const versionId = model.versionIdOf(resource)
    if (settings.pages === "snapshot") {
      const snapshotKey = `${resource}?${selection.cacheKey}&since=${since ?? ""}`
      if (pageIndex === 0) snapshots.set(snapshotKey, records.map((stored) => ({ ...stored })))
      records = snapshots.get(snapshotKey) ?? records
    }
    const totalPages = records.length === 0 ? (settings.emptyTotalPages ?? 1) : Math.ceil(records.length / model.pageSize)
    if (pageIndex < 0 || (pageIndex > 0 && pageIndex >= totalPages)) return errorResponse(400, 9650)
    const stored = records.slice(pageIndex * model.pageSize, (pageIndex + 1) * model.pageSize)
    const arrays = selection.arrays?.(stored) ?? { [pageFields[resource]]: stored.map(selection.render) }
    const page = Object.values(arrays).flat()
    return json(200, {
      ...arrays,
      currentPageIndex: pageIndex,
      ...(pageIndex + 1 < totalPages ? { nextPageIndex: pageIndex + 1 } : {}),
      size: page.length,
      totalPages: Math.max(Math.min(totalPages, 1), totalPages - (settings.totalPagesLag ?? 0)),
      versionId,
      ...model.metadata(now)
    })
  }
}
