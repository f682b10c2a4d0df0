/**
 * HTTP ingest to delivery, through `sluice serve` as users run it (embedded spool, two sinks): undici
 * posts single messages (100 in flight) and batches of 100 (10 in flight); the figures are messages
 * accepted (202, durably queued) per second, and accepted → delivered percentiles from the server's
 * own `sluice_delivery_duration_seconds` histogram, phase by phase. Then the HTTP side alone, on a
 * second `sluice serve` whose upstream may start one delivery an hour (its rate limit), so that the
 * serve CPU per request is the HTTP adapter's and the spool's, not the deliveries': the same single
 * posts and batches, and GET /healthz. Targets (issue 13): single ≥ 8,000 accepted/s at ≤ 150 µs of
 * serve CPU per request, batches ≥ 40,000 accepted/s, /healthz ≤ 50 µs.
 */
import type { Panel } from "../harness/chart.js"
import { exited, nextMessage, spawnClient } from "../harness/children.js"
import { round1 } from "../harness/sampling.js"
import type { Row, Scenario, ScenarioContext } from "../harness/scenario.js"
import { BenchmarkError, checkAborted, numberOption, UsageError } from "../harness/scenario.js"
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

/**
 * Waits until the nodes have delivered `target` in all, looking every `pollMs`; fails after `timeoutMs`
 * without progress.
 */
export const waitDelivered = async (
  nodes: ReadonlyArray<Serve>,
  target: number,
  timeoutMs: number,
  onProgress: (n: number) => void,
  pollMs = 100
) => {
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
    await sleep(pollMs)
  }
}

interface Phase {
  readonly id: "single" | "batched" | "single-ingest" | "batched-ingest" | "healthz"
  readonly label: string
  readonly batch: number
  readonly concurrency: number
  readonly messages: number
  /** Delivery runs meanwhile (and is waited for); otherwise the node only accepts. */
  readonly delivering: boolean
  readonly kind: "submit" | "healthz"
}

interface PhaseResult extends Phase {
  readonly acceptedPerSecond: number
  readonly requestsPerSecond: number
  readonly requestLatencyMs: HttpReport["latencyMs"]
  readonly deliveredPerSecond: number | null
  readonly acceptedToDeliveredMs: { readonly p50: number | null; readonly p99: number | null } | null
  /** Serve CPU over the posting, per request (a batch is one request). */
  readonly serveCpuMicrosPerRequest: number
  readonly serveCpuMicrosPerMessageIngest: number
  readonly serveCpuMicrosPerMessageAll: number | null
  readonly clientCpuMicrosPerMessage: number
}

/** `--phases a,b`: only those phases (by id), e.g. to profile one; all by default. */
const chosenPhases = (options: ScenarioContext["options"], all: ReadonlyArray<Phase>): ReadonlyArray<Phase> => {
  const value = options.phases
  if (value === undefined) return all
  const ids = String(value).split(",")
  const unknown = ids.filter((id) => !all.some((phase) => phase.id === id))
  if (unknown.length > 0) {
    throw new UsageError(`--phases takes ids from ${all.map((phase) => phase.id).join(", ")}, got ${String(value)}`)
  }
  return all.filter((phase) => ids.includes(phase.id))
}

const startNode = (sinks: ReadonlyArray<BenchSink>, acceptOnly: boolean) =>
  startServe({
    queue: { kind: "embedded", path: "./spool" },
    upstreams: sinks.map((sink, i) => ({
      name: `sink-${i + 1}`,
      host: sink.host,
      port: sink.port,
      maxConnections: 10,
      maxMessagesPerConnection: 1_000_000_000,
      // One delivery an hour: what is accepted stays queued, and the node's CPU is the ingest's.
      ...(acceptOnly ? { rateLimit: { messages: 1, per: "1 hour" } } : {})
    })),
    retry: { maxAttempts: 1 }
  })

export const http: Scenario = {
  name: "http",
  description:
    "HTTP ingest → delivered through `sluice serve` (embedded spool, two sinks, 10 connections each), undici as the " +
    "load client: 20,000 single POST /v1/messages (100 in flight), then 50,000 in batches of 100 (10 in flight); " +
    "accepted/s and accepted → delivered p50/p99. Then the same posts on a node that only accepts (its upstreams " +
    "rate-limited to one delivery an hour), and 50,000 GET /healthz: accepted/s and serve CPU µs per request. " +
    "Targets: single ≥ 8,000 accepted/s at ≤ 150 µs/request, batches ≥ 40,000 accepted/s, /healthz ≤ 50 µs.",
  timeLimitMs: 15 * 60_000,
  run: async (context) => {
    const options = context.options
    const singles = numberOption(options, "messages", 20_000)
    const batched = numberOption(options, "batch-messages", 50_000)
    const all: ReadonlyArray<Phase> = [
      { id: "single", label: "single, 100 in flight", batch: 1, concurrency: 100, messages: singles, delivering: true, kind: "submit" },
      { id: "batched", label: "batches of 100, 10 in flight", batch: 100, concurrency: 10, messages: batched, delivering: true, kind: "submit" },
      { id: "single-ingest", label: "single, 100 in flight, accepted only", batch: 1, concurrency: 100, messages: singles, delivering: false, kind: "submit" },
      { id: "batched-ingest", label: "batches of 100, 10 in flight, accepted only", batch: 100, concurrency: 10, messages: batched, delivering: false, kind: "submit" },
      { id: "healthz", label: "GET /healthz, 100 in flight", batch: 1, concurrency: 100, messages: numberOption(options, "healthz", 50_000), delivering: false, kind: "healthz" }
    ]
    const phases = chosenPhases(options, all)
    const textBytes = numberOption(options, "text-bytes", 800)
    const kind = chosenSinks(options)[0]!
    context.progress.start(phases.reduce((sum, phase) => sum + (phase.delivering ? 2 : 1) * phase.messages, 0))
    const sinks: Array<BenchSink> = []
    const nodes: Array<Serve> = []
    try {
      sinks.push(await startSink(kind), await startSink(kind))
      const delivering = await startNode(sinks, false)
      nodes.push(delivering)
      const accepting = await startNode(sinks, true)
      nodes.push(accepting)
      // Warm-up: a few batches (delivered, where the node delivers), so that the phases do not pay for the JIT and the connects.
      for (const node of nodes) {
        await runHttpClient({ urls: [node.url], messages: 2000, batch: 100, concurrency: 4, textBytes }, context)
        await runHttpClient({ urls: [node.url], messages: 2000, batch: 1, concurrency: 100, textBytes }, context)
      }
      await waitDelivered([delivering], 4000, 30_000, () => {})
      let done = 0
      const results: Array<PhaseResult> = []
      for (const phase of phases) {
        checkAborted(context.signal)
        const node = phase.delivering ? delivering : accepting
        context.progress.step(`${phase.label}: ${phase.kind === "healthz" ? "requesting" : "posting"}`)
        const before = await node.metrics()
        const deliveredBefore = sample(before, "sluice_messages_total", { outcome: "delivered" })
        const cpu0 = node.cpuMs()
        const t0 = performance.now()
        const report = await runHttpClient({
          urls: [node.url],
          messages: phase.messages,
          batch: phase.batch,
          concurrency: phase.concurrency,
          textBytes,
          kind: phase.kind
        }, context)
        const cpuIngestMs = node.cpuMs() - cpu0
        done += phase.messages
        context.progress.set(done)
        const requests = Math.ceil(phase.messages / phase.batch)
        const ingest = {
          ...phase,
          acceptedPerSecond: Math.round((phase.messages * 1000) / report.elapsedMs),
          requestsPerSecond: Math.round((requests * 1000) / report.elapsedMs),
          requestLatencyMs: report.latencyMs,
          serveCpuMicrosPerRequest: round1((cpuIngestMs * 1000) / requests),
          serveCpuMicrosPerMessageIngest: round1((cpuIngestMs * 1000) / phase.messages),
          clientCpuMicrosPerMessage: round1((report.cpuMs * 1000) / phase.messages)
        }
        if (!phase.delivering) {
          const result: PhaseResult = { ...ingest, deliveredPerSecond: null, acceptedToDeliveredMs: null, serveCpuMicrosPerMessageAll: null }
          context.progress.log(`http: ${phase.label}: ${result.requestsPerSecond} requests/s, ${result.serveCpuMicrosPerRequest} µs serve CPU per request`)
          results.push(result)
          continue
        }
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
        const result: PhaseResult = {
          ...ingest,
          deliveredPerSecond: Math.round((phase.messages * 1000) / allDeliveredMs),
          acceptedToDeliveredMs: {
            p50: quantileBetween(h0, h1, 0.5),
            p99: quantileBetween(h0, h1, 0.99)
          },
          serveCpuMicrosPerMessageAll: round1((cpuAllMs * 1000) / phase.messages)
        }
        context.progress.log(`http: ${phase.label}: ${result.acceptedPerSecond} accepted/s, ${result.deliveredPerSecond} delivered/s`)
        results.push(result)
      }
      const byId = (id: Phase["id"]) => results.find((r) => r.id === id)
      const target = (id: Phase["id"], what: string, met: (r: PhaseResult) => boolean, figure: (r: PhaseResult) => string) => {
        const r = byId(id)
        return r === undefined ? [] : [{ what, met: met(r), figure: figure(r) }]
      }
      // A phase left out (--phases) has no target.
      const targets = [
        ...target(
          "single-ingest",
          "single ≥ 8,000 accepted/s at ≤ 150 µs serve CPU per request (accepted only)",
          (r) => r.acceptedPerSecond >= 8_000 && r.serveCpuMicrosPerRequest <= 150,
          (r) => `${r.acceptedPerSecond}/s at ${r.serveCpuMicrosPerRequest} µs`
        ),
        ...target("batched-ingest", "batches ≥ 40,000 accepted/s (accepted only)", (r) => r.acceptedPerSecond >= 40_000, (r) => `${r.acceptedPerSecond}/s`),
        ...target("healthz", "GET /healthz ≤ 50 µs serve CPU", (r) => r.serveCpuMicrosPerRequest <= 50, (r) => `${r.serveCpuMicrosPerRequest} µs`)
      ]
      const met = targets.every((t) => t.met)
      const rows: Array<Row> = results.map((r) => ({
        Phase: r.label,
        Requests: Math.ceil(r.messages / r.batch),
        "accepted/s": r.kind === "healthz" ? null : r.acceptedPerSecond,
        "requests/s": r.requestsPerSecond,
        "request p50 / p99 ms": r.requestLatencyMs === null ? null : `${r.requestLatencyMs.p50} / ${r.requestLatencyMs.p99}`,
        "serve CPU µs/request": r.serveCpuMicrosPerRequest,
        "delivered/s (post → last delivery)": r.deliveredPerSecond,
        "accepted → delivered p50 / p99 ms": r.acceptedToDeliveredMs === null
          ? null
          : `${r.acceptedToDeliveredMs.p50 ?? "–"} / ${r.acceptedToDeliveredMs.p99 ?? "–"}`,
        "serve CPU µs/msg (ingest / all)": r.kind === "healthz"
          ? null
          : `${r.serveCpuMicrosPerMessageIngest} / ${r.serveCpuMicrosPerMessageAll ?? "–"}`
      }))
      const summary = [
        ...results.map((r) =>
          r.kind === "healthz"
            ? `${r.label}: ${r.requestsPerSecond} requests/s, ${r.serveCpuMicrosPerRequest} µs serve CPU per request`
            : r.acceptedToDeliveredMs === null
            ? `${r.label}: ${r.acceptedPerSecond} accepted/s, ${r.serveCpuMicrosPerRequest} µs serve CPU per request`
            : `${r.label}: ${r.acceptedPerSecond} accepted/s, ${r.serveCpuMicrosPerRequest} µs serve CPU per request, accepted → delivered p50 ${r.acceptedToDeliveredMs.p50} ms, p99 ${r.acceptedToDeliveredMs.p99} ms`
        ),
        ...targets.map((t) => `target ${t.what}: ${t.met ? "met" : "NOT met"} (${t.figure})`)
      ]
      const chart: Array<Panel> = [
        {
          kind: "bars",
          title: "Accepted and delivered per second",
          unit: "messages/s",
          items: results.flatMap((r) => [
            ...(r.kind === "healthz" ? [] : [{ label: `${r.label}: accepted`, value: r.acceptedPerSecond }]),
            ...(r.deliveredPerSecond === null ? [] : [{ label: `${r.label}: delivered`, value: r.deliveredPerSecond }])
          ])
        },
        {
          kind: "bars",
          title: "Serve CPU per request (during the posting)",
          unit: "µs",
          items: results.map((r) => ({ label: r.label, value: r.serveCpuMicrosPerRequest }))
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
          items: results.flatMap((r) =>
            r.acceptedToDeliveredMs === null ? [] : [
              { label: `${r.label}: p50`, value: r.acceptedToDeliveredMs.p50 },
              { label: `${r.label}: p99`, value: r.acceptedToDeliveredMs.p99 }
            ]
          )
        }
      ]
      return {
        parameters: {
          serve: "sluice serve --config (embedded spool in a temporary directory), JSON logs discarded; two nodes, one after the other",
          sinks: `2 × ${kind}, 10 connections each`,
          message: `from, to (1 recipient), subject and ${textBytes} bytes of text, composed by the server`,
          client: "undici Pool, one connection per request in flight, in its own process",
          acceptedPerSecond: "messages answered 202 per second of posting",
          acceptedOnly: "a second node whose upstreams take one delivery an hour (rateLimit), so that nothing is delivered while it accepts",
          serveCpuPerRequest: "the node's user + system CPU over the posting (from /proc), per HTTP request; with delivery, that includes the deliveries made meanwhile",
          deliveredPerSecond: "messages per second from the first post to the last delivery of the phase",
          acceptedToDelivered: "quantiles of sluice_delivery_duration_seconds over the phase (difference of two scrapes), interpolated in its buckets",
          warmup: "on each node, 2,000 messages in batches and 2,000 single posts first (delivered, on the delivering node)"
        },
        figures: { phases: results, targets, met },
        table: { columns: Object.keys(rows[0]!), rows },
        summary,
        chart
      }
    } finally {
      // The accepting node keeps what it accepted; it is not drained (its upstreams would take an hour a message).
      await Promise.all(nodes.map((node, i) => node.close(i === 1 ? 1000 : undefined)))
      await Promise.all(sinks.map((sink) => sink.close()))
    }
  }
}
