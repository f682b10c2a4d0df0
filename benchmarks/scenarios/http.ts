/**
 * HTTP ingest to delivery, through `sluice serve` as users run it (embedded spool, two sinks): undici
 * posts single messages (100 in flight) and batches of 100 (10 in flight); the figures are messages
 * accepted (202, durably queued) per second, and accepted → delivered percentiles from the server's
 * own `sluice_delivery_duration_seconds` histogram, phase by phase. Target: ≥ 10,000 accepted/s batched.
 */
import type { Panel } from "../harness/chart.js"
import { exited, nextMessage, spawnClient } from "../harness/children.js"
import { round1 } from "../harness/sampling.js"
import type { Row, Scenario, ScenarioContext } from "../harness/scenario.js"
import { BenchmarkError, checkAborted, numberOption } from "../harness/scenario.js"
import type { Serve } from "../harness/serve.js"
import { histogram, quantileBetween, sample, startServe } from "../harness/serve.js"
import type { BenchSink } from "../harness/sinks.js"
import { startSink } from "../harness/sinks.js"
import type { HttpClientConfig, HttpReport } from "./http-client.js"
import { sleep } from "./peers.js"
import { chosenSinks } from "./transport.js"

const delivered = async (nodes: ReadonlyArray<Serve>) => {
  let total = 0
  for (const node of nodes) total += sample(await node.metrics(), "sluice_messages_total", { outcome: "delivered" })
  return total
}

/** Runs the undici client against `urls` in a child process. */
export const runHttpClient = async (config: HttpClientConfig, context: ScenarioContext): Promise<HttpReport> => {
  const child = await spawnClient(new URL("./http-client.ts", import.meta.url).href, [JSON.stringify(config)])
  const onAbort = () => child.kill("SIGKILL")
  context.signal.addEventListener("abort", onAbort, { once: true })
  try {
    const report = await nextMessage(child, (message: { type?: string }) => message.type === "result" ? message as HttpReport : undefined)
    await exited(child)
    if (report.firstError !== undefined || report.accepted !== config.messages) {
      throw new BenchmarkError(`http: ${report.accepted} of ${config.messages} accepted; first error: ${report.firstError}`)
    }
    return report
  } finally {
    context.signal.removeEventListener("abort", onAbort)
  }
}

/** Waits until the nodes have delivered `target` in all; fails after `timeoutMs` without progress. */
export const waitDelivered = async (nodes: ReadonlyArray<Serve>, target: number, timeoutMs: number, onProgress: (n: number) => void) => {
  let last = -1
  let lastChange = Date.now()
  for (;;) {
    const now = await delivered(nodes)
    onProgress(now)
    if (now >= target) return now
    if (now !== last) {
      last = now
      lastChange = Date.now()
    } else if (Date.now() - lastChange > timeoutMs) {
      throw new BenchmarkError(`delivery stalled at ${now} of ${target}`)
    }
    await sleep(100)
  }
}

interface Phase {
  readonly id: "single" | "batched"
  readonly label: string
  readonly batch: number
  readonly concurrency: number
  readonly messages: number
}

export const http: Scenario = {
  name: "http",
  description:
    "HTTP ingest → delivered through `sluice serve` (embedded spool, two sinks, 10 connections each), undici as the " +
    "load client: 20,000 single POST /v1/messages (100 in flight), then 50,000 in batches of 100 (10 in flight); " +
    "accepted/s and accepted → delivered p50/p99. Target: ≥ 10,000 accepted/s batched.",
  timeLimitMs: 15 * 60_000,
  run: async (context) => {
    const options = context.options
    const phases: ReadonlyArray<Phase> = [
      { id: "single", label: "single, 100 in flight", batch: 1, concurrency: 100, messages: numberOption(options, "messages", 20_000) },
      { id: "batched", label: "batches of 100, 10 in flight", batch: 100, concurrency: 10, messages: numberOption(options, "batch-messages", 50_000) }
    ]
    const textBytes = numberOption(options, "text-bytes", 800)
    const kind = chosenSinks(options)[0]!
    context.progress.start(2 * phases.reduce((sum, phase) => sum + phase.messages, 0))
    const sinks: Array<BenchSink> = []
    let serve: Serve | undefined
    try {
      sinks.push(await startSink(kind), await startSink(kind))
      serve = await startServe({
        queue: { kind: "embedded", path: "./spool" },
        upstreams: sinks.map((sink, i) => ({
          name: `sink-${i + 1}`,
          host: sink.host,
          port: sink.port,
          maxConnections: 10,
          maxMessagesPerConnection: 1_000_000_000
        })),
        retry: { maxAttempts: 1 }
      })
      const node = serve
      // Warm-up: a few batches, delivered, so the first phase does not pay for the JIT and the connects.
      await runHttpClient({ urls: [node.url], messages: 2000, batch: 100, concurrency: 4, textBytes }, context)
      await waitDelivered([node], 2000, 30_000, () => {})
      let done = 0
      const results = []
      for (const phase of phases) {
        checkAborted(context.signal)
        context.progress.step(`${phase.label}: posting`)
        const before = await node.metrics()
        const deliveredBefore = sample(before, "sluice_messages_total", { outcome: "delivered" })
        const cpu0 = node.cpuMs()
        const t0 = performance.now()
        const report = await runHttpClient({ urls: [node.url], messages: phase.messages, batch: phase.batch, concurrency: phase.concurrency, textBytes }, context)
        const cpuIngestMs = node.cpuMs() - cpu0
        done += phase.messages
        context.progress.set(done)
        context.progress.step(`${phase.label}: delivering`)
        await waitDelivered([node], deliveredBefore + phase.messages, 60_000, (n) => context.progress.set(done + n - deliveredBefore))
        const allDeliveredMs = performance.now() - t0
        const cpuAllMs = node.cpuMs() - cpu0
        done += phase.messages
        const after = await node.metrics()
        const failed = ["deferred", "bounced", "failed"].reduce((sum, outcome) =>
          sum + sample(after, "sluice_messages_total", { outcome }) - sample(before, "sluice_messages_total", { outcome }), 0)
        if (failed > 0) throw new BenchmarkError(`http ${phase.id}: ${failed} messages were not delivered at the first attempt`)
        const h0 = histogram(before, "sluice_delivery_duration_seconds")
        const h1 = histogram(after, "sluice_delivery_duration_seconds")
        const result = {
          ...phase,
          acceptedPerSecond: Math.round((phase.messages * 1000) / report.elapsedMs),
          requestLatencyMs: report.latencyMs,
          deliveredPerSecond: Math.round((phase.messages * 1000) / allDeliveredMs),
          acceptedToDeliveredMs: {
            p50: quantileBetween(h0, h1, 0.5),
            p99: quantileBetween(h0, h1, 0.99)
          },
          serveCpuMicrosPerMessageIngest: round1((cpuIngestMs * 1000) / phase.messages),
          serveCpuMicrosPerMessageAll: round1((cpuAllMs * 1000) / phase.messages),
          clientCpuMicrosPerMessage: round1((report.cpuMs * 1000) / phase.messages)
        }
        context.progress.log(`http: ${phase.label}: ${result.acceptedPerSecond} accepted/s, ${result.deliveredPerSecond} delivered/s`)
        results.push(result)
      }
      const batched = results.find((r) => r.id === "batched")!
      const met = batched.acceptedPerSecond >= 10_000
      const rows: Array<Row> = results.map((r) => ({
        Phase: r.label,
        Messages: r.messages,
        "accepted/s": r.acceptedPerSecond,
        "request p50 / p99 ms": r.requestLatencyMs === null ? null : `${r.requestLatencyMs.p50} / ${r.requestLatencyMs.p99}`,
        "delivered/s (post → last delivery)": r.deliveredPerSecond,
        "accepted → delivered p50 / p99 ms": `${r.acceptedToDeliveredMs.p50 ?? "–"} / ${r.acceptedToDeliveredMs.p99 ?? "–"}`,
        "serve CPU µs/msg (ingest / all)": `${r.serveCpuMicrosPerMessageIngest} / ${r.serveCpuMicrosPerMessageAll}`
      }))
      const summary = [
        ...results.map((r) => `${r.label}: ${r.acceptedPerSecond} accepted/s, accepted → delivered p50 ${r.acceptedToDeliveredMs.p50} ms, p99 ${r.acceptedToDeliveredMs.p99} ms`),
        `target ≥ 10,000 accepted/s batched: ${met ? "met" : "NOT met"} (${batched.acceptedPerSecond}/s)`
      ]
      const chart: Array<Panel> = [
        {
          kind: "bars",
          title: "Accepted and delivered per second",
          unit: "messages/s",
          items: results.flatMap((r) => [
            { label: `${r.label}: accepted`, value: r.acceptedPerSecond },
            { label: `${r.label}: delivered`, value: r.deliveredPerSecond }
          ])
        },
        {
          kind: "percentiles",
          title: "HTTP request latency (client side)",
          unit: "ms",
          items: results.flatMap((r) => r.requestLatencyMs === null ? [] : [{ label: r.label, ...r.requestLatencyMs }])
        },
        {
          kind: "bars",
          title: "Accepted → delivered (server histogram, interpolated)",
          unit: "ms",
          items: results.flatMap((r) => [
            { label: `${r.label}: p50`, value: r.acceptedToDeliveredMs.p50 },
            { label: `${r.label}: p99`, value: r.acceptedToDeliveredMs.p99 }
          ])
        }
      ]
      return {
        parameters: {
          serve: "sluice serve --config (embedded spool in a temporary directory), JSON logs discarded",
          sinks: `2 × ${kind}, 10 connections each`,
          message: `from, to (1 recipient), subject and ${textBytes} bytes of text, composed by the server`,
          client: "undici Pool, one connection per request in flight, in its own process",
          acceptedPerSecond: "messages answered 202 per second of posting",
          deliveredPerSecond: "messages per second from the first post to the last delivery of the phase",
          acceptedToDelivered: "quantiles of sluice_delivery_duration_seconds over the phase (difference of two scrapes), interpolated in its buckets",
          warmup: "2,000 messages posted and delivered first"
        },
        figures: { phases: results, met },
        table: { columns: Object.keys(rows[0]!), rows },
        summary,
        chart
      }
    } finally {
      await serve?.close()
      await Promise.all(sinks.map((sink) => sink.close()))
    }
  }
}
