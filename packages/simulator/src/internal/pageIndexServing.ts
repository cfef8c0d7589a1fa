import type { Settings, SimResponse } from "../Simulator.js"
import type { Model } from "./model.js"
import { first, integerParam, type Query } from "./pageIndex.js"
import type { PageSource } from "./pageSource.js"
import { errorResponse, json } from "./responses.js"
import type { Stored } from "./store.js"

/** The checkpoint parameter of Apple's page-index endpoints (asked of one without an incremental query: 9602). */
const sinceVersionId = "sinceVersionId"

/**
 * Serves a page-index endpoint (Get Assets, Get Assignments, Get Users, or a resource served from its
 * descriptor): the filters, live pages or snapshots, deltas from the descriptor's incremental parameter,
 * `totalPages` and `nextPageIndex`. The request's method and token are checked already.
 */
export const makePageIndexServing = (model: Model, settings: Settings) => {
  const snapshots = new Map<string, ReadonlyArray<Stored<unknown>>>()
  return (source: PageSource, query: Query, now: number): SimResponse => {
    const { descriptor, store } = source
    const resource = descriptor.name
    const selection = source.select(query)
    const pageIndex = integerParam(query, "pageIndex") ?? 0
    const since = first(query, descriptor.delta?.param ?? sinceVersionId)
    let records: ReadonlyArray<Stored<unknown>>
    if (since !== undefined) {
      if (descriptor.delta === undefined) return errorResponse(400, 9602)
      const known = model.versionOf(since)
      if (known === undefined || known.resource !== resource) return errorResponse(400, 9721)
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
    const arrays = selection.arrays?.(stored) ?? { [descriptor.field]: stored.map(selection.render) }
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
