import type { AssetRecord, AssignmentRecord, Organisation, PageResource, UserRecord } from "./organisation.js"
import type { Stored } from "./store.js"

/** A parsed query: every key with all its values (repeated keys and comma lists both accepted). */
export type Query = ReadonlyMap<string, ReadonlyArray<string>>

export class InvalidArgument {
  readonly _tag = "InvalidArgument"
  constructor(readonly parameter: string) {}
}

export const first = (query: Query, name: string): string | undefined => query.get(name)?.[0]

export const booleanParam = (query: Query, name: string): boolean | undefined => {
  const value = first(query, name)
  if (value === undefined) return undefined
  if (value === "true") return true
  if (value === "false") return false
  throw new InvalidArgument(name)
}

export const integerParam = (query: Query, name: string): number | undefined => {
  const value = first(query, name)
  if (value === undefined) return undefined
  if (!/^-?\d+$/.test(value)) throw new InvalidArgument(name)
  return Number(value)
}

type Filter<A> = (record: A) => boolean

const all = <A>(...filters: ReadonlyArray<Filter<A> | undefined>): Filter<A> => {
  const active = filters.filter((f): f is Filter<A> => f !== undefined)
  return (record) => active.every((f) => f(record))
}

const equals = <A>(value: string | undefined, get: (record: A) => string | undefined): Filter<A> | undefined =>
  value === undefined ? undefined : (record) => get(record) === value

const flag = <A>(value: boolean | undefined, get: (record: A) => boolean): Filter<A> | undefined =>
  value === undefined ? undefined : (record) => get(record) === value

const atLeast = <A>(value: number | undefined, get: (record: A) => number): Filter<A> | undefined =>
  value === undefined ? undefined : (record) => get(record) >= value

const atMost = <A>(value: number | undefined, get: (record: A) => number): Filter<A> | undefined =>
  value === undefined ? undefined : (record) => get(record) <= value

const isActive = (status: UserRecord["status"]) => status === "Registered" || status === "Associated"

/** The filter a query stands for, and the part of the query that names it (the cache key). */
export interface Selection<A> {
  readonly cacheKey: string
  readonly filter: Filter<A>
  readonly render: (stored: Stored<A>) => unknown
  /**
   * The records arrays of a page, by field, when the response splits them (Get Assets with `unlimited=true`);
   * otherwise the page's records go, rendered, into the endpoint's one array.
   */
  readonly arrays?: (page: ReadonlyArray<Stored<A>>) => Readonly<Record<string, ReadonlyArray<unknown>>>
}

const cacheKeyOf = (query: Query, names: ReadonlyArray<string>): string =>
  names.filter((name) => query.has(name)).map((name) => `${name}=${query.get(name)!.join(",")}`).join("&")

/** Apple's `totalCount` of an unlimited free asset listed among the others: the largest 32-bit integer. */
const unlimitedTotalCount = 2_147_483_647

const totalOf = (asset: AssetRecord): number => asset.unlimited === true ? unlimitedTotalCount : asset.totalCount

const renderAsset = (record: AssetRecord) => ({
  adamId: record.adamId,
  assignedCount: record.assignedCount,
  availableCount: totalOf(record) - record.assignedCount,
  deviceAssignable: record.deviceAssignable,
  pricingParam: record.pricingParam,
  productType: record.productType,
  retiredCount: record.unlimited === true ? 0 : record.retiredCount,
  revocable: record.revocable,
  supportedPlatforms: record.supportedPlatforms,
  totalCount: totalOf(record)
})

/** An UnlimitedResponseAsset: an asset without `availableCount`, `totalCount` and `retiredCount`. */
const renderUnlimitedAsset = (record: AssetRecord) => ({
  adamId: record.adamId,
  assignedCount: record.assignedCount,
  deviceAssignable: record.deviceAssignable,
  pricingParam: record.pricingParam,
  productType: record.productType,
  revocable: record.revocable,
  supportedPlatforms: record.supportedPlatforms
})

/**
 * Get Assets. `unlimited`: `true` puts the page's unlimited free assets in a separate `unlimitedAssets` array
 * (Apple leaves their paging open: here they are paged with the others, in key order), `false` leaves them out,
 * and without it they are listed among the others with `totalCount` 2147483647.
 */
export const selectAssets = (query: Query): Selection<AssetRecord> => {
  const unlimited = booleanParam(query, "unlimited")
  const filter = all<AssetRecord>(
    equals(first(query, "productType"), (a) => a.productType),
    equals(first(query, "pricingParam"), (a) => a.pricingParam),
    equals(first(query, "adamId"), (a) => a.adamId),
    flag(booleanParam(query, "revocable"), (a) => a.revocable),
    flag(booleanParam(query, "deviceAssignable"), (a) => a.deviceAssignable),
    atLeast(integerParam(query, "minAvailableCount"), (a) => totalOf(a) - a.assignedCount),
    atMost(integerParam(query, "maxAvailableCount"), (a) => totalOf(a) - a.assignedCount),
    atLeast(integerParam(query, "minAssignedCount"), (a) => a.assignedCount),
    atMost(integerParam(query, "maxAssignedCount"), (a) => a.assignedCount),
    unlimited === false ? (a) => a.unlimited !== true : undefined
  )
  return {
    cacheKey: cacheKeyOf(query, [
      "productType",
      "pricingParam",
      "adamId",
      "revocable",
      "deviceAssignable",
      "minAvailableCount",
      "maxAvailableCount",
      "minAssignedCount",
      "maxAssignedCount",
      "unlimited"
    ]),
    filter,
    render: ({ record }) => renderAsset(record),
    ...(unlimited === true
      ? {
        arrays: (page: ReadonlyArray<Stored<AssetRecord>>) => ({
          assets: page.filter(({ record }) => record.unlimited !== true).map(({ record }) => renderAsset(record)),
          unlimitedAssets: page.filter(({ record }) => record.unlimited === true).map(({ record }) =>
            renderUnlimitedAsset(record)
          )
        })
      }
      : {})
  }
}

export const selectAssignments = (organisation: Organisation, query: Query): Selection<AssignmentRecord> => {
  const excludeInactive = booleanParam(query, "excludeInactiveUsers")
  const includeUserState = booleanParam(query, "includeUserState") === true
  const filter = all<AssignmentRecord>(
    equals(first(query, "adamId"), (a) => a.adamId),
    equals(first(query, "clientUserId"), (a) => a.clientUserId),
    equals(first(query, "serialNumber"), (a) => a.serialNumber),
    equals(first(query, "pricingParam"), (a) => a.pricingParam),
    excludeInactive === true
      ? (a) => a.clientUserId === undefined || organisation.activeUser(a.clientUserId) !== undefined
      : undefined
  )
  return {
    cacheKey: cacheKeyOf(query, ["adamId", "clientUserId", "serialNumber", "pricingParam", "excludeInactiveUsers"]),
    filter,
    render: ({ record }) => {
      if (!includeUserState || record.clientUserId === undefined) return record
      const user = organisation.activeUser(record.clientUserId)
      return {
        ...record,
        userStatus: user?.status ?? "Retired",
        ...(user?.idHash === undefined ? {} : { idHash: user.idHash })
      }
    }
  }
}

export const selectUsers = (query: Query): Selection<UserRecord> => {
  const activeOnly = booleanParam(query, "activeOnly")
  const retiredOnly = booleanParam(query, "retiredOnly")
  const filter = all<UserRecord>(
    equals(first(query, "clientUserId"), (u) => u.clientUserId),
    activeOnly === true ? (u) => isActive(u.status) : undefined,
    retiredOnly === true ? (u) => u.status === "Retired" : undefined
  )
  return {
    cacheKey: cacheKeyOf(query, ["clientUserId", "activeOnly", "retiredOnly"]),
    filter,
    render: ({ deleted, record }) => {
      const { id: _, ...user } = record
      return deleted ? { clientUserId: user.clientUserId, email: user.email, status: "Deleted" } : user
    }
  }
}

export const select = (organisation: Organisation, resource: PageResource, query: Query): Selection<any> => {
  switch (resource) {
    case "assets":
      return selectAssets(query)
    case "assignments":
      return selectAssignments(organisation, query)
    case "users":
      return selectUsers(query)
  }
}
