import * as Metrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import type { MetricReader } from "@opentelemetry/sdk-metrics"
import type { Scope } from "effect"
import { Effect, Metric } from "effect"
import { EngineMetrics } from "@sluice/engine"
import * as HttpMetrics from "../HttpMetrics.js"

const userCpu = HttpMetrics.cpuSeconds.pipe(Metric.tagged("mode", "user"))
const systemCpu = HttpMetrics.cpuSeconds.pipe(Metric.tagged("mode", "system"))

// The counters are process-wide, so what has been reported is too: two servers in one process
// (tests) must not count the same CPU time twice.
const reported = { user: 0, system: 0 }

/** Brings the process gauges and counters up to now; called on each scrape. */
const sampleProcess = Effect.suspend(() => {
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  const user = cpu.user / 1e6 - reported.user
  const system = cpu.system / 1e6 - reported.system
  reported.user += user
  reported.system += system
  return Effect.all([
    EngineMetrics.flush,
    Metric.incrementBy(userCpu, user),
    Metric.incrementBy(systemCpu, system),
    Metric.set(HttpMetrics.residentMemory, memory.rss),
    Metric.set(HttpMetrics.heapUsed, memory.heapUsed),
    Metric.set(HttpMetrics.heapTotal, memory.heapTotal),
    Metric.set(HttpMetrics.startTime, Math.round(Date.now() / 1000 - process.uptime()))
  ], { discard: true })
})

/**
 * Every Effect `Metric` of the process (engine, SMTP, HTTP) in the Prometheus text format, through
 * OpenTelemetry's Prometheus exporter as the reader of @effect/opentelemetry's metric producer.
 * Labels are the metrics' own tags only: no scope or target labels to break exact-name queries.
 */
export const make: Effect.Effect<Effect.Effect<string>, never, Scope.Scope> = Effect.gen(function*() {
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true })
  const producer = yield* Metrics.makeProducer.pipe(Effect.provide(Resource.layer({ serviceName: "sluice" })))
  // The exporter pins its own patch release of sdk-metrics: the same class, a different declaration.
  yield* Metrics.registerProducer(producer, () => exporter as unknown as MetricReader)
  const serializer = new PrometheusSerializer(undefined, false, undefined, true, true)
  return sampleProcess.pipe(
    Effect.zipRight(Effect.promise(() => exporter.collect())),
    Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics))
  )
})
