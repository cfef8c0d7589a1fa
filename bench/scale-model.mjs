#!/usr/bin/env node
// The fleet's scale model (BENCHMARKS.md, "Fleet: scale model for 10,000 locations"). No dependencies, no
// randomness: the locations are the quantiles (i + 0.5) / N of a log-normal fitted to the median and p99.
// Every default is an assumption or a figure cited in BENCHMARKS.md; change any of them on the command line:
//   node bench/scale-model.mjs --latency=0.3 --legacy=0 --windowHours=6 --p99=1000000
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
  latency: 0.2, // seconds per request to Apple (assumption: 0.1 to 0.3)
  latencyFactor: 1.1, // item 1: vppkit's wall / the latency-bound ideal
  overheadPerRun: 0.25, // s per run besides the requests (item 4: incremental less start-up, 255 ms)
  writeRowsPerSec: 42_530, // one sync into PostgreSQL (item 7)
  cpuPerPage: 0.005, // client CPU-s per 1000 records written (notes: full SQLite sync, 5.0 s per 1M)
  cpuPerRequest: 0.0006, // client CPU-s per request besides its records (notes, change 6: 0.58-0.60 ms per 100-record page)
  everyMinutes: 15,
  windowHours: 4, // the nightly full window (assumption: 02:00-06:00)
  tickConcurrency: 8, // the fleet's cron tick today (packages/fleet/src/Schedules.ts, branch fleetcli)
  poolPerRunner: 10, // node-postgres's default pool (NodeDatabase sets none)
  clusterConnsPerRunner: 2 // @effect/cluster: the shard-lock connection it reserves + one for its messages (assumption)
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

const L = p.latency
// a page-index pass of n pages: page 0 alone, then rounds of `inFlight`; never faster than the token's rate, nor than the writes
const pagePass = (n, size = p.pageSize) => Math.max(p.latencyFactor * L * (1 + Math.ceil((n - 1) / p.inFlight)), n / p.ratePerToken, (n * size) / p.writeRowsPerSec)
const cursorPass = (n) => Math.max(n * L, n / p.ratePerToken) // sequential (spec §9.1)
const pages = (records, size = p.pageSize) => Math.max(1, Math.ceil(records / size))

function location(assignments, full) {
  const users = Math.round(assignments * p.usersPerAssignment)
  const changed = (r) => Math.round(r * p.changedPer15)
  // [pages, seconds, rows written] per resource, one after another (Sync.run); Client Config first (1 request)
  const passes = [
    [1, L, 0],
    [pages(p.assets), pagePass(pages(p.assets)), p.assets], // assets: no sinceVersionId (spec §4.3): full every run
    ...(full ? [assignments, users] : [changed(assignments), changed(users)]).map((r) => [pages(r), pagePass(pages(r)), r]),
    ...Array.from({ length: p.cursorRequests }, () => [1, cursorPass(1), 0]), // no sinceVersionId (spec §9.1)
    ...(p.legacy ? (full ? [assignments, users] : [changed(assignments), changed(users)]).map((r) => [pages(r, p.legacyBatch), pagePass(pages(r, p.legacyBatch), p.legacyBatch), r]) : [])
  ]
  const requests = passes.reduce((s, x) => s + x[0], 0)
  const seconds = p.overheadPerRun + passes.reduce((s, x) => s + x[1], 0)
  const rows = passes.reduce((s, x) => s + x[2], 0)
  const cpu = (rows / 1000) * p.cpuPerPage + requests * p.cpuPerRequest
  return { requests, seconds, rows, cpu }
}
const sum = (xs, f) => xs.reduce((s, x) => s + f(x), 0)
const inc = sizes.map((n) => location(n, false))
const full = sizes.map((n) => location(n, true))
const cycle = p.everyMinutes * 60, window = p.windowHours * 3600
const out = (k, v) => console.log(`${k.padEnd(58)} ${typeof v === "number" ? Math.round(v * 100) / 100 : v}`)

out("sigma of the log-normal; mean / max assignments", `${sigma.toFixed(2)}; ${Math.round(sum(sizes, (x) => x) / sizes.length)} / ${Math.max(...sizes)}`)
out("share of all assignments in the largest 1 % of locations", `${(100 * sum(sizes.slice(-Math.ceil(p.locations / 100)), (x) => x) / sum(sizes, (x) => x)).toFixed(0)} %`)
out("incremental: requests per location-run (median)", inc[p.locations >> 1].requests)
out("incremental: requests per hour", sum(inc, (x) => x.requests) * (3600 / cycle))
out("incremental: requests per second, fleet-wide", sum(inc, (x) => x.requests) / cycle)
out("incremental: seconds per location-run, mean / p99", `${(sum(inc, (x) => x.seconds) / p.locations).toFixed(2)} / ${inc[Math.floor(p.locations * 0.99)].seconds.toFixed(2)}`)
const incConc = sum(inc, (x) => x.seconds) / cycle
out("incremental: concurrent syncs needed (Little: N/cycle x T)", incConc)
out(`incremental: one tick at the fleet's concurrency ${p.tickConcurrency}, minutes`, sum(inc, (x) => x.seconds) / p.tickConcurrency / 60)
out("incremental: rows/s written", sum(inc, (x) => x.rows) / cycle)
out("incremental: client CPU cores", sum(inc, (x) => x.cpu) / cycle)
out("full: requests per night", sum(full, (x) => x.requests))
out("full: requests per second over the window", sum(full, (x) => x.requests) / window)
out("full: seconds per location, median / p99 / max", `${full[p.locations >> 1].seconds.toFixed(1)} / ${full[Math.floor(p.locations * 0.99)].seconds.toFixed(1)} / ${full[p.locations - 1].seconds.toFixed(0)}`)
const fullConc = sum(full, (x) => x.seconds) / window
out("full: concurrent syncs needed for the window", fullConc)
out(`full: one tick at the fleet's concurrency ${p.tickConcurrency}, hours`, sum(full, (x) => x.seconds) / p.tickConcurrency / 3600)
out("full: rows written per night = rows stored (millions)", sum(full, (x) => x.rows) / 1e6)
out("full: rows/s over the window (mean)", sum(full, (x) => x.rows) / window)
out(`full: rows/s at peak, ${Math.ceil(fullConc)} full syncs each at the token's rate`, Math.ceil(fullConc) * p.ratePerToken * p.pageSize)
out("full: client CPU cores over the window", sum(full, (x) => x.cpu) / window)
const conc = Math.ceil(incConc + fullConc)
const perRunner = p.poolPerRunner - p.clusterConnsPerRunner
out("night: concurrent syncs (incremental + full)", conc)
out(`runners at ${perRunner} syncs each (pool ${p.poolPerRunner} - ${p.clusterConnsPerRunner} cluster)`, Math.ceil(conc / perRunner))
out("PostgreSQL connections (1 per running sync + cluster's)", conc + Math.ceil(conc / perRunner) * p.clusterConnsPerRunner)
