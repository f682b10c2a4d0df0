import { Metric } from "effect"

/** 1 while Redis does not answer and this node runs on local state, else 0. */
export const degraded = Metric.gauge("sluice_redis_degraded", {
  description: "1 while Redis is unreachable and this node falls back to local state"
})

/** Operations that Redis failed and local state answered instead, by operation. */
export const fallbacks = Metric.counter("sluice_redis_fallbacks_total", {
  description: "Operations answered from local state because Redis failed",
  incremental: true
})
