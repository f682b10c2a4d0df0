import type { Metric } from "effect"
import { Effect } from "effect"

/**
 * Counters for the hot path: a plain number incremented where something happens (a reply parsed, a
 * connection reused), moved into its Effect metric only when someone reads the metrics. An Effect
 * `Metric.increment` per event costs an Effect run, a registry lookup and a hash per update; at tens of
 * thousands of events a second that was a visible share of the transport's CPU time.
 *
 * Whoever serves the metrics (the HTTP /metrics handler, a test) runs `flush` first; between flushes
 * the Effect metrics lag by the pending deltas, and nothing is lost.
 */
export interface Counter {
  /** Adds `n` (1 by default); never fails, never allocates. */
  readonly inc: (n?: number) => void
}

class Pending implements Counter {
  pending = 0
  constructor(readonly metric: Metric.Metric.Counter<number>) {}
  readonly inc = (n = 1): void => {
    this.pending += n
  }
}

// Every counter ever made, for flush. Make counters once per metric and series (module level, or
// cached per upstream as SmtpMetrics does): the registry is never pruned.
const registry: Array<Pending> = []

/** A plain counter for `metric` (tag it first: the series is fixed when the counter is made). */
export const counter = (metric: Metric.Metric.Counter<number>): Counter => {
  const made = new Pending(metric)
  registry.push(made)
  return made
}

/** Moves every pending delta into its Effect metric. Run it before reading or exporting metrics. */
export const flush: Effect.Effect<void> = Effect.sync(() => {
  for (const made of registry) {
    if (made.pending === 0) continue
    const delta = made.pending
    made.pending = 0
    made.metric.unsafeUpdate(delta, [])
  }
})
