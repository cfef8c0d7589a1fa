import type { Churn, Organisation, UserRecord } from "./organisation.js"
import type { Random } from "./random.js"
import { hash, makeRandom } from "./random.js"
import { ResourceStore } from "./store.js"

export type SubscriptionResource = "subscriptions" | "subscriptionAssignments" | "subscriptionAdmins"

export interface Breakdown {
  readonly renewing: number
  readonly expiring: number
}

export interface SubscriptionRecord {
  readonly parentAdamId: number | null
  readonly adamId: number
  readonly status: "ACTIVE" | "INACTIVE" | "PAUSED"
  readonly periodEndDate: string
  readonly counts: { readonly assigned: Breakdown; readonly available: Breakdown; readonly total: Breakdown }
}

export interface SubscriptionAssignmentRecord {
  readonly adamId: number
  readonly clientUserId: string
  readonly renewing: boolean
}

export interface SubscriptionAdminRecord {
  readonly adamId: number
  readonly clientUserId: string
  readonly idHash: string
  readonly userStatus: UserRecord["status"]
}

export interface SubscriptionCounts {
  readonly subscriptions: number
  readonly assignments: number
  readonly admins: number
}

// Keys sort like the numbers they hold, so cursor pages follow adamId order.
const pad = (adamId: number) => String(adamId).padStart(16, "0")
export const subscriptionKey = (s: { readonly adamId: number }) => pad(s.adamId)
const userKey = (r: { readonly adamId: number; readonly clientUserId: string }) => `${pad(r.adamId)}:${r.clientUserId}`

const zero: Breakdown = { renewing: 0, expiring: 0 }
const kindOf = (renewing: boolean): keyof Breakdown => renewing ? "renewing" : "expiring"
const add = (b: Breakdown, kind: keyof Breakdown, n: number): Breakdown => ({ ...b, [kind]: b[kind] + n })

/**
 * The organisation's subscriptions, their assignments to users and their administrators, drawn from the
 * same organisation's active users. Counts keep Apple's invariant per kind (so also in sum):
 * `assigned + available = total`. Every write goes through {@link churn} as one new version of each
 * store it touches.
 */
export class Subscriptions {
  readonly subscriptions = new ResourceStore<SubscriptionRecord>(subscriptionKey)
  readonly assignments = new ResourceStore<SubscriptionAssignmentRecord>(userKey)
  readonly admins = new ResourceStore<SubscriptionAdminRecord>(userKey)
  private readonly random: Random
  private nextId = 0

  constructor(seed: number, private readonly organisation: Organisation, counts: SubscriptionCounts) {
    this.random = makeRandom(hash(`subscriptions:${seed}`))
    this.generate(counts)
  }

  store(resource: SubscriptionResource): ResourceStore<SubscriptionRecord | SubscriptionAssignmentRecord | SubscriptionAdminRecord> {
    switch (resource) {
      case "subscriptions":
        return this.subscriptions as ResourceStore<any>
      case "subscriptionAssignments":
        return this.assignments as ResourceStore<any>
      case "subscriptionAdmins":
        return this.admins as ResourceStore<any>
    }
  }

  private activeUsers(): ReadonlyArray<UserRecord> {
    return this.organisation.users.all().map((s) => s.record).filter((u) => u.status === "Registered" || u.status === "Associated")
  }

  private generate(counts: SubscriptionCounts): void {
    const subscriptions = new Map<number, SubscriptionRecord>()
    for (let i = 0; i < counts.subscriptions; i++) {
      const s = this.newSubscription()
      subscriptions.set(s.adamId, s)
    }
    const ids = [...subscriptions.keys()]
    const users = this.activeUsers()
    const assignments = new Map<string, SubscriptionAssignmentRecord>()
    // A fifth of the subscriptions keep zero counts: no assignments, no licences.
    const assignable = ids.filter((_, i) => i % 5 !== 4)
    const holdsLicences = new Set(assignable)
    for (let tries = 0; assignments.size < counts.assignments && tries < counts.assignments * 4; tries++) {
      if (assignable.length === 0 || users.length === 0) break
      const record = { adamId: this.random.pick(assignable), clientUserId: this.random.pick(users).clientUserId, renewing: this.random.chance(0.7) }
      if (assignments.has(userKey(record))) continue
      assignments.set(userKey(record), record)
      const s = subscriptions.get(record.adamId)!
      subscriptions.set(s.adamId, this.withAssigned(s, kindOf(record.renewing), +1, false))
    }
    this.subscriptions.load([...subscriptions.values()].map((s) => holdsLicences.has(s.adamId) ? this.withAvailable(s) : s))
    this.assignments.load([...assignments.values()])
    const admins = new Map<string, SubscriptionAdminRecord>()
    const associated = users.filter((u) => u.idHash !== undefined)
    for (let tries = 0; admins.size < counts.admins && tries < counts.admins * 4; tries++) {
      if (ids.length === 0 || associated.length === 0) break
      const admin = this.newAdmin(this.random.pick(ids), this.random.pick(associated))
      admins.set(userKey(admin), admin)
    }
    this.admins.load([...admins.values()])
  }

  private newSubscription(): SubscriptionRecord {
    const id = this.nextId++
    const month = String(1 + this.random.int(12)).padStart(2, "0")
    const day = String(1 + this.random.int(28)).padStart(2, "0")
    const roll = this.random.next()
    return {
      parentAdamId: this.random.chance(0.25) ? null : 900_000_000 + this.random.int(4) * 1_000,
      adamId: 1_500_000_000 + id * 11 + this.random.int(11),
      status: roll < 0.8 ? "ACTIVE" : roll < 0.9 ? "PAUSED" : "INACTIVE",
      periodEndDate: `2027-${month}-${day}`,
      counts: { assigned: zero, available: zero, total: zero }
    }
  }

  private withAvailable(s: SubscriptionRecord): SubscriptionRecord {
    const renewing = this.random.int(6)
    const expiring = this.random.int(4)
    const { assigned, available, total } = s.counts
    return {
      ...s,
      counts: {
        assigned,
        available: { renewing: available.renewing + renewing, expiring: available.expiring + expiring },
        total: { renewing: total.renewing + renewing, expiring: total.expiring + expiring }
      }
    }
  }

  /** Assigns (`+1`) or releases (`-1`) a licence of one kind; assigning takes an available one, or adds one. */
  private withAssigned(s: SubscriptionRecord, kind: keyof Breakdown, delta: 1 | -1, keepTotal: boolean): SubscriptionRecord {
    const { assigned, available, total } = s.counts
    if (delta === -1) {
      return { ...s, counts: { assigned: add(assigned, kind, -1), available: add(available, kind, +1), total } }
    }
    if (available[kind] > 0 && keepTotal) {
      return { ...s, counts: { assigned: add(assigned, kind, +1), available: add(available, kind, -1), total } }
    }
    return { ...s, counts: { assigned: add(assigned, kind, +1), available, total: add(total, kind, +1) } }
  }

  private newAdmin(adamId: number, user: UserRecord): SubscriptionAdminRecord {
    return { adamId, clientUserId: user.clientUserId, idHash: user.idHash ?? `${this.random.hex(27)}=`, userStatus: user.status }
  }

  private move(adamId: number, kind: keyof Breakdown, delta: 1 | -1): void {
    const stored = this.subscriptions.get(subscriptionKey({ adamId }))
    if (stored !== undefined) this.subscriptions.upsert(this.withAssigned(stored.record, kind, delta, true))
  }

  /** Applies random writes to one resource as one new version (assignment writes move the counts too). */
  churn(resource: SubscriptionResource, churn: Churn): void {
    switch (resource) {
      case "subscriptions":
        return this.churnSubscriptions(churn)
      case "subscriptionAssignments":
        return this.churnAssignments(churn)
      case "subscriptionAdmins":
        return this.churnAdmins(churn)
    }
  }

  private churnSubscriptions(churn: Churn): void {
    this.subscriptions.bump()
    for (let i = 0; i < (churn.inserts ?? 0); i++) {
      const s = this.newSubscription()
      this.subscriptions.upsert(this.random.chance(0.5) ? this.withAvailable(s) : s)
    }
    for (let i = 0; i < (churn.updates ?? 0) && this.subscriptions.size > 0; i++) {
      this.subscriptions.upsert(this.withAvailable(this.random.pick(this.subscriptions.all()).record))
    }
    // Only subscriptions nobody holds go away; others become inactive.
    for (let i = 0; i < (churn.deletes ?? 0) && this.subscriptions.size > 0; i++) {
      const stored = this.random.pick(this.subscriptions.all())
      if (stored.record.counts.assigned.renewing + stored.record.counts.assigned.expiring === 0) this.subscriptions.remove(stored.key)
      else this.subscriptions.upsert({ ...stored.record, status: "INACTIVE" })
    }
  }

  private churnAssignments(churn: Churn): void {
    const subscriptions = this.subscriptions.all()
    const users = this.activeUsers()
    if (subscriptions.length === 0 || users.length === 0) return
    this.assignments.bump()
    this.subscriptions.bump()
    for (let i = 0; i < (churn.inserts ?? 0); i++) {
      const record = {
        adamId: this.random.pick(subscriptions).record.adamId,
        clientUserId: this.random.pick(users).clientUserId,
        renewing: this.random.chance(0.7)
      }
      if (this.assignments.get(userKey(record)) !== undefined) continue
      this.assignments.upsert(record)
      this.move(record.adamId, kindOf(record.renewing), +1)
    }
    // An update switches renewal on or off.
    for (let i = 0; i < (churn.updates ?? 0) && this.assignments.size > 0; i++) {
      const { record } = this.random.pick(this.assignments.all())
      this.assignments.upsert({ ...record, renewing: !record.renewing })
      this.move(record.adamId, kindOf(record.renewing), -1)
      this.move(record.adamId, kindOf(!record.renewing), +1)
    }
    for (let i = 0; i < (churn.deletes ?? 0) && this.assignments.size > 0; i++) {
      const stored = this.random.pick(this.assignments.all())
      this.assignments.remove(stored.key)
      this.move(stored.record.adamId, kindOf(stored.record.renewing), -1)
    }
  }

  private churnAdmins(churn: Churn): void {
    const subscriptions = this.subscriptions.all()
    const users = this.activeUsers().filter((u) => u.idHash !== undefined)
    this.admins.bump()
    for (let i = 0; i < (churn.inserts ?? 0) && subscriptions.length > 0 && users.length > 0; i++) {
      this.admins.upsert(this.newAdmin(this.random.pick(subscriptions).record.adamId, this.random.pick(users)))
    }
    for (let i = 0; i < (churn.updates ?? 0) && this.admins.size > 0; i++) {
      const { record } = this.random.pick(this.admins.all())
      this.admins.upsert({ ...record, idHash: `${this.random.hex(27)}=` })
    }
    for (let i = 0; i < (churn.deletes ?? 0) && this.admins.size > 0; i++) {
      this.admins.remove(this.random.pick(this.admins.all()).key)
    }
  }
}
