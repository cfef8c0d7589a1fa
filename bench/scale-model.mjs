#!/usr/bin/env node
// The fleet's scale model (BENCHMARKS.md, "Fleet: scale model for 10,000 locations"). No dependencies but the built
// @vppkit/fleet (the schedules' slot offsets; `npm run build` first) and effect's string hash (the cluster's shards), no randomness: the locations are the quantiles (i + 0.5) / N of a log-normal fitted to the median and p99.
// Every default is an assumption or a figure cited in BENCHMARKS.md; change any of them on the command line:
//   node bench/scale-model.mjs --latency=0.3 --legacy=0 --windowHours=6 --p99=1000000 --fullConcurrency=8
// It prints one markdown table: columns at 100, 200 and 300 ms and at 200 ms without the v1 resources, or a single
// column when --latency or --legacy is given.
import { offsetOf } from "@vppkit/fleet/Schedules"
import { Hash } from "effect"

const defaults = {
  locations: 10_000,
  median: 5_000, // assignments per location, median (assumption)
  p99: 500_000, // assignments per location, 99th percentile (assumption)
  cap: 2_000_000, // the largest location (assumption; the log-normal's far tail is cut here)
  usersPerAssignment: 0.25, // users per assignment (assumption)
  assets: 300, // assets per location: one page (assumption)
  cursorRequests: 3, // subscriptions, their assignments, admins: one page each (assumption; spec §9.1: sequential)
  legacy: 1, // Sync.run's default resources include the v1 licences and users (1) or not (0)
  legacyBatch: 500, // v1 batch size (assumption; spec §12.3: "on the order of several hundred")
  changedPer15: 0.001, // share of assignments and users changed per 15 minutes (assumption)
  pageSize: 1000, // records per page (spec §4.4: examples of 549 to 1000)
  inFlight: 5, // spec §4.2
  ratePerToken: 15 * 0.952, // spec §2/§11.6: 15/s per token; item 5: the client keeps 95.2 % of it
  latency: 0.2, // seconds per request to Apple (assumption: 0.1 to 0.3); the table's columns set it
  latencyFactor: 1.1, // item 1: vppkit's wall / the latency-bound ideal
  overheadPerRun: 0.25, // s per run besides the requests (item 4: incremental less start-up, 255 ms)
  writeRowsPerSec: 92_600, // one full sync into an empty partition, COPY straight in (item 7: 92,567 and 92,782)
  stagedRowsPerSec: 51_500, // one full sync over existing rows, COPY into staging + upsert (assumption: item 7 x 2.95 / 5.3, notes "PostgreSQL (issue 15)": backend CPU direct COPY 2.9-3.0 s vs staging 5.0-5.6 s per 300k)
  cpuPerRequest: 0.0071, // runner CPU-s per request, all of a sync's work included (item 10, 1 runner: 64 ms per sync of 9.0 requests, the lowest measured; 98 ms in the 2026-12-06T06:53Z run, --cpuPerRequest=0.0109)
  cpuPerPage: 0.010, // runner CPU-s per 1000 records written (notes "PostgreSQL (issue 15)": CLI CPU 2.9-3.1 s per 300k, direct COPY)
  pgCpuPerPage: 0.018, // PostgreSQL backend CPU-s per 1000 rows of a full pass over existing rows (same notes: staging 5.0-5.6 s per 300k)
  everyMinutes: 15,
  windowHours: 4, // --full-window, default 240 min after the full cron (02:00 UTC)
  incrementalConcurrency: 16, // each runner's pool of scheduled incremental syncs (Location.defaultIncrementalConcurrency, PostgreSQL)
  fullConcurrency: 4, // each runner's pool of scheduled full syncs (Location.defaultFullConcurrency, PostgreSQL)
  headroom: 2, // capacity / Little's average, per pool (assumption: a lost runner's locations moving to the others, runners' uneven shares, hand-overs waiting for a lock)
  poolExtra: 2, // the runner's database pool is incremental + full + this (Location.connectionsFor): a connection for each sync (its location lock), 2 for the ticks, token reads and outcome writes
  poolExtraInUse: 1, // of those 2, open at once besides the syncs' (assumption)
  ownConnsInUse: 3, // besides the runner's pool, open at once: the shard-lock connection, 1 for message and runner storage, the runner lock (assumption: the cluster's pool opens connections on demand)
  ownConnsPerRunner: 5, // besides the runner's pool: the cluster's own pool of at most 4 (clusterConnections in fleetRun.ts: shard-lock connection, message and runner storage) + the runner lock (holdRunner: 1 held)
  maxConnections: 100 // PostgreSQL's default max_connections
}
const p = { ...defaults }
for (const arg of process.argv.slice(2)) {
  const [k, v] = arg.replace(/^--/, "").split("=")
  if (!(k in defaults)) throw new Error(`unknown parameter ${k}`)
  p[k] = Number(v)
}

// inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9)
const probit = (q) => {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239]
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572]
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416]
  const tail = (r) => (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1)
  if (q < 0.02425) return tail(Math.sqrt(-2 * Math.log(q)))
  if (q > 0.97575) return -tail(Math.sqrt(-2 * Math.log(1 - q)))
  const x = q - 0.5, r = x * x
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * x / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
}
const sigma = Math.log(p.p99 / p.median) / probit(0.99)
const sizes = Array.from({ length: p.locations }, (_, i) => Math.min(p.cap, Math.round(p.median * Math.exp(sigma * probit((i + 0.5) / p.locations)))))


const sum = (xs, f) => xs.reduce((s, x) => s + f(x), 0)
// the most [runner, start, seconds] intervals running at one instant: over all runners, and on the busiest one
const peakAtOnce = (intervals, runners) => {
  const peak = (list) => {
    const events = list.flatMap(([, start, seconds]) => [[start, 1], [start + seconds, -1]])
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]) // an end before a start at the same instant
    let running = 0, most = 0
    for (const [, change] of events) most = Math.max(most, running += change)
    return most
  }
  const byRunner = Array.from({ length: runners }, (_, k) => peak(intervals.filter(([runner]) => runner === k)))
  return { all: peak(intervals), busiest: Math.max(...byRunner) }
}
const pages = (records, size) => Math.max(1, Math.ceil(records / size))

function model(p) {
  const sigma = Math.log(p.p99 / p.median) / probit(0.99)
  const sizes = Array.from({ length: p.locations }, (_, i) => Math.min(p.cap, Math.round(p.median * Math.exp(sigma * probit((i + 0.5) / p.locations)))))
  const L = p.latency
  // a page-index pass of n pages: page 0 alone, then rounds of `inFlight`; never faster than the token's rate, nor than the writes
  const pagePass = (n, size, rowsPerSec) =>
    Math.max(p.latencyFactor * L * (1 + Math.ceil((n - 1) / p.inFlight)), n / p.ratePerToken, (n * size) / rowsPerSec)
  const cursorPass = (n) => Math.max(n * L, n / p.ratePerToken) // sequential (spec §9.1)
  function location(assignments, full) {
    const users = Math.round(assignments * p.usersPerAssignment)
    const changed = (r) => Math.round(r * p.changedPer15)
    const write = full ? p.stagedRowsPerSec : p.writeRowsPerSec // a nightly full pass goes over existing rows: staged
    const records = full ? [assignments, users] : [changed(assignments), changed(users)]
    // [pages, seconds, rows written] per resource, one after another (Sync.run); Client Config first (1 request)
    const passes = [
      [1, L, 0],
      [pages(p.assets, p.pageSize), pagePass(pages(p.assets, p.pageSize), p.pageSize, write), p.assets], // no sinceVersionId (spec §4.3)
      ...records.map((r) => [pages(r, p.pageSize), pagePass(pages(r, p.pageSize), p.pageSize, write), r]),
      ...Array.from({ length: p.cursorRequests }, () => [1, cursorPass(1), 0]), // no sinceVersionId (spec §9.1)
      ...(p.legacy ? records.map((r) => [pages(r, p.legacyBatch), pagePass(pages(r, p.legacyBatch), p.legacyBatch, write), r]) : [])
    ]
    const requests = sum(passes, (x) => x[0])
    const seconds = p.overheadPerRun + sum(passes, (x) => x[1])
    const rows = sum(passes, (x) => x[2])
    return { requests, seconds, rows, cpu: (rows / 1000) * p.cpuPerPage + requests * p.cpuPerRequest }
  }
  const inc = sizes.map((n) => location(n, false))
  const full = sizes.map((n) => location(n, true))
  const cycle = p.everyMinutes * 60, window = p.windowHours * 3600
  const incLittle = sum(inc, (x) => x.seconds) / cycle
  const fullLittle = sum(full, (x) => x.seconds) / window
  const fullRows = sum(full, (x) => x.rows)
  // Each tick covers a minute and sends that minute's slots, each to its location's entity, which runs it in the pools
  // of the runner that owns the location, starting it a minute after its slot (Schedules' startOf): a minute's slots
  // start at their own seconds over the next minute, as the slots are spread, not at once at the tick.
  const incBatch = p.locations * 60 / cycle, fullBatch = p.locations * 60 / window
  const incMean = sum(inc, (x) => x.seconds) / p.locations, fullMean = sum(full, (x) => x.seconds) / p.locations
  const syncConns = p.incrementalConcurrency + p.fullConcurrency // one connection per sync of the pools: they never wait for one
  const poolPerRunner = syncConns + p.poolExtra // Location.connectionsFor
  const night = incLittle + fullLittle
  const needs = [
    Math.ceil((p.headroom * incLittle) / p.incrementalConcurrency),
    Math.ceil((p.headroom * fullLittle) / p.fullConcurrency),
    Math.ceil((p.headroom * night) / syncConns)
  ]
  const runners = Math.max(...needs)
  // The syncs at once, instant by instant over the night: each location's slots at its own offsets, as
  // Schedules.offsetOf gives them (a hash of the uId, whole seconds) for the uIds 2049025000000000 + i, location i the
  // i-th size (the hash pairs sizes with offsets); each sync running from a minute after its slot for its time; the
  // locations over the runners by their shards (@effect/cluster's: its string hash of the uId mod 300), the shards
  // dealt round the runners (an even spread, assumption; the cluster's hash ring is not exactly even). The largest at any
  // instant, fleet-wide and on the busiest runner, per pool; nothing queues (a pool's peak above its size would).
  const uIds = Array.from({ length: p.locations }, (_, i) => String(2049025000000000 + i))
  const incOffsets = uIds.map((uId) => offsetOf(uId, cycle * 1000) / 1000)
  const fullOffsets = uIds.map((uId) => offsetOf(uId, window * 1000) / 1000)
  const runnerOf = uIds.map((uId) => (Math.abs(Hash.string(uId) % 300) + 1) % runners)
  const incIntervals = (k) => inc.map((x, i) => [runnerOf[i], incOffsets[i] + 60 + k * cycle, x.seconds])
  const nightInc = Array.from({ length: Math.ceil((window + 600) / cycle) + 1 }, (_, k) => incIntervals(k - 1)).flat()
  const nightFull = full.map((x, i) => [runnerOf[i], fullOffsets[i] + 60, x.seconds])
  const incPeak = peakAtOnce(nightInc, runners), fullPeak = peakAtOnce(nightFull, runners)
  const nightPeak = peakAtOnce([...nightInc, ...nightFull], runners)
  const perRunner = poolPerRunner + p.ownConnsPerRunner
  const connectionsAtMost = runners * perRunner
  const connectionsPeak = nightPeak.all + runners * (p.poolExtraInUse + p.ownConnsInUse)
  const connectionsAverage = Math.ceil(night) + runners * (p.poolExtraInUse + p.ownConnsInUse)
  const fitting = Math.floor(p.maxConnections / perRunner)
  const pct = (q) => Math.min(p.locations - 1, Math.floor(p.locations * q))
  const r = (v, d = 2) => Number(v.toFixed(d)).toLocaleString("en-US")
  return {
    header: `${Math.round(L * 1000)} ms${p.legacy ? "" : ", no v1"}`,
    rows: [
      ["sigma of the log-normal; mean / largest assignments", `${sigma.toFixed(2)}; ${r(sum(sizes, (x) => x) / sizes.length, 0)} / ${r(Math.max(...sizes), 0)}`],
      ["incremental: requests per location-run / per hour, fleet-wide", `${inc[p.locations >> 1].requests} / ${r(sum(inc, (x) => x.requests) * 3600 / cycle, 0)}`],
      ["incremental: requests per second, fleet-wide", r(sum(inc, (x) => x.requests) / cycle, 1)],
      ["incremental: seconds per location-run, mean / p99", `${r(sum(inc, (x) => x.seconds) / p.locations)} / ${r(inc[pct(0.99)].seconds)}`],
      ["incremental: slots per minute (one tick); syncs at once (Little)", `${r(incBatch, 0)}; ${r(incLittle, 1)}`],
      [`incremental: locations one runner keeps up with (pool of ${p.incrementalConcurrency} x period / mean time; at ${p.headroom}x headroom)`, `${r(p.incrementalConcurrency * cycle / incMean, 0)}; ${r(p.incrementalConcurrency * cycle / incMean / p.headroom, 0)}`],
      [`incremental: syncs at once at the peak, all runners / the busiest runner (its pool: ${p.incrementalConcurrency})`, `${incPeak.all} / ${incPeak.busiest}`],
      ["incremental: rows/s written", r(sum(inc, (x) => x.rows) / cycle, 0)],
      ["incremental: runner CPU, cores", r(sum(inc, (x) => x.cpu) / cycle)],
      ["full: requests per night (per second over the window)", `${r(sum(full, (x) => x.requests) / 1e6)} M (${r(sum(full, (x) => x.requests) / window, 0)})`],
      ["full: seconds per location, median / p99 / largest", `${r(full[p.locations >> 1].seconds, 1)} / ${r(full[pct(0.99)].seconds, 0)} / ${r(full[p.locations - 1].seconds, 0)}`],
      ["full: slots per minute (one tick); syncs at once (Little)", `${r(fullBatch, 0)}; ${r(fullLittle, 1)}`],
      [`full: syncs at once at the peak, all runners / the busiest runner (its pool: ${p.fullConcurrency})`, `${fullPeak.all} / ${fullPeak.busiest}`],
      ["full: rows written per night (millions); mean rows/s over the window", `${r(fullRows / 1e6, 0)} M; ${r(fullRows / window, 0)}`],
      [`full: rows/s at peak, ${p.fullConcurrency} large full syncs at the token's rate: per runner / all runners`, `${r(p.fullConcurrency * p.ratePerToken * p.pageSize, 0)} / ${r(runners * p.fullConcurrency * p.ratePerToken * p.pageSize, 0)}`],
      ["full: PostgreSQL backend CPU for the night's rows, cores (mean)", r((fullRows / 1000) * p.pgCpuPerPage / window)],
      ["full: runner CPU, cores (mean over the window)", r(sum(full, (x) => x.cpu) / window)],
      ["night: syncs at once (Little, incremental + full)", r(night, 1)],
      [`runners: the largest of ${p.headroom} x Little / ${p.incrementalConcurrency} (incremental), / ${p.fullConcurrency} (full), / ${syncConns} sync connections (night)`, `${runners} (${needs.join(", ")})`],
      [`PostgreSQL connections, night: Little + ${p.poolExtraInUse + p.ownConnsInUse} a runner / the night's peak (the syncs due at its busiest instant, before the pools cap them) / at most (runners x ${perRunner}: pool ${poolPerRunner}, cluster and runner lock ${p.ownConnsPerRunner}); of ${p.maxConnections}`, `${connectionsAverage} / ${connectionsPeak} / ${connectionsAtMost}${connectionsAtMost > p.maxConnections ? " (over)" : ""}`],
      [`runners that fit ${p.maxConnections} connections at ${perRunner} each`, fitting]
    ]
  }
}

const given = Object.keys(p).filter((k) => p[k] !== defaults[k])
const columns = given.includes("latency") || given.includes("legacy")
  ? [p]
  : [{ ...p, latency: 0.1 }, { ...p, latency: 0.2 }, { ...p, latency: 0.3 }, { ...p, latency: 0.2, legacy: 0 }]
const results = columns.map(model)
console.log(`| figure | ${results.map((x) => x.header).join(" | ")} |`)
console.log(`| --- |${results.map(() => " --- |").join("")}`)
results[0].rows.forEach(([name], i) => console.log(`| ${name} | ${results.map((x) => x.rows[i][1]).join(" | ")} |`))
