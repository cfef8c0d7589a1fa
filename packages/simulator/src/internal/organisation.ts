import * as AssignmentKey from "@vppkit/core/Assignment"
import type { Random } from "./random.js"
import { makeRandom } from "./random.js"
import { ResourceStore } from "./store.js"

export interface AssetRecord {
  readonly adamId: string
  readonly pricingParam: "STDQ" | "PLUS"
  readonly productType: "App" | "Book"
  readonly deviceAssignable: boolean
  readonly revocable: boolean
  readonly supportedPlatforms: ReadonlyArray<string>
  readonly totalCount: number
  readonly assignedCount: number
  readonly retiredCount: number
  /** An unlimited free asset: Apple reports no counts but `assignedCount` for it. */
  readonly unlimited?: boolean
}

export interface UserRecord {
  /** Internal identity: a clientUserId can repeat across retired entries. */
  readonly id: string
  readonly clientUserId: string
  readonly email: string
  readonly status: "Registered" | "Associated" | "Retired" | "Deleted"
  readonly inviteCode?: string
  readonly idHash?: string
}

export interface AssignmentRecord {
  readonly adamId: string
  readonly pricingParam: "STDQ" | "PLUS"
  readonly clientUserId?: string
  readonly serialNumber?: string
}

export type PageResource = "assets" | "assignments" | "users"

export interface Counts {
  readonly assets: number
  readonly assignments: number
  readonly users: number
  /** Of the assets, how many are unlimited free assets (default 0). */
  readonly unlimitedAssets?: number
}

export interface Churn {
  readonly inserts?: number
  readonly updates?: number
  readonly deletes?: number
}

const assetKey = (asset: { readonly adamId: string; readonly pricingParam: string }) =>
  `${asset.adamId}:${asset.pricingParam}`
const userKey = (user: UserRecord) => `${user.clientUserId}\u0000${user.id}`

const platforms: ReadonlyArray<ReadonlyArray<string>> = [["iOS"], ["iOS", "macOS"], ["macOS"], ["iOS", "visionOS"], [
  "iOS",
  "tvOS",
  "watchOS"
]]

/**
 * One organisation's data with Apple's semantics: assets with licence counts that follow their
 * assignments, users whose clientUserId may repeat across retired entries, assignments to users or devices.
 */
export class Organisation {
  readonly assets = new ResourceStore<AssetRecord>(assetKey)
  readonly users = new ResourceStore<UserRecord>(userKey)
  readonly assignments = new ResourceStore<AssignmentRecord>(AssignmentKey.key)
  private readonly random: Random
  private nextId = 0
  /** Active user per clientUserId. */
  private readonly activeUsers = new Map<string, UserRecord>()

  constructor(readonly seed: number, counts: Counts) {
    this.random = makeRandom(seed)
    this.generate(counts)
  }

  store(resource: PageResource): ResourceStore<AssetRecord> | ResourceStore<UserRecord> | ResourceStore<AssignmentRecord> {
    return this[resource]
  }

  activeUser(clientUserId: string): UserRecord | undefined {
    return this.activeUsers.get(clientUserId)
  }

  private generate(counts: Counts): void {
    const assets: Array<AssetRecord> = []
    for (let i = 0; i < counts.assets; i++) assets.push(this.newAsset())
    const users: Array<UserRecord> = []
    for (let i = 0; i < counts.users; i++) {
      const user = this.newUser()
      users.push(user)
      if (user.status !== "Retired") this.activeUsers.set(user.clientUserId, user)
      else if (this.random.chance(0.5)) {
        // A retired user re-created under the same clientUserId (the new entry may be retired as well: it is
        // the active one only if it is not, or churn would keep picking a user that no longer is active).
        const again = { ...this.newUser(), clientUserId: user.clientUserId, email: user.email }
        users.push(again)
        if (again.status !== "Retired") this.activeUsers.set(again.clientUserId, again)
        i++
      }
    }
    this.users.load(users)
    const assignments: Array<AssignmentRecord> = []
    const seen = new Set<string>()
    const assigned = new Map<string, number>()
    const active = [...this.activeUsers.values()]
    while (assignments.length < counts.assignments && assets.length > 0) {
      const assignment = this.newAssignment(assets, active, seen)
      seen.add(AssignmentKey.key(assignment))
      assignments.push(assignment)
      const key = assetKey(assignment)
      assigned.set(key, (assigned.get(key) ?? 0) + 1)
    }
    this.assignments.load(assignments)
    const unlimited = this.pickUnlimited(assets, counts.unlimitedAssets ?? 0)
    this.assets.load(assets.map((asset) => {
      const count = assigned.get(assetKey(asset)) ?? 0
      const counted = { ...asset, assignedCount: count, totalCount: Math.max(asset.totalCount, count) }
      return unlimited.has(assetKey(asset)) ? { ...counted, unlimited: true } : counted
    }))
  }

  /** The keys of `count` assets picked at random (no random draw at all when `count` is 0). */
  private pickUnlimited(assets: ReadonlyArray<AssetRecord>, count: number): ReadonlySet<string> {
    const keys = assets.map(assetKey)
    const picked = new Set<string>()
    while (picked.size < Math.min(count, keys.length)) picked.add(keys[this.random.int(keys.length)]!)
    return picked
  }

  private newAsset(): AssetRecord {
    const isBook = this.random.chance(0.15)
    return {
      adamId: String(280_000_000 + this.nextId++ * 7 + this.random.int(7)),
      pricingParam: this.random.chance(0.1) ? "PLUS" : "STDQ",
      productType: isBook ? "Book" : "App",
      deviceAssignable: !isBook,
      revocable: !isBook,
      supportedPlatforms: this.random.pick(platforms),
      totalCount: 10 + this.random.int(500),
      assignedCount: 0,
      retiredCount: this.random.int(5)
    }
  }

  private newUser(): UserRecord {
    const id = `${this.nextId++}`
    const clientUserId = `${this.random.hex(8)}-${this.random.hex(4)}-${this.random.hex(4)}-${this.random.hex(12)}`
    const roll = this.random.next()
    const status = roll < 0.45 ? "Registered" : roll < 0.9 ? "Associated" : "Retired"
    const email = `user${id}@example.edu`
    return status === "Registered"
      ? { id, clientUserId, email, status, inviteCode: this.random.hex(32) }
      : { id, clientUserId, email, status, idHash: `${this.random.hex(27)}=` }
  }

  private newAssignment(
    assets: ReadonlyArray<AssetRecord>,
    active: ReadonlyArray<UserRecord>,
    seen: ReadonlySet<string>
  ): AssignmentRecord {
    for (let tries = 0; tries < 3 && active.length > 0; tries++) {
      if (!this.random.chance(0.6)) break
      const asset = this.random.pick(assets)
      const user = this.random.pick(active)
      const candidate = { adamId: asset.adamId, pricingParam: asset.pricingParam, clientUserId: user.clientUserId }
      if (!seen.has(AssignmentKey.key(candidate))) return candidate
    }
    const asset = assets.length > 0 ? this.random.pick(assets) : undefined
    const serialNumber = `C${this.random.hex(11).toUpperCase()}`
    return { adamId: asset?.adamId ?? "0", pricingParam: asset?.pricingParam ?? "STDQ", serialNumber }
  }

  /**
   * Applies a batch of random writes to one resource as one new version (assignment writes also move the
   * assets' counts, so both versions change).
   */
  churn(resource: PageResource, churn: Churn): void {
    switch (resource) {
      case "assets":
        return this.churnAssets(churn)
      case "users":
        return this.churnUsers(churn)
      case "assignments":
        return this.churnAssignments(churn)
    }
  }

  private churnAssets(churn: Churn): void {
    this.assets.bump()
    for (let i = 0; i < (churn.inserts ?? 0); i++) this.assets.upsert(this.newAsset())
    for (let i = 0; i < (churn.updates ?? 0) && this.assets.size > 0; i++) {
      const stored = this.random.pick(this.assets.all())
      this.assets.upsert({ ...stored.record, totalCount: stored.record.totalCount + 1 + this.random.int(20) })
    }
    // Apple's assets are not deleted while licences exist; a "delete" retires unassigned licences.
    for (let i = 0; i < (churn.deletes ?? 0) && this.assets.size > 0; i++) {
      const stored = this.random.pick(this.assets.all())
      const record = stored.record
      if (record.assignedCount === 0 && record.totalCount <= 10) this.assets.remove(stored.key)
      else this.assets.upsert({ ...record, totalCount: Math.max(record.assignedCount, record.totalCount - 1) })
    }
  }

  private churnUsers(churn: Churn): void {
    this.users.bump()
    for (let i = 0; i < (churn.inserts ?? 0); i++) {
      const user = { ...this.newUser(), status: "Registered" as const }
      const registered: UserRecord = { id: user.id, clientUserId: user.clientUserId, email: user.email, status: "Registered", inviteCode: this.random.hex(32) }
      this.users.upsert(registered)
      this.activeUsers.set(registered.clientUserId, registered)
    }
    for (let i = 0; i < (churn.updates ?? 0) && this.activeUsers.size > 0; i++) {
      const user = this.pickActiveUser()
      const updated: UserRecord = user.status === "Registered"
        ? { id: user.id, clientUserId: user.clientUserId, email: user.email, status: "Associated", idHash: `${this.random.hex(27)}=` }
        : { ...user, email: `renamed${this.random.hex(4)}.${user.email}` }
      this.users.upsert(updated)
      this.activeUsers.set(updated.clientUserId, updated)
    }
    // Deleting a user in v2 means retiring it: the entry stays, with status Retired.
    for (let i = 0; i < (churn.deletes ?? 0) && this.activeUsers.size > 0; i++) {
      const user = this.pickActiveUser()
      const { inviteCode: _, ...rest } = user
      this.users.upsert({ ...rest, status: "Retired" })
      this.activeUsers.delete(user.clientUserId)
    }
  }

  private pickActiveUser(): UserRecord {
    const users = this.users.all()
    for (;;) {
      const stored = users[this.random.int(users.length)]!
      if (stored.record.status !== "Retired" && stored.record.status !== "Deleted") return stored.record
    }
  }

  private churnAssignments(churn: Churn): void {
    if (this.assets.size === 0) return
    this.assignments.bump()
    this.assets.bump()
    const assets = this.assets.all().map((stored) => stored.record)
    const active = [...this.activeUsers.values()]
    const seen = { has: (key: string) => this.assignments.get(key) !== undefined }
    for (let i = 0; i < (churn.inserts ?? 0); i++) {
      const assignment = this.newAssignment(assets, active, seen as ReadonlySet<string>)
      this.assignments.upsert(assignment)
      this.moveCount(assignment, +1)
    }
    // An assignment has no field of its own to change; an update re-stamps it (as a re-association does).
    for (let i = 0; i < (churn.updates ?? 0) && this.assignments.size > 0; i++) {
      this.assignments.upsert(this.random.pick(this.assignments.all()).record)
    }
    for (let i = 0; i < (churn.deletes ?? 0) && this.assignments.size > 0; i++) {
      const stored = this.random.pick(this.assignments.all())
      this.assignments.remove(stored.key)
      this.moveCount(stored.record, -1)
    }
  }

  private moveCount(assignment: AssignmentRecord, delta: number): void {
    const stored = this.assets.get(assetKey(assignment))
    if (stored === undefined) return
    const assignedCount = stored.record.assignedCount + delta
    this.assets.upsert({ ...stored.record, assignedCount, totalCount: Math.max(stored.record.totalCount, assignedCount) })
  }
}
