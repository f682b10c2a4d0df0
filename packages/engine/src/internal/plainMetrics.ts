import type { Metric } from "effect"
import { Effect, Metric as Metrics } from "effect"
import { Counters } from "@sluice/smtp"

/** A gauge read when the metrics are read. */
interface SampledGauge {
  readonly metric: Metric.Metric.Gauge<number>
  readonly read: () => number
}

const gauges = new Set<SampledGauge>()

/**
 * Samples `read` into `metric` at every flush, until the scope closes: for values that change per
 * message (an upstream's in-flight count), where a gauge update per change would cost more than the
 * change.
 */
export const sampled = (metric: Metric.Metric.Gauge<number>, read: () => number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const gauge = { metric, read }
      gauges.add(gauge)
      return gauge
    }),
    (gauge) => Effect.sync(() => gauges.delete(gauge))
  )

/** Moves every pending count (the transport's and the engine's) into its metric and samples the gauges. */
export const flush: Effect.Effect<void> = Effect.zipRight(
  Counters.flush,
  Effect.suspend(() => Effect.forEach(gauges, (gauge) => Metrics.set(gauge.metric, gauge.read()), { discard: true }))
)
