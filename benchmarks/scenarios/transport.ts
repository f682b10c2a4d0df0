/**
 * The transport alone: N messages of 1 KiB over 20 pooled sessions to one sink, Sluice's SmtpPool
 * against Nodemailer's pooled transport in the same run, on the same sinks; Postfix's smtp-source and
 * raw pipelined sockets as references for what the sink allows. See benchmarks/README.md for how to
 * read the figures.
 */
import { postfixTools } from "../harness/postfix.js"
import type { Options, Scenario } from "../harness/scenario.js"
import { BenchmarkError, numberOption } from "../harness/scenario.js"
import type { SinkKind } from "../harness/sinks.js"
import { availableSinks } from "../harness/sinks.js"
import type { Contestant } from "./comparison.js"
import { runComparison } from "./comparison.js"
import type { PeerParameters, Subject } from "./peers.js"
import { messageFile, runNodeClient, runSmtpSource } from "./peers.js"

export const subjectLabel: Record<Subject, string> = {
  sluice: "Sluice SmtpPool",
  nodemailer: "Nodemailer pool",
  "nodemailer-nodelay": "Nodemailer pool, TCP_NODELAY (reference)",
  "smtp-source": "Postfix smtp-source (reference)",
  raw: "Raw pipelined sockets (physical limit)"
}

/**
 * Warm-up of the scenarios that run a whole engine (engine, engine-spool, e2e), for every subject.
 * After 2,000 messages V8's optimizing compiler still took 10–17% of the engine's CPU in the timed run
 * (perf, per thread: its background threads), falling to ~8% after 6 s: the figures were partly of
 * start-up, where a server runs for days.
 */
export const engineWarmup = 10_000

/** The options every throughput scenario reads, with the transport scenario's defaults. */
export const peerParameters = (options: Options, defaults: Partial<PeerParameters> = {}): PeerParameters => ({
  messages: numberOption(options, "messages", defaults.messages ?? 20_000),
  warmup: options.warmup === "0" ? 0 : numberOption(options, "warmup", defaults.warmup ?? 2_000),
  connections: numberOption(options, "connections", defaults.connections ?? 20),
  concurrency: numberOption(options, "concurrency", defaults.concurrency ?? 20),
  size: numberOption(options, "size", defaults.size ?? 1024),
  runTimeoutMs: numberOption(options, "run-timeout", 120) * 1000,
  profile: options.profile === true
})

/** The sinks to use: those named by --sinks, else every one available. */
export const chosenSinks = (options: Options): Array<SinkKind> => {
  const sinks = typeof options.sinks === "string" ? availableSinks(options.sinks.split(",") as Array<SinkKind>) : availableSinks()
  if (sinks.length === 0) throw new BenchmarkError(`no sink of ${String(options.sinks)} is available`)
  return sinks
}

/** The peers named by --subjects (all by default), smtp-source only where installed. */
export const chosenPeers = (options: Options, all: ReadonlyArray<Subject>): Array<Subject> => {
  const available = all.filter((subject) => subject !== "smtp-source" || postfixTools() !== undefined)
  return typeof options.subjects === "string" ? available.filter((s) => (options.subjects as string).split(",").includes(s)) : available
}

/** The peer contestants of a comparison: Node clients and smtp-source, measured alike. */
export const peerContestants = (
  subjects: ReadonlyArray<Subject>,
  p: PeerParameters,
  file: string,
  context: Parameters<Scenario["run"]>[0],
  labels: Partial<Record<Subject, string>> = {}
): Array<Contestant> =>
  subjects.map((subject) => ({
    id: subject,
    label: labels[subject] ?? subjectLabel[subject],
    unitsPerRun: subject === "smtp-source" ? p.messages : p.warmup + p.messages,
    run: (sinks, onProgress) =>
      subject === "smtp-source"
        ? runSmtpSource(sinks, file, p, context, onProgress)
        : runNodeClient(subject, sinks, p, context, onProgress)
  }))

export const transport: Scenario = {
  name: "transport",
  description:
    "The transport alone: 20,000 messages of 1 KiB over 20 pooled sessions to one sink (Sluice and raw: at most " +
    "two transactions in flight per session, pipelined); Sluice's SmtpPool against raw pipelined sockets, Nodemailer's " +
    "pooled transport (`pool: true`, with and without TCP_NODELAY) and smtp-source in the same run, on the same sinks. " +
    "Target: Sluice ≥ 0.5 × raw pipelined sockets, at ≤ 30 µs CPU per message.",
  // A safety net over the round budget (--budget, 420 s by default): the scenario plans its rounds to
  // end well within it.
  timeLimitMs: 15 * 60_000,
  run: async (context) => {
    const options = context.options
    const p = peerParameters(options)
    const maxRounds = numberOption(options, "rounds", 3)
    const budgetMs = numberOption(options, "budget", 420) * 1000
    const subjects = chosenPeers(options, ["sluice", "nodemailer", "nodemailer-nodelay", "smtp-source", "raw"])
    const file = messageFile(p.size)
    try {
      const result = await runComparison({
        scenario: "transport",
        sinkSets: chosenSinks(options).map((kind) => [kind]),
        contestants: peerContestants(subjects, p, file.path, context),
        subject: "sluice",
        target: { peer: "raw", ratio: 0.5 },
        maxRounds,
        budgetMs
      }, context)
      return {
        parameters: {
          messages: p.messages,
          messageBytes: p.size,
          warmupMessages: p.warmup,
          connections: p.connections,
          inFlight: p.concurrency,
          maxRounds,
          budgetSeconds: budgetMs / 1000,
          figure: "median over rounds of messages per second; ratios are of medians on the same sink",
          timed: "from creating the pooled transport to the last message's final reply (warm-up and close not timed)",
          latency: "per message, from handing it to the client to its final reply; percentiles of the run with the median rate",
          process: "each client run in a fresh child process after its own warm-up; sinks in their own processes",
          sluice: { maxConnections: p.connections, maxMessagesPerConnection: "Infinity", tls: "none" },
          nodemailer: { pool: true, maxConnections: p.connections, maxMessages: "Infinity", secure: false, ignoreTLS: true }
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
}
