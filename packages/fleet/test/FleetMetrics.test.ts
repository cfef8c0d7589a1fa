import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as FleetMetrics from "../src/FleetMetrics.js"

/**
 * The Prometheus text rendering of Effect's metric snapshot: counters, gauges, histograms (cumulative buckets,
 * `+Inf`, `_sum`, `_count`), frequencies, labels escaped, names made valid. Each test renders only its own metrics.
 */

const renderOf = (prefix: string) =>
  Effect.map(Metric.snapshot, (pairs) => FleetMetrics.prometheus(pairs.filter((pair) => pair.metricKey.name.startsWith(prefix))))

describe("FleetMetrics.prometheus", () => {
  it.effect("counters and gauges with their labels, HELP and TYPE once per name, ordered", () =>
    Effect.gen(function*() {
      const counter = Metric.counter("t1_requests_total", { description: "Requests\nby status" })
      yield* Metric.incrementBy(Metric.tagged(counter, "status", "200"), 3)
      yield* Metric.increment(Metric.tagged(counter, "status", "429"))
      const gauge = Metric.gauge("t1_days.left")
      yield* Metric.set(Metric.tagged(gauge, "location", "a \"quoted\" \\ name\nx"), -1.5)
      assert.strictEqual(
        yield* renderOf("t1_"),
        [
          "# TYPE t1_days_left gauge",
          "t1_days_left{location=\"a \\\"quoted\\\" \\\\ name\\nx\"} -1.5",
          "# HELP t1_requests_total Requests\\nby status",
          "# TYPE t1_requests_total counter",
          "t1_requests_total{status=\"200\"} 3",
          "t1_requests_total{status=\"429\"} 1",
          ""
        ].join("\n")
      )
    }))

  it.effect("a histogram: cumulative buckets up to +Inf, its sum and count", () =>
    Effect.gen(function*() {
      const histogram = Metric.histogram("t2_seconds", MetricBoundaries.fromIterable([1, 2, 4]), "Durations")
      for (const value of [0.5, 1, 3, 10]) yield* Metric.update(histogram, value)
      assert.strictEqual(
        yield* renderOf("t2_"),
        [
          "# HELP t2_seconds Durations",
          "# TYPE t2_seconds histogram",
          "t2_seconds_bucket{le=\"1\"} 2",
          "t2_seconds_bucket{le=\"2\"} 2",
          "t2_seconds_bucket{le=\"4\"} 3",
          "t2_seconds_bucket{le=\"+Inf\"} 4",
          "t2_seconds_sum 14.5",
          "t2_seconds_count 4",
          ""
        ].join("\n")
      )
    }))

  it.effect("a frequency: a counter per value; nothing rendered for no metrics", () =>
    Effect.gen(function*() {
      const frequency = Metric.frequency("t3_errors")
      yield* Metric.update(frequency, "b")
      yield* Metric.update(frequency, "a")
      yield* Metric.update(frequency, "b")
      assert.strictEqual(
        yield* renderOf("t3_"),
        ["# TYPE t3_errors counter", "t3_errors{key=\"a\"} 1", "t3_errors{key=\"b\"} 2", ""].join("\n")
      )
      assert.strictEqual(yield* renderOf("t3_none_"), "")
    }))

  it.effect("observeSync counts a sync by result and mode, its duration, records per resource and drifted passes", () =>
    Effect.gen(function*() {
      const before = yield* renderOf("vppkit_fleet_")
      assert.notInclude(before, "vppkit_fleet_syncs_total{")
      yield* FleetMetrics.observeSync({
        full: true,
        result: "synced",
        startedAt: new Date(0),
        finishedAt: new Date(1_500),
        resources: [
          { resource: "assets", records: 7, consistency: "consistent" },
          { resource: "users", records: 5, consistency: "drifted" }
        ]
      })
      const text = yield* renderOf("vppkit_fleet_")
      const lines = text.split("\n")
      assert.include(lines, "vppkit_fleet_syncs_total{mode=\"full\",result=\"synced\"} 1")
      assert.include(lines, "vppkit_fleet_records_total{resource=\"assets\"} 7")
      assert.include(lines, "vppkit_fleet_records_total{resource=\"users\"} 5")
      assert.include(lines, "vppkit_fleet_drifted_total{resource=\"users\"} 1")
      assert.notInclude(text, "vppkit_fleet_drifted_total{resource=\"assets\"}")
      assert.include(lines, "vppkit_fleet_sync_duration_seconds_bucket{le=\"1\"} 0")
      assert.include(lines, "vppkit_fleet_sync_duration_seconds_bucket{le=\"2\"} 1")
      assert.include(lines, "vppkit_fleet_sync_duration_seconds_sum 1.5")
      assert.include(lines, "vppkit_fleet_sync_duration_seconds_count 1")
    }))
})
