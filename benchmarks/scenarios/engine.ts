/**
 * End to end through the engine: messages submitted to the `Sluice` service (validated, composed,
 * queued, scheduled, delivered over pooled sessions) to two sinks, against Nodemailer's pool with the
 * same connections in all and against smtp-source and raw sockets, on the same sinks in the same run.
 * Once on the in-memory queue (`engine`), once on the durable spool (`engine-spool`).
 */
import { exited, nextMessage, spawnClient } from "../harness/children.js"
import type { Scenario, ScenarioContext } from "../harness/scenario.js"
import { BenchmarkError, numberOption } from "../harness/scenario.js"
import type { BenchSink } from "../harness/sinks.js"
import { round1 } from "../harness/sampling.js"
import type { Contestant } from "./comparison.js"
import { runComparison } from "./comparison.js"
import type { EngineClientConfig, EngineReport, Timeline } from "./engine-client.js"
import type { Measurement } from "./peers.js"
import { countAll, messageFile, profileDirectory, settledCount, watch } from "./peers.js"
import { chosenPeers, chosenSinks, engineWarmup, peerContestants, peerParameters } from "./transport.js"

export interface EngineRun {
  readonly queue: EngineClientConfig["queue"]
  readonly messages: number
  readonly warmup: number
  readonly connections: number
  readonly size: number
  readonly batch: number
  readonly preload: number
  readonly rssEveryMs: number
  readonly runTimeoutMs: number
  /** Called with the child's other messages ("preloaded", "started"). */
  readonly onMessage?: (message: { readonly type: string }) => void
  readonly overrides?: EngineClientConfig["overrides"]
  readonly timelineMs?: number
  /**
   * Check that the sinks counted every message (default). Off when a sink is killed during the run:
   * its count dies with it; the engine's delivered counter still has to reach the total.
   */
  readonly countSinks?: boolean
  /** Write a V8 CPU profile of the engine's process to benchmarks/results/tmp/profiles/ (git-ignored). */
  readonly profile?: boolean
}

/** Runs the engine in a child process (engine-client.ts) against the sinks; checks every message arrived. */
export const runEngine = async (
  sinks: ReadonlyArray<BenchSink>,
  run: EngineRun,
  context: ScenarioContext,
  onProgress: (counted: number) => void
): Promise<Measurement & { readonly timeline?: Timeline | undefined }> => {
  const config: EngineClientConfig = {
    queue: run.queue,
    targets: sinks.map((sink) => ({ host: sink.host, port: sink.port })),
    connections: run.connections,
    messages: run.messages,
    warmup: run.warmup,
    size: run.size,
    batch: run.batch,
    preload: run.preload,
    rssEveryMs: run.rssEveryMs,
    ...(run.overrides === undefined ? {} : { overrides: run.overrides }),
    ...(run.timelineMs === undefined ? {} : { timelineMs: run.timelineMs })
  }
  const before = await countAll(sinks)
  const flags = ["--expose-gc"]
  if (run.profile === true) flags.push("--cpu-prof", `--cpu-prof-dir=${profileDirectory(`engine-${run.queue}`)}`)
  const child = await spawnClient(new URL("./engine-client.ts", import.meta.url).href, [JSON.stringify(config)], { flags })
  if (run.onMessage) child.on("message", (message: { type?: string }) => message.type !== undefined && run.onMessage!(message as { type: string }))
  const report = nextMessage(child, (message: { type?: string }) => message.type === "result" ? message as EngineReport : undefined)
  const result = await watch([child], report, sinks, before, run.runTimeoutMs, context, onProgress)
  await exited(child)
  const total = run.messages + run.preload
  const expected = run.warmup + total
  const counted = run.countSinks === false ? await countAll(sinks) - before : (await settledCount(sinks, before + expected)) - before
  if (result.failed > 0 || result.accepted < total) {
    throw new BenchmarkError(`engine (${run.queue}): ${result.accepted} of ${total} delivered, ${result.failed} failed; first: ${result.firstFailure}`)
  }
  // At least once: a sink may count a message twice (a retried delivery), never fewer.
  if (run.countSinks !== false && counted < expected) throw new BenchmarkError(`engine (${run.queue}): the sinks counted ${counted} messages, ${expected} were submitted`)
  const cpuMs = result.cpuUserMs + result.cpuSystemMs
  return {
    messages: total,
    elapsedMs: round1(result.elapsedMs),
    messagesPerSecond: Math.round((total * 1000) / result.elapsedMs),
    cpuMicrosPerMessage: round1((cpuMs * 1000) / total),
    cpuUserMs: Math.round(result.cpuUserMs),
    cpuSystemMs: Math.round(result.cpuSystemMs),
    peakRssMiB: round1(result.peakRssMiB),
    sinkCounted: counted,
    latencyMs: result.latencyMs,
    rss: result.rss,
    timeline: result.timeline
  }
}

const engineScenario = (queue: EngineClientConfig["queue"], target: number): Scenario => ({
  name: queue === "memory" ? "engine" : "engine-spool",
  description:
    `End to end: 20,000 messages of 1 KiB submitted to the engine (typed, \`Sluice.submitBatch\`, batches of 100) ` +
    `on the ${queue === "memory" ? "in-memory queue" : "durable spool (LMDB, fsync'd before a submit returns)"}, ` +
    "delivered to two sinks over 10 pooled sessions each; against Nodemailer's pool (`pool: true`, 10 connections " +
    "to each sink, 20 in flight) with TCP_NODELAY (the target peer) and without, smtp-source and raw sockets on the same sinks. " +
    `Target: Sluice ≥ ${target} × Nodemailer's pool with TCP_NODELAY, at ≤ 100 µs CPU per delivered message.`,
  timeLimitMs: 15 * 60_000,
  run: async (context) => {
    const options = context.options
    const p = peerParameters(options, { warmup: engineWarmup })
    const maxRounds = numberOption(options, "rounds", 2)
    const budgetMs = numberOption(options, "budget", 600) * 1000
    const batch = numberOption(options, "batch", 100)
    const kinds = chosenSinks(options)
    const subjects = chosenPeers(options, ["sluice", "nodemailer", "nodemailer-nodelay", "smtp-source", "raw"])
    const file = messageFile(p.size)
    const engine: Contestant = {
      id: "sluice",
      label: `Sluice engine (${queue === "memory" ? "memory queue" : "spool"})`,
      unitsPerRun: p.warmup + p.messages,
      run: (sinks, onProgress) =>
        runEngine(sinks, {
          queue,
          messages: p.messages,
          warmup: p.warmup,
          connections: p.connections,
          size: p.size,
          batch,
          preload: 0,
          rssEveryMs: 100,
          runTimeoutMs: p.runTimeoutMs,
          profile: p.profile
        }, context, onProgress)
    }
    try {
      const result = await runComparison({
        scenario: queue === "memory" ? "engine" : "engine-spool",
        sinkSets: kinds.map((kind) => [kind, kind]),
        contestants: [
          ...(subjects.includes("sluice") ? [engine] : []),
          ...peerContestants(subjects.filter((s) => s !== "sluice"), p, file.path, context)
        ],
        subject: "sluice",
        target: { peer: "nodemailer-nodelay", ratio: target },
        maxRounds,
        budgetMs
      }, context)
      return {
        parameters: {
          queue,
          messages: p.messages,
          messageBytes: p.size,
          warmupMessages: p.warmup,
          connectionsInAll: p.connections,
          sinks: 2,
          submitBatch: batch,
          maxRounds,
          budgetSeconds: budgetMs / 1000,
          figure: "median over rounds of messages per second; ratios are of medians on the same sinks",
          timed: "Sluice: from the first submit to the last delivery (the counter of delivered messages); peers: from creating the transports to the last final reply",
          latency: "Sluice: submit → final reply as the engine's Delivered events give it (ms resolution); peers: handing the message to the client → final reply",
          process: "each run in a fresh child process after its own warm-up; sinks in their own processes",
          sluice: { upstreams: 2, maxConnectionsEach: p.connections / 2, retry: "maxAttempts 1 (a deferral fails the run)" },
          nodemailer: { transports: 2, pool: true, maxConnectionsEach: p.connections / 2, inFlight: p.concurrency }
        },
        figures: { sinks: result.sets },
        table: result.table,
        summary: result.summary,
        chart: result.chart
      }
    } finally {
      file.dispose()
    }
  }
})

export const engine = engineScenario("memory", 1.5)
export const engineSpool = engineScenario("spool", 1.5)
