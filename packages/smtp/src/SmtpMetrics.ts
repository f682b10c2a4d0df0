import { Metric, MetricKey, MetricLabel } from "effect"

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

/** Every reply received, by class (2xx, 3xx, 4xx, 5xx). */
export const replies = Metric.fromMetricKey(repliesKey)

export type ConnectionEvent = "opened" | "reused" | "failed" | "closed"

type Counter = Metric.Metric.Counter<number>

export interface UpstreamMetrics {
  readonly connection: Record<ConnectionEvent, Counter>
  readonly reply: Record<string, Counter>
}

/**
 * The counters of one upstream, tagged once so the hot path does no key building: a metric built
 * with `Metric.tagged` merges its tags and looks its key up in the registry on every update (hashing
 * it), while one built on an already tagged key finds it once and keeps it. Same keys, same series.
 */
export const forUpstream = (upstream: string): UpstreamMetrics => {
  const tagged = (key: typeof connectionsKey, name: string, value: string) =>
    Metric.fromMetricKey(MetricKey.taggedWithLabels(key, [MetricLabel.make("upstream", upstream), MetricLabel.make(name, value)]))
  const byEvent = (event: ConnectionEvent) => tagged(connectionsKey, "event", event)
  const byClass = (cls: string) => tagged(repliesKey, "class", cls)
  return {
    connection: { opened: byEvent("opened"), reused: byEvent("reused"), failed: byEvent("failed"), closed: byEvent("closed") },
    reply: { "2xx": byClass("2xx"), "3xx": byClass("3xx"), "4xx": byClass("4xx"), "5xx": byClass("5xx") }
  }
}
