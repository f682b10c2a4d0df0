import type { MetricKeyType } from "effect"
import { Metric, MetricBoundaries, MetricKey, MetricLabel } from "effect"
import type { Category } from "./Bounce.js"

/**
 * A metric on a key tagged once. `Metric.tagged` merges its tags and looks the key up in the
 * registry (hashing it) on every update; this finds it once. Same key, same series.
 */
const taggedOnce = <Type extends MetricKeyType.MetricKeyType<any, any>>(key: MetricKey.MetricKey<Type>, tags: Record<string, string>) =>
  Metric.fromMetricKey(MetricKey.taggedWithLabels(key, Object.entries(tags).map(([k, v]) => MetricLabel.make(k, v))))

const messagesKey = MetricKey.counter("sluice_messages_total", {
  description: "Messages by outcome (accepted, delivered, deferred, bounced, failed, partial, complained)",
  incremental: true
})

/** Messages by outcome: accepted, delivered, deferred, bounced, failed, partial, complained. */
export type Outcome = "accepted" | "delivered" | "deferred" | "bounced" | "failed" | "partial" | "complained"

const byOutcome = (outcome: Outcome) => taggedOnce(messagesKey, { outcome })
export const outcome: Record<Outcome, Metric.Metric.Counter<number>> = {
  accepted: byOutcome("accepted"),
  delivered: byOutcome("delivered"),
  deferred: byOutcome("deferred"),
  bounced: byOutcome("bounced"),
  failed: byOutcome("failed"),
  partial: byOutcome("partial"),
  complained: byOutcome("complained")
}

const recipientsKey = MetricKey.counter("sluice_recipients_total", {
  description: "Recipients by outcome (delivered, deferred, bounced, failed) and stream; a later bounce report counts as bounced",
  incremental: true
})

/** Recipients by outcome and stream: one count per recipient per final outcome or deferral. */
export const recipients = (outcome: "delivered" | "deferred" | "bounced" | "failed", stream: string) =>
  taggedOnce(recipientsKey, { outcome, stream })

const bouncesKey = MetricKey.counter("sluice_bounces_total", {
  description: "Bounced and deferred recipients by category and upstream (kind: bounce or deferral; upstream \"feedback\" for later reports)",
  incremental: true
})

/** Bounced and deferred recipients by category, upstream and kind. */
export const bounces = (category: Category, upstream: string, kind: "bounce" | "deferral") =>
  taggedOnce(bouncesKey, { category, upstream, kind })

/** Submit to final reply, in seconds. */
export const deliveryDuration = Metric.histogram(
  "sluice_delivery_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 20 }),
  "Seconds from submit to the final reply"
)

/** Messages a suspended recipient domain sent back to wait, without an attempt. */
export const held = Metric.counter("sluice_messages_held_total", {
  description: "Messages put back to wait by a suspended recipient domain (no attempt made)",
  incremental: true
})

export const queueOldestAge = Metric.gauge("sluice_queue_oldest_age_seconds", {
  description: "How long the oldest message in the queue has waited since it was accepted (0 when none)"
})

export const queueDepth = Metric.gauge("sluice_queue_depth", { description: "Messages accepted and not yet final" })

const inFlightKey = MetricKey.gauge("sluice_upstream_in_flight", {
  description: "Messages handed to an upstream actor and not yet answered"
})
const circuitStateKey = MetricKey.gauge("sluice_upstream_circuit_state", {
  description: "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open"
})

/** The gauges of one upstream, tagged once (they are set for every message). */
export const forUpstream = (upstream: string) => ({
  inFlight: taggedOnce(inFlightKey, { upstream }),
  circuitState: taggedOnce(circuitStateKey, { upstream })
})

/**
 * Brings the metrics counted on the hot path (plain numbers) into the Effect metrics, and samples the
 * gauges read at scrape: call before reading the metrics.
 */
export { flush } from "./internal/plainMetrics.js"
