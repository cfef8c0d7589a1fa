import type { Fault, SimResponse } from "../Simulator.js"
import type { Host } from "./host.js"
import { decodeToken, encodeToken } from "./host.js"
import { booleanParam, first, InvalidArgument, type Query } from "./pageIndex.js"
import { hash, uuidFrom } from "./random.js"
import { compare, type ResourceStore, type Stored } from "./store.js"
import type {
  SubscriptionAdminRecord,
  SubscriptionAssignmentRecord,
  SubscriptionRecord,
  SubscriptionResource,
  Subscriptions
} from "./subscriptions.js"
import { subscriptionKey } from "./subscriptions.js"

type AnyRecord = SubscriptionRecord | SubscriptionAssignmentRecord | SubscriptionAdminRecord

interface Selection<A = AnyRecord> {
  readonly cacheKey: string
  readonly filter: (record: A) => boolean
  readonly render: (record: A) => unknown
}

/**
 * What a cursor endpoint serves: records in key order (a store), a label (in its versionIds and cursors) and how
 * a query selects and renders them. The subscription endpoints are three; a resource served from its descriptor
 * is another.
 */
export interface CursorSource {
  readonly label: string
  readonly store: ResourceStore<any>
  readonly select: (query: Query) => Selection<any>
}

/** An array parameter of int64 values (repeated keys or a comma list), or `undefined` when absent. */
const integers = (query: Query, name: string): ReadonlySet<number> | undefined => {
  const values = query.get(name)
  if (values === undefined || values.length === 0) return undefined
  if (!values.every((value) => /^\d+$/.test(value))) throw new InvalidArgument(name)
  return new Set(values.map(Number))
}

const strings = (query: Query, name: string): ReadonlySet<string> | undefined => {
  const values = query.get(name)
  return values === undefined || values.length === 0 ? undefined : new Set(values)
}

const among = <A>(set: ReadonlySet<A> | undefined, value: A): boolean => set === undefined || set.has(value)

const describeSets = (sets: Record<string, ReadonlySet<number | string> | boolean | undefined>): string =>
  JSON.stringify(Object.entries(sets).map(([name, set]) => [name, typeof set === "object" ? [...set].sort() : set]))

/**
 * The subscription endpoints: keyset cursors over the live data, so a cursor stays valid under writes
 * (records written behind it are missed by that traversal and show in the next). A cursor is Base64 of its
 * state — resource, filters, the last key served, when it was issued and the invalidation epoch — and is
 * rejected with 9812 when it was invalidated, expired, or is used with other filters or another endpoint.
 */
export class CursorEndpoints {
  private epoch = 0

  constructor(
    private readonly host: Host,
    readonly data: Subscriptions,
    private readonly ttlMillis: number | undefined
  ) {}

  /** The source of a subscription endpoint. */
  source(resource: SubscriptionResource): CursorSource {
    return { label: resource, store: this.data.store(resource), select: (query) => this.select(resource, query) }
  }

  versionId(resource: SubscriptionResource): string {
    return this.versionIdOf(this.source(resource))
  }

  private versionIdOf(source: CursorSource): string {
    return uuidFrom(this.host.seed, source.label, source.store.version)
  }

  /** Every cursor handed out so far is rejected from now on. */
  invalidate(): void {
    this.epoch++
  }

  /** Every record of a resource, in cursor order, as the endpoint renders it without filters. */
  records(resource: SubscriptionResource): ReadonlyArray<unknown> {
    const selection = this.select(resource, new Map())
    return this.data.store(resource).all().map((stored) => selection.render(stored.record))
  }

  private select(resource: SubscriptionResource, query: Query): Selection {
    const adamIds = integers(query, "adamId")
    switch (resource) {
      case "subscriptions": {
        const parents = integers(query, "parentAdamId")
        return {
          cacheKey: describeSets({ adamIds, parents }),
          filter: (r) => among(adamIds, r.adamId) && (parents === undefined || parents.has((r as SubscriptionRecord).parentAdamId ?? -1)),
          render: (r) => {
            const { adamId, counts, parentAdamId, periodEndDate, status } = r as SubscriptionRecord
            return { parentAdamId, adamId, status, periodEndDate, counts }
          }
        }
      }
      case "subscriptionAssignments": {
        const parents = integers(query, "parentAdamId")
        const users = strings(query, "clientUserId")
        const parentOf = (adamId: number) => this.data.subscriptions.get(subscriptionKey({ adamId }))?.record.parentAdamId ?? -1
        return {
          cacheKey: describeSets({ adamIds, parents, users }),
          filter: (r) => {
            const a = r as SubscriptionAssignmentRecord
            return among(adamIds, a.adamId) && among(users, a.clientUserId) && (parents === undefined || parents.has(parentOf(a.adamId)))
          },
          render: (r) => {
            const { adamId, clientUserId, renewing } = r as SubscriptionAssignmentRecord
            return { adamId, clientUserId, renewing }
          }
        }
      }
      case "subscriptionAdmins": {
        const includeUserState = booleanParam(query, "includeUserState") === true
        return {
          cacheKey: describeSets({ adamIds }),
          filter: (r) => among(adamIds, r.adamId),
          render: (r) => {
            const { adamId, clientUserId, idHash, userStatus } = r as SubscriptionAdminRecord
            return includeUserState ? { adamId, clientUserId, idHash, userStatus } : { adamId, clientUserId, idHash }
          }
        }
      }
    }
  }

  private cursorFor(resource: string, cacheKey: string, lastKey: string, now: number): string {
    return encodeToken({ u: this.host.uId, r: resource, q: hash(cacheKey), k: lastKey, e: this.epoch, t: now })
  }

  /** The key the cursor continues after, or `undefined` when the cursor is not acceptable (9812). */
  private position(cursor: string, resource: string, cacheKey: string, now: number): string | undefined {
    const state = decodeToken(cursor)
    if (state === undefined || typeof state["k"] !== "string" || typeof state["t"] !== "number") return undefined
    if (state["u"] !== this.host.uId || state["r"] !== resource || state["q"] !== hash(cacheKey)) return undefined
    if (state["e"] !== this.epoch) return undefined
    if (this.ttlMillis !== undefined && now - state["t"] > this.ttlMillis) return undefined
    return state["k"]
  }

  /** Serves a page of a source in the records array `field` (the descriptor's). */
  serve(source: CursorSource, field: string, query: Query, now: number, fault: Fault | undefined): SimResponse {
    const resource = source.label
    const selection = source.select(query)
    this.host.applyChurn()
    const cursor = first(query, "cursor")
    const after = cursor === undefined ? undefined : this.position(cursor, resource, selection.cacheKey, now)
    if (cursor !== undefined && after === undefined) {
      return this.host.json(400, { errorNumber: 9812, errorMessage: "The provided cursor is invalid." })
    }
    const records = source.store.view(`cursor:${selection.cacheKey}`, selection.filter)
    const start = after === undefined ? 0 : firstAfter(records, after)
    const page = records.slice(start, start + this.host.pageSize)
    let nextCursor = start + page.length < records.length
      ? this.cursorFor(resource, selection.cacheKey, page[page.length - 1]!.key, now)
      : undefined
    if (fault?._tag === "RepeatedCursor" && cursor !== undefined) nextCursor = cursor
    return this.host.json(200, {
      [field]: page.map((stored) => selection.render(stored.record)),
      ...(nextCursor === undefined ? {} : { nextCursor }),
      versionId: this.versionIdOf(source),
      mdmInfo: null,
      ...this.host.metadata(now)
    })
  }
}

/** The index of the first record whose key sorts after `key` (records are sorted by key). */
const firstAfter = (records: ReadonlyArray<Stored<unknown>>, key: string): number => {
  let low = 0
  let high = records.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (compare(records[mid]!.key, key) <= 0) low = mid + 1
    else high = mid
  }
  return low
}
