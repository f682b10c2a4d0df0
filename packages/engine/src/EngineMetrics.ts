import { Metric, MetricBoundaries } from "effect"

/** Messages by outcome: accepted, delivered, deferred, bounced, failed. */
export const messages = Metric.counter("sluice_messages_total", {
  description: "Messages by outcome (accepted, delivered, deferred, bounced, failed)",
  incremental: true
})

export type Outcome = "accepted" | "delivered" | "deferred" | "bounced" | "failed" | "complained"

const byOutcome = (outcome: Outcome) => messages.pipe(Metric.tagged("outcome", outcome))
export const outcome: Record<Outcome, Metric.Metric.Counter<number>> = {
  accepted: byOutcome("accepted"),
  delivered: byOutcome("delivered"),
  deferred: byOutcome("deferred"),
  bounced: byOutcome("bounced"),
  failed: byOutcome("failed"),
  complained: byOutcome("complained")
}

/** Submit to final reply, in seconds. */
export const deliveryDuration = Metric.histogram(
  "sluice_delivery_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 20 }),
  "Seconds from submit to the final reply"
)

export const queueDepth = Metric.gauge("sluice_queue_depth", { description: "Messages accepted and not yet final" })

export const inFlight = Metric.gauge("sluice_upstream_in_flight", {
  description: "Messages handed to an upstream actor and not yet answered"
})

export const circuitState = Metric.gauge("sluice_upstream_circuit_state", {
  description: "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open"
})
