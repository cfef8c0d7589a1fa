import * as AssignmentKey from "@vppkit/core/Assignment"
import type { Fault, SimResponse } from "../Simulator.js"
import type { Host } from "./host.js"
import { decodeToken, encodeToken } from "./host.js"
import type { AssetRecord, AssignmentRecord, UserRecord } from "./organisation.js"
import { InvalidArgument } from "./pageIndex.js"
import { hash, makeRandom } from "./random.js"

export type LegacyKind = "licenses" | "users"

/** What `overrideIndex` 1 returns: the batch of the initial response again, or the batch after it. */
export type OverrideIndexSemantics = "first-batch" | "next-batch"

const messages: Record<number, string> = {
  9601: "Login required",
  9602: "Invalid argument",
  9621: "The token has expired. You need to generate a new token online using your organization's account at either school.apple.com or business.apple.com.",
  9622: "Invalid authentication token",
  9625: "The sToken has been revoked",
  9629: "The sToken is inapplicable to batchToken",
  9633: "Data for a batch token passed could not be recovered"
}

/** A legacy error body: Apple sends these with HTTP 200. */
export const legacyError = (errorNumber: number) => ({
  status: -1,
  errorNumber,
  errorMessage: messages[errorNumber] ?? "Error"
})

/** The request log's view of a POST body: its scalar fields as text, never the sToken. */
export const logParams = (body: string): Record<string, string> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return {}
  }
  if (typeof parsed !== "object" || parsed === null) return {}
  const params: Record<string, string> = {}
  for (const [key, value] of Object.entries(parsed)) {
    if (key === "sToken") continue
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") params[key] = String(value)
  }
  return params
}

// Request fields: `null` counts as absent (Apple's own examples send nulls); a wrong type is 9602.
type Body = Readonly<Record<string, unknown>>
const read = <A>(body: Body, name: string, is: (value: unknown) => value is A): A | undefined => {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (!is(value)) throw new InvalidArgument(name)
  return value
}
const isString = (value: unknown): value is string => typeof value === "string"
const isBoolean = (value: unknown): value is boolean => typeof value === "boolean"
const isInteger = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value)

interface LicenseFilters {
  readonly adamId: string | undefined
  readonly pricingParam: string | undefined
  readonly assignedOnly: boolean | undefined
  readonly userAssignedOnly: boolean | undefined
  readonly deviceAssignedOnly: boolean | undefined
  readonly serialNumber: string | undefined
}

interface UserFilters {
  readonly includeRetired: boolean
  readonly includeRetiredOnly: boolean
}

const licenseFilters = (body: Body): LicenseFilters => {
  const pricingParam = read(body, "pricingParam", isString)
  if (pricingParam !== undefined && pricingParam !== "STDQ" && pricingParam !== "PLUS") throw new InvalidArgument("pricingParam")
  const adamId = read(body, "adamId", isString)
  return {
    adamId,
    // "ignored unless adamId is given"
    pricingParam: adamId === undefined ? undefined : pricingParam,
    assignedOnly: read(body, "assignedOnly", isBoolean),
    userAssignedOnly: read(body, "userAssignedOnly", isBoolean),
    deviceAssignedOnly: read(body, "deviceAssignedOnly", isBoolean),
    serialNumber: read(body, "serialNumber", isString)
  }
}

const userFilters = (body: Body): UserFilters => {
  // An int32 (0 or 1): a JSON boolean is refused, as Apple's server does.
  const includeRetired = read(body, "includeRetired", isInteger)
  if (includeRetired !== undefined && includeRetired !== 0 && includeRetired !== 1) throw new InvalidArgument("includeRetired")
  return { includeRetired: includeRetired === 1, includeRetiredOnly: read(body, "includeRetiredOnly", isBoolean) === true }
}

/** A licence as getVPPLicensesSrv renders it. */
interface License {
  readonly licenseId: number
  readonly licenseIdStr: string
  readonly adamId: number
  readonly adamIdStr: string
  readonly pricingParam: string
  readonly productTypeId: number
  readonly productTypeName: string
  readonly isIrrevocable: boolean
  readonly status: "Associated" | "Available"
  readonly clientUserIdStr?: string
  readonly userId?: number
  readonly userIdStr?: string
  readonly itsIdHash?: string
  readonly serialNumber?: string
}

/** A record as last observed: a hash of its rendering's JSON and the legacy version at which it last changed. */
interface Stamp {
  readonly print: number
  readonly modified: number
}

/** One walk's records, cut into batches when it started: the server-side "batch data" behind its tokens. */
interface Walk {
  readonly id: number
  readonly kind: LegacyKind
  readonly batches: ReadonlyArray<ReadonlyArray<unknown>>
  readonly totalCount: number
  readonly sinceModifiedToken: string
}

const assetKey = (r: { readonly adamId: string; readonly pricingParam: string }) => `${r.adamId}:${r.pricingParam}`
const isActive = (user: UserRecord) => user.status === "Registered" || user.status === "Associated"
const maxWalks = 32

/**
 * getVPPLicensesSrv and getVPPUsersSrv over the organisation model.
 *
 * Licences: every asset has `totalCount` licence slots; each assignment holds one slot for its lifetime
 * (the lowest free one), the rest are `Available`. A licence's id is its slot, so ids are stable.
 * Users: every user entry, with the licences of the active entry.
 *
 * The initial request (no `batchToken`) cuts the result into batches of the page size and keeps them under a
 * walk id (Apple's "batch data": the last {@link maxWalks} walks are kept, older tokens get 9633). Every batch
 * but the last carries a `batchToken` for the next one; the last carries the `sinceModifiedToken`.
 *
 * Deltas are per record. Each initial request first compares every record of its kind, as rendered, with the
 * rendering observed last time: a record that is new or renders differently is stamped with a new legacy
 * version. The `sinceModifiedToken` holds the version after that comparison, so a delta from it serves exactly
 * the records stamped later: a licence when it is assigned, freed or added, or its holder's details change; a
 * user when its own entry or its licences change. Removed licences are not reported (deltas show no
 * deletions); with visible deletions a users delta also shows changed users that left the selection by
 * retiring. `overrideIndex` i with any token of a walk serves batch i-1 (`first-batch`) or
 * batch i (`next-batch`) of that walk; `totalBatchCount` is the number of batches, or one less under
 * `next-batch` (as in Apple's examples: a single batch reports "0").
 */
export class LegacyEndpoints {
  private readonly walks = new Map<number, Walk>()
  private nextWalk = 1
  private nonce = 0
  /** The legacy version: bumped by an observation that finds changed records. */
  private version = 0
  /** Every record's stamp at the last observation, per kind, by natural key. */
  private readonly stamps: Record<LegacyKind, Map<string, Stamp>> = { licenses: new Map(), users: new Map() }
  /** Slot per assignment key, per asset key. */
  private readonly slots = new Map<string, Map<string, number>>()

  constructor(
    private readonly host: Host,
    private readonly semantics: OverrideIndexSemantics,
    private readonly deltaDeletions: boolean
  ) {}

  /** Every record of a kind as the service renders it (licences unfiltered, users with retired ones). */
  records(kind: LegacyKind): ReadonlyArray<unknown> {
    return kind === "licenses" ? this.licenses() : this.users().map((u) => u.rendered)
  }

  /** Forgets every walk's batch data: their tokens get 9633 from now on. */
  forgetBatches(): void {
    this.walks.clear()
  }

  serve(kind: LegacyKind, method: string, text: string, now: number, fault: Fault | undefined): SimResponse {
    let body: unknown
    try {
      body = method === "POST" ? JSON.parse(text) : undefined
    } catch {
      body = undefined
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) return this.error(9602)
    const fields = body as Body
    const tokenProblem = this.host.checkLegacyToken(fields["sToken"], now)
    if (tokenProblem !== undefined) return this.error(tokenProblem)
    this.host.applyChurn()
    try {
      return this.respond(kind, fields, fault)
    } catch (error) {
      if (error instanceof InvalidArgument) return this.error(9602)
      throw error
    }
  }

  private error(errorNumber: number): SimResponse {
    return this.host.json(200, legacyError(errorNumber))
  }

  private respond(kind: LegacyKind, body: Body, fault: Fault | undefined): SimResponse {
    const filters = kind === "licenses" ? licenseFilters(body) : userFilters(body)
    const batchToken = read(body, "batchToken", isString)
    const overrideIndex = read(body, "overrideIndex", isInteger)
    const since = read(body, "sinceModifiedToken", isString)
    if (batchToken !== undefined) {
      // The token encodes the walk (and so its filters): the request's filters are ignored.
      const state = decodeToken(batchToken)
      if (state === undefined || typeof state["w"] !== "number" || typeof state["p"] !== "number" || state["k"] !== kind) {
        return this.error(9602)
      }
      if (state["o"] !== this.host.uId) return this.error(9629)
      const walk = this.walks.get(state["w"])
      if (walk === undefined) return this.error(9633)
      if (overrideIndex !== undefined) {
        if (overrideIndex < 1 || overrideIndex > this.totalBatchCount(walk)) return this.error(9602)
        // A ZeroRecordBatch fault has no place among indexed batches: they are served as they are.
        return this.batch(walk, this.semantics === "first-batch" ? overrideIndex - 1 : overrideIndex, false)
      }
      if (state["p"] < 0 || state["p"] >= walk.batches.length) return this.error(9602)
      if (fault?._tag === "ZeroRecordBatch") return this.emptyBatch(walk, state["p"], false)
      return this.batch(walk, state["p"], false)
    }
    if (overrideIndex !== undefined) return this.error(9602)
    let sinceVersion: number | undefined
    let walkFilters: LicenseFilters | UserFilters = filters
    if (since !== undefined) {
      const state = decodeToken(since)
      if (state === undefined || state["k"] !== kind || typeof state["v"] !== "number") return this.error(9602)
      if (state["o"] !== this.host.uId) return this.error(9629)
      walkFilters = state["f"] as LicenseFilters | UserFilters
      sinceVersion = state["v"]
    }
    const records = kind === "licenses"
      ? this.licenseWalk(walkFilters as LicenseFilters, sinceVersion)
      : this.userWalk(walkFilters as UserFilters, sinceVersion)
    const token = encodeToken({ o: this.host.uId, k: kind, v: this.version, f: walkFilters })
    const walk = this.startWalk(kind, records, token)
    if (fault?._tag === "ZeroRecordBatch") return this.emptyBatch(walk, 0, true)
    return this.batch(walk, 0, true)
  }

  private startWalk(kind: LegacyKind, records: ReadonlyArray<unknown>, sinceModifiedToken: string): Walk {
    const batches: Array<ReadonlyArray<unknown>> = []
    for (let i = 0; i < records.length; i += this.host.pageSize) batches.push(records.slice(i, i + this.host.pageSize))
    if (batches.length === 0) batches.push([])
    const walk: Walk = { id: this.nextWalk++, kind, batches, totalCount: records.length, sinceModifiedToken }
    this.walks.set(walk.id, walk)
    if (this.walks.size > maxWalks) this.walks.delete(this.walks.keys().next().value!)
    return walk
  }

  private totalBatchCount(walk: Walk): number {
    return this.semantics === "first-batch" ? walk.batches.length : walk.batches.length - 1
  }

  /** A batch token: Base64 of the walk and position, padded to about a kilobyte like Apple's. */
  private token(walk: Walk, position: number): string {
    const padding = makeRandom(hash(`batch:${this.host.seed}:${walk.id}:${position}`)).hex(1024)
    return encodeToken({ o: this.host.uId, k: walk.kind, w: walk.id, p: position, n: this.nonce++, x: padding })
  }

  private envelope(walk: Walk, records: ReadonlyArray<unknown>, initial: boolean) {
    return {
      status: 0,
      [walk.kind]: records,
      batchCount: records.length,
      totalBatchCount: String(this.totalBatchCount(walk)),
      ...(initial ? { totalCount: walk.totalCount } : {}),
      location: { locationId: Number(this.host.uId.slice(-11)), locationName: this.host.orgName },
      expirationMillis: this.host.expiresAt,
      uId: this.host.uId
    }
  }

  private batch(walk: Walk, index: number, initial: boolean): SimResponse {
    const last = index === walk.batches.length - 1
    return this.host.json(200, {
      ...this.envelope(walk, walk.batches[index]!, initial),
      ...(last ? { sinceModifiedToken: walk.sinceModifiedToken } : { batchToken: this.token(walk, index + 1) })
    })
  }

  /** An extra batch without records whose token leads to the batch at `position`: nothing is lost. */
  private emptyBatch(walk: Walk, position: number, initial: boolean): SimResponse {
    return this.host.json(200, { ...this.envelope(walk, [], initial), batchToken: this.token(walk, position) })
  }

  /**
   * Compares each record with its rendering at the last observation of its kind: new or changed records get a
   * new version (one per observation). Answers each record with the version at which it last changed.
   */
  private observe<R>(
    kind: LegacyKind,
    records: ReadonlyArray<R>,
    keyOf: (record: R) => string,
    rendered: (record: R) => unknown
  ): ReadonlyArray<{ readonly record: R; readonly modified: number }> {
    const previous = this.stamps[kind]
    const next = new Map<string, Stamp>()
    let changed: number | undefined
    const observed = records.map((record) => {
      const key = keyOf(record)
      const print = hash(JSON.stringify(rendered(record)) ?? "")
      let stamp = previous.get(key)
      if (stamp === undefined || stamp.print !== print) {
        if (changed === undefined) changed = ++this.version
        stamp = { print, modified: changed }
      }
      next.set(key, stamp)
      return { record, modified: stamp.modified }
    })
    this.stamps[kind] = next
    return observed
  }

  /** The licences of a walk: every one passing the filters, or only those changed after `since`. */
  private licenseWalk(filters: LicenseFilters, since: number | undefined): ReadonlyArray<unknown> {
    const filter = licenseFilter(filters)
    return this.observe("licenses", this.licenses(), (license) => license.licenseIdStr, (license) => license)
      .filter(({ modified, record }) => (since === undefined || modified > since) && filter(record))
      .map(({ record }) => record)
  }

  /** The users of a walk: every one passing the filters, or only those changed after `since`. */
  private userWalk(filters: UserFilters, since: number | undefined): ReadonlyArray<unknown> {
    const filter = userFilter(filters)
    return this.observe("users", this.users(), (user) => user.record.id, (user) => user.rendered)
      .filter(({ modified, record }) =>
        since === undefined
          ? filter(record)
          // With visible deletions a delta also shows the users that left the selection by retiring.
          : modified > since && (filter(record) || (this.deltaDeletions && !isActive(record.record)))
      )
      .map(({ record }) => record.rendered)
  }

  private slotsOf(key: string, assigned: ReadonlyArray<AssignmentRecord>): ReadonlyMap<string, number> {
    const slots = this.slots.get(key) ?? new Map<string, number>()
    this.slots.set(key, slots)
    const current = new Set(assigned.map(AssignmentKey.key))
    for (const assignment of slots.keys()) if (!current.has(assignment)) slots.delete(assignment)
    const taken = new Set(slots.values())
    let free = 0
    for (const assignment of current) {
      if (slots.has(assignment)) continue
      while (taken.has(free)) free++
      slots.set(assignment, free)
      taken.add(free)
    }
    return slots
  }

  private licenses(): ReadonlyArray<License> {
    const organisation = this.host.organisation
    const { assets, assignments } = organisation
    const byAsset = new Map<string, Array<AssignmentRecord>>()
    for (const { record } of assignments.all()) {
      const list = byAsset.get(assetKey(record)) ?? []
      list.push(record)
      byAsset.set(assetKey(record), list)
    }
    const out: Array<License> = []
    for (const { key, record: asset } of assets.all()) {
      const assigned = byAsset.get(key) ?? []
      const slots = this.slotsOf(key, assigned)
      const holder = new Map<number, AssignmentRecord>(assigned.map((a) => [slots.get(AssignmentKey.key(a))!, a]))
      const size = Math.max(asset.totalCount, ...[...holder.keys()].map((slot) => slot + 1))
      for (let slot = 0; slot < size; slot++) {
        out.push(renderLicense(asset, slot, holder.get(slot), (id) => organisation.activeUser(id)))
      }
    }
    return out
  }

  private users(): ReadonlyArray<{ readonly record: UserRecord; readonly rendered: unknown }> {
    const licensesOf = new Map<string, Array<License>>()
    for (const license of this.licenses()) {
      if (license.clientUserIdStr === undefined) continue
      const list = licensesOf.get(license.clientUserIdStr) ?? []
      list.push(license)
      licensesOf.set(license.clientUserIdStr, list)
    }
    const organisation = this.host.organisation
    return organisation.users.all().map(({ record }) => {
      const owns = isActive(record) && organisation.activeUser(record.clientUserId)?.id === record.id
      const licenses = owns ? licensesOf.get(record.clientUserId) ?? [] : []
      return { record, rendered: renderUser(record, licenses) }
    })
  }
}

const licenseFilter = (filters: LicenseFilters) => (license: License): boolean =>
  (filters.assignedOnly !== true || license.status === "Associated") &&
  (filters.userAssignedOnly !== true || license.clientUserIdStr !== undefined) &&
  (filters.deviceAssignedOnly !== true || license.serialNumber !== undefined) &&
  (filters.adamId === undefined || license.adamIdStr === filters.adamId) &&
  (filters.pricingParam === undefined || license.pricingParam === filters.pricingParam) &&
  (filters.serialNumber === undefined || license.serialNumber === filters.serialNumber)

const userFilter = (filters: UserFilters) => ({ record }: { readonly record: UserRecord }): boolean =>
  filters.includeRetiredOnly ? !isActive(record) : filters.includeRetired || isActive(record)

const renderLicense = (
  asset: AssetRecord,
  slot: number,
  assignment: AssignmentRecord | undefined,
  activeUser: (clientUserId: string) => UserRecord | undefined
): License => {
  const licenseId = Number(asset.adamId) * 200_000 + (asset.pricingParam === "PLUS" ? 100_000 : 0) + slot
  const book = asset.productType === "Book"
  const base = {
    licenseId,
    licenseIdStr: String(licenseId),
    adamId: Number(asset.adamId),
    adamIdStr: asset.adamId,
    pricingParam: asset.pricingParam,
    productTypeId: book ? 10 : 8,
    productTypeName: book ? "Publication" : "Application",
    isIrrevocable: !asset.revocable
  }
  if (assignment === undefined) return { ...base, status: "Available" }
  if (assignment.serialNumber !== undefined) return { ...base, status: "Associated", serialNumber: assignment.serialNumber }
  const clientUserIdStr = assignment.clientUserId!
  const user = activeUser(clientUserIdStr)
  if (user === undefined) return { ...base, status: "Associated", clientUserIdStr }
  return {
    ...base,
    status: "Associated",
    clientUserIdStr,
    userId: Number(user.id),
    userIdStr: user.id,
    ...(user.status === "Associated" && user.idHash !== undefined ? { itsIdHash: user.idHash } : {})
  }
}

const renderUser = (user: UserRecord, licenses: ReadonlyArray<License>) => ({
  userId: Number(user.id),
  clientUserIdStr: user.clientUserId,
  email: user.email,
  status: user.status,
  ...(user.inviteCode === undefined ? {} : {
    inviteCode: user.inviteCode,
    inviteUrl: `https://buy.itunes.apple.com/WebObjects/MZFinance.woa/wa/associateVPPUserWithITSAccount?inviteCode=${user.inviteCode}&mt=8`
  }),
  ...(user.idHash === undefined ? {} : { itsIdHash: user.idHash }),
  ...(licenses.length === 0 ? {} : { licenses })
})
