/**
 * One resource's records as the simulated server holds them: kept sorted by natural key (so inserts land
 * anywhere and shift later pages, as on a real server), each stamped with the version of its last write,
 * with tombstones for deletions so deltas can show them when the simulator is set to.
 */
export interface Stored<A> {
  readonly key: string
  record: A
  /** The resource version at this record's last write. */
  modified: number
  deleted: boolean
}

export class ResourceStore<A> {
  /** Live records, sorted by key. */
  private live: Array<Stored<A>> = []
  private readonly byKey = new Map<string, Stored<A>>()
  /** The resource's version counter: bumped once per write batch. */
  version = 0
  private readonly views = new Map<string, { readonly version: number; readonly records: ReadonlyArray<Stored<A>> }>()

  constructor(readonly keyOf: (record: A) => string) {}

  get size(): number {
    return this.live.length
  }

  all(): ReadonlyArray<Stored<A>> {
    return this.live
  }

  get(key: string): Stored<A> | undefined {
    const stored = this.byKey.get(key)
    return stored === undefined || stored.deleted ? undefined : stored
  }

  /** Loads initial data at version 0 (no write is recorded). */
  load(records: ReadonlyArray<A>): void {
    for (const record of records) {
      const stored: Stored<A> = { key: this.keyOf(record), record, modified: 0, deleted: false }
      if (this.byKey.has(stored.key)) continue
      this.byKey.set(stored.key, stored)
      this.live.push(stored)
    }
    this.live.sort((a, b) => compare(a.key, b.key))
  }

  /** Starts a write batch: every change until the next call shares one new version. */
  bump(): number {
    this.version++
    this.views.clear()
    return this.version
  }

  upsert(record: A): void {
    const key = this.keyOf(record)
    const existing = this.byKey.get(key)
    if (existing !== undefined && !existing.deleted) {
      existing.record = record
      existing.modified = this.version
      return
    }
    const stored: Stored<A> = { key, record, modified: this.version, deleted: false }
    this.byKey.set(key, stored)
    this.live.splice(this.indexOf(key), 0, stored)
  }

  remove(key: string): boolean {
    const existing = this.byKey.get(key)
    if (existing === undefined || existing.deleted) return false
    existing.deleted = true
    existing.modified = this.version
    const index = this.indexOf(key)
    if (this.live[index]?.key === key) this.live.splice(index, 1)
    return true
  }

  /** The live records passing `filter`, cached per filter until the next write. */
  view(cacheKey: string, filter: (record: A) => boolean): ReadonlyArray<Stored<A>> {
    const cached = this.views.get(cacheKey)
    if (cached !== undefined && cached.version === this.version) return cached.records
    const records = cacheKey === "" ? this.live.slice() : this.live.filter((stored) => filter(stored.record))
    this.views.set(cacheKey, { version: this.version, records })
    return records
  }

  /** Records written after `since` (tombstones too when asked), oldest write first, cached until the next write. */
  delta(cacheKey: string, since: number, withDeletions: boolean, filter: (record: A) => boolean): ReadonlyArray<Stored<A>> {
    const fullKey = `delta:${since}:${withDeletions}:${cacheKey}`
    const cached = this.views.get(fullKey)
    if (cached !== undefined && cached.version === this.version) return cached.records
    const records: Array<Stored<A>> = []
    for (const stored of this.byKey.values()) {
      if (stored.modified > since && (withDeletions || !stored.deleted) && filter(stored.record)) records.push(stored)
    }
    records.sort((a, b) => a.modified - b.modified || compare(a.key, b.key))
    this.views.set(fullKey, { version: this.version, records })
    return records
  }

  private indexOf(key: string): number {
    let low = 0
    let high = this.live.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (compare(this.live[mid]!.key, key) < 0) low = mid + 1
      else high = mid
    }
    return low
  }
}

export const compare = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0
