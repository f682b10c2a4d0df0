/**
 * The command users run, end to end: `sluice serve` (built, plain node) taking messages over HTTP in
 * batches of 100, storing them in its fsync'd spool and delivering them to two sinks, against
 * Nodemailer's pool (with and without TCP_NODELAY), smtp-source and raw sockets delivering the same
 * number of messages to the same sinks, in the same run. Then, on a fresh node at a tenth of the rate
 * Sluice reached, single posts at a steady pace: accepted → delivered p50/p99 from the server's own
 * histogram.
 */
import { machineClockMs, round1 } from "../harness/sampling.js"
import type { Scenario, ScenarioContext } from "../harness/scenario.js"
import { BenchmarkError, numberOption } from "../harness/scenario.js"
import type { Serve } from "../harness/serve.js"
import { histogram, quantileBetween, sample, startServe } from "../harness/serve.js"
import type { BenchSink } from "../harness/sinks.js"
import type { Contestant } from "./comparison.js"
import { runComparison } from "./comparison.js"
import { runHttpClient, waitDelivered } from "./http.js"
import type { Measurement } from "./peers.js"
import { countAll, messageFile } from "./peers.js"
import { chosenPeers, chosenSinks, engineWarmup, peerContestants, peerParameters } from "./transport.js"

const node = (sinks: ReadonlyArray<BenchSink>, connections: number) =>
  startServe({
    queue: { kind: "embedded", path: "./spool" },
    upstreams: sinks.map((sink, i) => ({
      name: `sink-${i + 1}`,
      host: sink.host,
      port: sink.port,
      maxConnections: Math.max(1, Math.floor(connections / sinks.length)),
      maxMessagesPerConnection: 1_000_000_000
    })),
    // No retry within a run: a deferral is a failure here.
    retry: { maxAttempts: 1 }
  })

const delivered = async (serve: Serve) => sample(await serve.metrics(), "sluice_messages_total", { outcome: "delivered" })

const notDelivered = async (serve: Serve) => {
  const text = await serve.metrics()
  return ["deferred", "bounced", "failed"].reduce((n, outcome) => n + sample(text, "sluice_messages_total", { outcome }), 0)
}

/** One measured run: a fresh node, a warm-up, then `messages` posted in batches and waited for at the sinks. */
const runServe = async (
  sinks: ReadonlyArray<BenchSink>,
  p: { readonly messages: number; readonly warmup: number; readonly connections: number; readonly textBytes: number },
  context: ScenarioContext,
  onProgress: (counted: number) => void
): Promise<Measurement> => {
  const serve = await node(sinks, p.connections)
  try {
    const post = (messages: number) =>
      runHttpClient({ urls: [serve.url], messages, batch: 100, concurrency: 10, textBytes: p.textBytes }, context)
    const sinkBase = await countAll(sinks)
    if (p.warmup > 0) {
      await post(p.warmup)
      await waitDelivered([serve], p.warmup, 60_000, onProgress)
    }
    const base = await delivered(serve)
    const cpu0 = serve.cpuMs()
    // Timed like the peers, which time themselves from their first message: from the client's first
    // request (not its process start) to the last delivery, looked for every 10 ms (a scrape each).
    const { startedAt } = await post(p.messages)
    await waitDelivered([serve], base + p.messages, 60_000, (n) => onProgress(p.warmup + n - base), 10)
    const elapsedMs = machineClockMs() - startedAt
    const cpuMs = serve.cpuMs() - cpu0
    const failed = await notDelivered(serve)
    if (failed > 0) throw new BenchmarkError(`e2e: ${failed} messages were not delivered at the first attempt`)
    const counted = await countAll(sinks) - sinkBase
    return {
      messages: p.messages,
      elapsedMs: round1(elapsedMs),
      messagesPerSecond: Math.round((p.messages * 1000) / elapsedMs),
      cpuMicrosPerMessage: round1((cpuMs * 1000) / p.messages),
      cpuUserMs: null,
      cpuSystemMs: null,
      peakRssMiB: null,
      sinkCounted: counted,
      latencyMs: null,
      rss: []
    }
  } finally {
    await serve.close()
  }
}

/** Single posts sent before the measured ones, at the same pace (not counted). */
const warmupSingles = 1000

/** Single posts at `rate` per second on a fresh node, warmed up: accepted → delivered from the server's histogram. */
const latencyAt = async (sinks: ReadonlyArray<BenchSink>, rate: number, messages: number, connections: number, textBytes: number, context: ScenarioContext) => {
  const serve = await node(sinks, connections)
  try {
    await runHttpClient({ urls: [serve.url], messages: 2000, batch: 100, concurrency: 4, textBytes }, context)
    await waitDelivered([serve], 2000, 60_000, () => {})
    const singles = (messages: number) =>
      runHttpClient({ urls: [serve.url], messages, batch: 1, concurrency: 50, textBytes, requestsPerSecond: rate }, context)
    // The batches above warm the batch path; the path measured is single posts at this pace: warm it too.
    await singles(warmupSingles)
    await waitDelivered([serve], 2000 + warmupSingles, 60_000, () => {})
    const before = await serve.metrics()
    const base = sample(before, "sluice_messages_total", { outcome: "delivered" })
    const report = await singles(messages)
    await waitDelivered([serve], base + messages, 60_000, () => {})
    const after = await serve.metrics()
    const [h0, h1] = [histogram(before, "sluice_delivery_duration_seconds"), histogram(after, "sluice_delivery_duration_seconds")]
    return {
      ratePerSecond: Math.round(rate),
      messages,
      postLatencyMs: report.latencyMs,
      acceptedToDeliveredMs: { p50: quantileBetween(h0, h1, 0.5), p99: quantileBetween(h0, h1, 0.99) }
    }
  } finally {
    await serve.close()
  }
}

export const e2e: Scenario = {
  name: "e2e",
  description:
    "The command users run, end to end: `sluice serve` taking 20,000 messages over HTTP in batches of 100 (10 in " +
    "flight) into its fsync'd spool and delivering them to two sinks over 10 connections each, against Nodemailer's " +
    "pool with and without TCP_NODELAY, smtp-source and raw sockets delivering as many to the same sinks, in the same " +
    "run; then single posts at a tenth of Sluice's rate, accepted → delivered p50/p99. Targets: ≥ 1.3 × the better " +
    "Nodemailer pool, ≥ 0.3 × smtp-source, p99 ≤ 20 ms at a tenth of the rate.",
  timeLimitMs: 20 * 60_000,
  run: async (context) => {
    const options = context.options
    const p = peerParameters(options, { warmup: engineWarmup })
    const maxRounds = numberOption(options, "rounds", 2)
    const budgetMs = numberOption(options, "budget", 600) * 1000
    const textBytes = numberOption(options, "text-bytes", 800)
    const subjects = chosenPeers(options, ["sluice", "nodemailer", "nodemailer-nodelay", "smtp-source", "raw"])
    const file = messageFile(p.size)
    const serve: Contestant = {
      id: "sluice",
      label: "sluice serve (HTTP batches → spool → delivered)",
      unitsPerRun: p.warmup + p.messages,
      run: (sinks, onProgress) => runServe(sinks, { ...p, textBytes }, context, onProgress)
    }
    try {
      const result = await runComparison({
        scenario: "e2e",
        sinkSets: chosenSinks(options).slice(0, 1).map((kind) => [kind, kind]),
        contestants: [
          ...(subjects.includes("sluice") ? [serve] : []),
          ...peerContestants(subjects.filter((s) => s !== "sluice"), p, file.path, context)
        ],
        subject: "sluice",
        target: { peer: "nodemailer-nodelay", ratio: 1.3 },
        maxRounds,
        budgetMs
      }, context)
      const set = result.sets[0]!
      const figures = (id: string) => set.contestants.find((c) => c.id === id)?.median
      const sluiceRate = figures("sluice")?.messagesPerSecond
      const better = Math.max(figures("nodemailer")?.messagesPerSecond ?? 0, figures("nodemailer-nodelay")?.messagesPerSecond ?? 0)
      const source = figures("smtp-source")?.messagesPerSecond
      let latency: Awaited<ReturnType<typeof latencyAt>> | undefined
      if (sluiceRate !== undefined) {
        context.progress.step("latency at a tenth of the rate")
        const { startSink } = await import("../harness/sinks.js")
        const sinks = [await startSink(set.sinks[0]!), await startSink(set.sinks[0]!)]
        try {
          latency = await latencyAt(sinks, sluiceRate / 10, numberOption(options, "latency-messages", 5_000), p.connections, textBytes, context)
        } finally {
          await Promise.all(sinks.map((sink) => sink.close()))
        }
      }
      const targets = [
        {
          what: "≥ 1.3 × the better of Nodemailer's pool with and without TCP_NODELAY",
          figure: sluiceRate === undefined || better === 0 ? null : round1(sluiceRate / better),
          met: sluiceRate !== undefined && better > 0 && sluiceRate / better >= 1.3
        },
        {
          what: "≥ 0.3 × smtp-source",
          figure: sluiceRate === undefined || source === undefined ? null : Math.round((100 * sluiceRate) / source) / 100,
          met: sluiceRate !== undefined && source !== undefined && sluiceRate / source >= 0.3
        },
        {
          what: "accepted → delivered p99 ≤ 20 ms at a tenth of the rate",
          figure: latency?.acceptedToDeliveredMs.p99 ?? null,
          met: (latency?.acceptedToDeliveredMs.p99 ?? Infinity) <= 20
        }
      ]
      const lines = targets.map((t) => `  ${t.what}: ${t.figure ?? "–"} (${t.met ? "met" : "NOT met"})`)
      return {
        parameters: {
          messages: p.messages,
          warmupMessages: p.warmup,
          connectionsInAll: p.connections,
          sinks: 2,
          httpBatch: 100,
          httpInFlight: 10,
          textBytes,
          maxRounds,
          figure: "median over rounds of delivered messages per second; serve CPU (all its threads) per message",
          timed: "Sluice: from the first post to the last delivery (the server's delivered counter); peers: from creating the transports to the last final reply"
        },
        figures: { sinks: result.sets, latency: latency ?? null, targets },
        table: result.table,
        summary: [
          ...result.summary,
          ...lines,
          `  at ${latency?.ratePerSecond ?? "–"} single posts/s: accepted → delivered p50 ${latency?.acceptedToDeliveredMs.p50 ?? "–"} ms, p99 ${latency?.acceptedToDeliveredMs.p99 ?? "–"} ms`
        ],
        chart: result.chart
      }
    } finally {
      file.dispose()
    }
  }
}
