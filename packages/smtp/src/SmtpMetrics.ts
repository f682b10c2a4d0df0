import { Metric, MetricKey, MetricLabel } from "effect"
import type { Counter } from "./Counters.js"
import * as Counters from "./Counters.js"

const connectionsKey = MetricKey.counter("sluice_smtp_connections_total", {
  description: "SMTP connections by upstream and event (opened, reused, failed, closed)",
  incremental: true
})
const repliesKey = MetricKey.counter("sluice_smtp_replies_total", {
  description: "SMTP replies received, by upstream and class",
  incremental: true
})

/** Sessions by what happened to them: opened, reused, failed (could not open) or closed. */
export const connections = Metric.fromMetricKey(connectionsKey)

/** Every reply received, by class (2xx, 3xx, 4xx, 5xx, or other for a line that is no reply). */
export const replies = Metric.fromMetricKey(repliesKey)

export type ConnectionEvent = "opened" | "reused" | "failed" | "closed"

export type ReplyClass = "2xx" | "3xx" | "4xx" | "5xx" | "other"

/**
 * The counters of one upstream, as plain counters (see Counters): the transport counts on its hot
 * path without running an Effect, and the Effect metrics catch up at `Counters.flush`.
 */
export interface UpstreamMetrics {
  readonly connection: Readonly<Record<ConnectionEvent, Counter>>
  readonly reply: Readonly<Record<ReplyClass, Counter>>
  /** Counts one reply by its code: 200–599 by class, anything else (0 for garbage) as "other". */
  readonly countReply: (code: number) => void
}

const cache = new Map<string, UpstreamMetrics>()

/**
 * The counters of one upstream, made once per upstream name and shared by every pool and session to
 * it: the same series, counted once. Tagged keys are built once here, so counting does no key
 * building or registry lookup.
 */
export const forUpstream = (upstream: string): UpstreamMetrics => {
  const cached = cache.get(upstream)
  if (cached !== undefined) return cached
  const tagged = (key: typeof connectionsKey, name: string, value: string) =>
    Counters.counter(Metric.fromMetricKey(
      MetricKey.taggedWithLabels(key, [MetricLabel.make("upstream", upstream), MetricLabel.make(name, value)])
    ))
  const byEvent = (event: ConnectionEvent) => tagged(connectionsKey, "event", event)
  const byClass = (cls: ReplyClass) => tagged(repliesKey, "class", cls)
  const reply = { "2xx": byClass("2xx"), "3xx": byClass("3xx"), "4xx": byClass("4xx"), "5xx": byClass("5xx"), other: byClass("other") }
  // Indexed by the code's first digit.
  const byDigit = [reply.other, reply.other, reply["2xx"], reply["3xx"], reply["4xx"], reply["5xx"]]
  const made: UpstreamMetrics = {
    connection: { opened: byEvent("opened"), reused: byEvent("reused"), failed: byEvent("failed"), closed: byEvent("closed") },
    reply,
    countReply: (code) => (code >= 200 && code < 600 ? byDigit[(code / 100) | 0]! : reply.other).inc()
  }
  cache.set(upstream, made)
  return made
}
