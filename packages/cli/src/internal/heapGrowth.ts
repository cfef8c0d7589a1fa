/**
 * How far V8 lets the old generation grow past what a full collection left alive before it collects again.
 *
 * By default V8 grows it by up to 4 × when collections are cheap, as they are in a streaming command: the
 * heap in use after a full collection stays at ~25–30 MB however many records pass (nothing is kept per
 * record), but the garbage promoted between collections — pages in flight, decoded records waiting to be
 * written — fills the room it is given, so the peak RSS of `vppkit list` went from ~150 MB over 100k records to
 * ~170–210 MB over 1M. At 50 % the old generation is collected once it is 1.5 × what was live: ~130 MB over 1M
 * for ~10 % more CPU (BENCHMARKS.md, item 3). The bin sets it at its start (V8 reads the flag at each full
 * collection), unless Node was started with a setting of its own.
 */
export const heapGrowingPercent = 50

/**
 * The V8 flag the bin sets (`--heap-growing-percent=50`), or `undefined` when Node's own arguments or
 * `NODE_OPTIONS` already set one: the user's choice stands.
 */
export const heapGrowingFlag = (execArgv: ReadonlyArray<string>, nodeOptions: string | undefined): string | undefined =>
  [...execArgv, ...(nodeOptions ?? "").split(/\s+/)].some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))
    ? undefined
    : `--heap-growing-percent=${heapGrowingPercent}`
