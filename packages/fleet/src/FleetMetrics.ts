/**
 * The fleet's metrics (Effect `Metric`s, in the runtime's registry), updated by the `Location` entity: syncs by
 * result and mode, records per resource, requests per HTTP status, 429s, retries, drifted passes, sync durations
 * and each location's token days left. {@link prometheus} renders a snapshot of the registry — these and any other
 * metric of the process, `@effect/cluster`'s included — in Prometheus's text format (`/metrics`, `FleetHttp`).
 *
 * @since 0.1.0
 */
import type * as VppClient from "@vppkit/core/VppClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

/**
 * Syncs of locations, tagged `result` (`synced`, `failed`) and `mode` (`full`, `incremental`: as asked).
 *
 * @since 0.1.0
 * @category metrics
 */
export const syncs = Metric.counter("vppkit_fleet_syncs_total", { description: "Syncs of locations by result and mode" })

/**
 * Records delivered by committed resource runs, tagged `resource`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const records = Metric.counter("vppkit_fleet_records_total", { description: "Records delivered by committed resource runs" })

/**
 * Requests to Apple (every attempt), tagged `status` (the HTTP status, `none` when no response came).
 *
 * @since 0.1.0
 * @category metrics
 */
export const requests = Metric.counter("vppkit_fleet_requests_total", { description: "Requests to Apple by HTTP status" })

/**
 * Requests Apple answered 429 (rate limited).
 *
 * @since 0.1.0
 * @category metrics
 */
export const rateLimited = Metric.counter("vppkit_fleet_rate_limited_total", { description: "Requests answered 429 (rate limited)" })

/**
 * Requests retried.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retries = Metric.counter("vppkit_fleet_retries_total", { description: "Requests retried" })

/**
 * Committed resource runs whose pass drifted (the data changed while it was read), tagged `resource`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const drifted = Metric.counter("vppkit_fleet_drifted_total", { description: "Committed resource runs whose pass drifted" })

/**
 * How long syncs of locations took, in seconds (0.5 s to about 68 min, doubling).
 *
 * @since 0.1.0
 * @category metrics
 */
export const syncDuration = Metric.histogram(
  "vppkit_fleet_sync_duration_seconds",
  MetricBoundaries.exponential({ start: 0.5, factor: 2, count: 14 }),
  "How long syncs of locations took"
)

/**
 * Days until the token a location syncs with expires (negative once expired), tagged `location` (`uId`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const tokenDaysLeft = Metric.gauge("vppkit_fleet_token_days_left", { description: "Days until the location's token expires" })

/**
 * Scheduled syncs that did not start at their slot because the location's previous scheduled sync had not finished
 * (it was still running or still waiting for its runner's pool), tagged `schedule` (`incremental`, `full`: the one
 * whose slot came), counted by the runner whose tick sent the slot (the fleet's count is the sum over its runners).
 * Each is also reported (`Schedules.Event` `Overrun`, a warning in the log). A rising count says a schedule's
 * concurrency (per runner) is too low for the locations of the runners (or a location's syncs take longer than its
 * period).
 *
 * @since 0.1.0
 * @category metrics
 */
export const scheduleOverruns = Metric.counter("vppkit_fleet_schedule_overruns_total", {
  description: "Scheduled syncs not started at their slot because the location's previous one had not finished"
})

/**
 * Rows of `@effect/cluster`'s message storage deleted by the retention of processed messages (`MessageRetention`),
 * tagged `table` (`messages`, `replies`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const clusterRowsDeleted = Metric.counter("vppkit_fleet_cluster_rows_deleted_total", {
  description: "Rows of the cluster's message storage deleted by the retention of processed messages"
})

/**
 * What {@link observeSync} reads of a sync's outcome (`Location.Outcome`).
 *
 * @since 0.1.0
 * @category models
 */
export interface SyncObservation {
  readonly full: boolean
  readonly result: "synced" | "failed"
  readonly startedAt: Date
  readonly finishedAt: Date
  readonly resources: ReadonlyArray<{
    readonly resource: string
    readonly records: number
    readonly consistency: "consistent" | "drifted"
  }>
}

/**
 * Counts a finished sync: its result and mode, its duration, its resources' records and drifted passes.
 *
 * @since 0.1.0
 * @category observing
 */
export const observeSync = (outcome: SyncObservation): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* Metric.increment(
      Metric.tagged(Metric.tagged(syncs, "result", outcome.result), "mode", outcome.full ? "full" : "incremental")
    )
    yield* Metric.update(syncDuration, (outcome.finishedAt.getTime() - outcome.startedAt.getTime()) / 1000)
    for (const resource of outcome.resources) {
      yield* Metric.incrementBy(Metric.tagged(records, "resource", resource.resource), resource.records)
      if (resource.consistency === "drifted") yield* Metric.increment(Metric.tagged(drifted, "resource", resource.resource))
    }
  })

/**
 * Sets the days left of a location's token.
 *
 * @since 0.1.0
 * @category observing
 */
export const observeToken = (uId: string, expiresAt: Date): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Metric.set(Metric.tagged(tokenDaysLeft, "location", uId), (expiresAt.getTime() - now) / 86_400_000))

/**
 * The client's options with hooks that count its requests, 429s and retries (the options' own hooks run too).
 *
 * @since 0.1.0
 * @category observing
 */
export const instrument = <O extends Pick<VppClient.Options, "onRequest" | "onRetry">>(options: O): O => ({
  ...options,
  onRequest: (event: VppClient.RequestEvent) =>
    Effect.gen(function*() {
      yield* Metric.increment(Metric.tagged(requests, "status", event.status === undefined ? "none" : String(event.status)))
      if (event.status === 429 || event.error?._tag === "RateLimitedError") yield* Metric.increment(rateLimited)
      if (options.onRequest !== undefined) yield* options.onRequest(event)
    }),
  onRetry: (event: VppClient.RetryEvent) =>
    Effect.zipRight(Metric.increment(retries), options.onRetry === undefined ? Effect.void : options.onRetry(event))
})

const metricName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[a-zA-Z_:]/.test(cleaned) ? cleaned : `_${cleaned}`
}

const labelName = (name: string): string => {
  const cleaned = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[a-zA-Z_]/.test(cleaned) ? cleaned : `_${cleaned}`
}

const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")

const escapeHelp = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const sample = (value: number | bigint): string =>
  typeof value === "bigint"
    ? value.toString()
    : Number.isNaN(value)
    ? "NaN"
    : value === Infinity
    ? "+Inf"
    : value === -Infinity
    ? "-Inf"
    : String(value)

const labels = (pairs: ReadonlyArray<readonly [string, string]>): string =>
  pairs.length === 0 ? "" : `{${pairs.map(([key, value]) => `${labelName(key)}="${escapeLabel(value)}"`).join(",")}}`

/**
 * Renders metric pairs (`Metric.snapshot`) in Prometheus's text exposition format (0.0.4): per metric name a
 * `# HELP` (its description, if any) and a `# TYPE` line, then its samples — counters and gauges as they are,
 * histograms as cumulative `_bucket{le=…}` samples (`+Inf` included) with `_sum` and `_count`, summaries as
 * `{quantile=…}` samples with `_sum` and `_count`, frequencies as a counter per value (label `key`). Names and
 * label names are made valid (`[a-zA-Z_:][a-zA-Z0-9_:]*`), label values escaped, a metric's labels sorted by name.
 * Ordered by name, then labels.
 *
 * @since 0.1.0
 * @category rendering
 */
export const prometheus = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, { type: string; help: string | undefined; lines: Array<string> }>()
  const sorted = [...pairs].sort((a, b) => {
    const byName = a.metricKey.name.localeCompare(b.metricKey.name)
    return byName !== 0 ? byName : labels(tagsOf(a)).localeCompare(labels(tagsOf(b)))
  })
  for (const pair of sorted) {
    const name = metricName(pair.metricKey.name)
    const tags = tagsOf(pair)
    const state = pair.metricState
    const type = MetricState.isCounterState(state) || MetricState.isFrequencyState(state)
      ? "counter"
      : MetricState.isGaugeState(state)
      ? "gauge"
      : MetricState.isHistogramState(state)
      ? "histogram"
      : MetricState.isSummaryState(state)
      ? "summary"
      : "untyped"
    let family = families.get(name)
    if (family === undefined) {
      families.set(name, family = { type, help: Option.getOrUndefined(pair.metricKey.description), lines: [] })
    } else if (family.type !== type) {
      continue // one name, one type: a second kind of metric under a name already rendered is left out
    }
    const lines = family.lines
    if (MetricState.isCounterState(state)) {
      lines.push(`${name}${labels(tags)} ${sample(state.count)}`)
    } else if (MetricState.isGaugeState(state)) {
      lines.push(`${name}${labels(tags)} ${sample(state.value)}`)
    } else if (MetricState.isFrequencyState(state)) {
      for (const [key, count] of [...state.occurrences].sort(([a], [b]) => a.localeCompare(b))) {
        lines.push(`${name}${labels([...tags, ["key", key]])} ${sample(count)}`)
      }
    } else if (MetricState.isHistogramState(state)) {
      let infinite = false
      for (const [boundary, count] of state.buckets) {
        if (boundary === Infinity) infinite = true
        lines.push(`${name}_bucket${labels([...tags, ["le", sample(boundary)]])} ${sample(count)}`)
      }
      if (!infinite) lines.push(`${name}_bucket${labels([...tags, ["le", "+Inf"]])} ${sample(state.count)}`)
      lines.push(`${name}_sum${labels(tags)} ${sample(state.sum)}`)
      lines.push(`${name}_count${labels(tags)} ${sample(state.count)}`)
    } else if (MetricState.isSummaryState(state)) {
      for (const [quantile, value] of state.quantiles) {
        if (Option.isSome(value)) lines.push(`${name}${labels([...tags, ["quantile", sample(quantile)]])} ${sample(value.value)}`)
      }
      lines.push(`${name}_sum${labels(tags)} ${sample(state.sum)}`)
      lines.push(`${name}_count${labels(tags)} ${sample(state.count)}`)
    }
  }
  const out: Array<string> = []
  for (const [name, family] of families) {
    if (family.help !== undefined) out.push(`# HELP ${name} ${escapeHelp(family.help)}`)
    out.push(`# TYPE ${name} ${family.type}`)
    out.push(...family.lines)
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}

const tagsOf = (pair: MetricPair.MetricPair.Untyped): ReadonlyArray<readonly [string, string]> =>
  pair.metricKey.tags.map((tag) => [tag.key, tag.value] as const).sort(([a], [b]) => a.localeCompare(b))

/**
 * The runtime's metrics now, in Prometheus's text format ({@link prometheus}).
 *
 * @since 0.1.0
 * @category rendering
 */
export const render: Effect.Effect<string> = Effect.map(Metric.snapshot, prometheus)
