import { Metric } from "effect"

/** Sessions by what happened to them: opened, reused, failed (could not open) or closed. */
export const connections = Metric.counter("sluice_smtp_connections_total", {
  description: "SMTP connections by upstream and event (opened, reused, failed, closed)",
  incremental: true
})

/** Every reply received, by class (2xx, 3xx, 4xx, 5xx). */
export const replies = Metric.counter("sluice_smtp_replies_total", {
  description: "SMTP replies received, by upstream and class",
  incremental: true
})

export type ConnectionEvent = "opened" | "reused" | "failed" | "closed"

type Counter = Metric.Metric.Counter<number>

export interface UpstreamMetrics {
  readonly connection: Record<ConnectionEvent, Counter>
  readonly reply: Record<string, Counter>
}

/** The counters of one upstream, tagged once so the hot path does no key building. */
export const forUpstream = (upstream: string): UpstreamMetrics => {
  const byEvent = (event: ConnectionEvent) =>
    connections.pipe(Metric.tagged("upstream", upstream), Metric.tagged("event", event))
  const byClass = (cls: string) => replies.pipe(Metric.tagged("upstream", upstream), Metric.tagged("class", cls))
  return {
    connection: { opened: byEvent("opened"), reused: byEvent("reused"), failed: byEvent("failed"), closed: byEvent("closed") },
    reply: { "2xx": byClass("2xx"), "3xx": byClass("3xx"), "4xx": byClass("4xx"), "5xx": byClass("5xx") }
  }
}
