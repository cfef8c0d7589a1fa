/**
 * A seeded generator (mulberry32): `next(below)` answers a whole number in `0 .. below - 1`. Tests that draw
 * random moments or plans print the seed, so a failing run can be replayed from it.
 */
export const seeded = (seed: number) => {
  let state = seed >>> 0
  return (below: number): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return below <= 1 ? 0 : Math.floor((((t ^ (t >>> 14)) >>> 0) / 4_294_967_296) * below)
  }
}
