/** A small seeded PRNG (mulberry32): the simulator's data and probabilistic faults repeat for a seed. */
export interface Random {
  /** A float in [0, 1). */
  readonly next: () => number
  /** An integer in [0, n). */
  readonly int: (n: number) => number
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  readonly chance: (probability: number) => boolean
  readonly hex: (length: number) => string
}

export const makeRandom = (seed: number): Random => {
  let state = (seed >>> 0) ^ 0x9e3779b9
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  return {
    next,
    int,
    pick: (items) => items[int(items.length)]!,
    chance: (probability) => next() < probability,
    hex: (length) => {
      let out = ""
      while (out.length < length) out += int(0x10000).toString(16).padStart(4, "0")
      return out.slice(0, length)
    }
  }
}

/** A UUID-shaped string derived from the inputs (Apple's versionIds look like UUIDs). */
export const uuidFrom = (seed: number, label: string, n: number): string => {
  const random = makeRandom(hash(`${seed}:${label}:${n}`))
  const h = random.hex(32)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-1${h.slice(13, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

export const hash = (text: string): number => {
  let h = 2166136261
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 16777619)
  }
  return h >>> 0
}
