/**
 * Memory under a deep queue: 1,000,000 messages of 1 KiB put in the durable spool, then the engine
 * started on it drains them all to two sinks, in one child process whose RSS is sampled from its start
 * to the last delivery. Target: RSS stays under 250 MB (issue 13; 300 MB before).
 */
import type { Panel } from "../harness/chart.js"
import type { Scenario } from "../harness/scenario.js"
import { numberOption } from "../harness/scenario.js"
import type { BenchSink } from "../harness/sinks.js"
import { startSink } from "../harness/sinks.js"
import { runEngine } from "./engine.js"
import { chosenSinks } from "./transport.js"

const limitMiB = 250 * 10 ** 6 / 2 ** 20

export const drain: Scenario = {
  name: "drain",
  description:
    "1,000,000 messages of 1 KiB queued in the durable spool, then drained by the engine to two sinks over 20 " +
    "connections, in one process whose RSS is sampled from its start. Target: RSS < 250 MB throughout.",
  timeLimitMs: 20 * 60_000,
  run: async (context) => {
    const options = context.options
    const messages = numberOption(options, "messages", 1_000_000)
    const connections = numberOption(options, "connections", 20)
    // Postfix's sink when there is one: it costs the machine less CPU than smtp-server.
    const kind = chosenSinks(options)[0]!
    context.progress.start(messages)
    const sinks: Array<BenchSink> = []
    let preloadedAt = 0
    try {
      sinks.push(await startSink(kind), await startSink(kind))
      context.progress.step(`queueing ${messages.toLocaleString("en-US")} messages in the spool`)
      const started = performance.now()
      const run = await runEngine(sinks, {
        queue: "spool",
        messages: 0,
        warmup: 0,
        connections,
        size: numberOption(options, "size", 1024),
        batch: 1000,
        preload: messages,
        rssEveryMs: 250,
        runTimeoutMs: numberOption(options, "run-timeout", 1080) * 1000,
        onMessage: (message) => {
          if (message.type !== "preloaded") return
          preloadedAt = (performance.now() - started) / 1000
          context.progress.step(`draining to 2 × ${kind}`)
        }
      }, context, (counted) => context.progress.set(counted))
      const peak = Math.max(...run.rss.map(([, mib]) => mib))
      const peakRss = Math.max(peak, run.peakRssMiB ?? 0)
      const peakMB = Math.round(peakRss * 2 ** 20 / 10 ** 6)
      const anon = run.rss.flatMap(([, , a]) => a === undefined ? [] : [a])
      const peakAnon = anon.length === 0 ? null : Math.max(...anon)
      const met = peakRss < limitMiB
      const summary = [
        `${messages.toLocaleString("en-US")} messages drained at ${run.messagesPerSecond} msg/s (${Math.round(run.elapsedMs / 1000)} s); ` +
        `peak RSS ${Math.round(peakRss)} MiB = ${peakMB} MB (target < 250 MB: ${met ? "met" : "NOT met"})` +
        (peakAnon === null ? "" : `; of which anonymous memory (heap, buffers) at most ${Math.round(peakAnon)} MiB, the rest pages of the spool's memory-mapped LMDB file`)
      ]
      const chart: Array<Panel> = [{
        kind: "lines",
        title: "RSS of the engine process, from its start (queueing, then draining)",
        xUnit: "s",
        yUnit: "MiB",
        lines: [
          { label: "RSS", points: run.rss },
          ...(peakAnon === null ? [] : [
            { label: "anonymous (heap, buffers)", points: run.rss.map(([t, , a]) => [t, a ?? 0] as const) },
            { label: "file-backed (LMDB's memory map)", points: run.rss.map(([t, , , f]) => [t, f ?? 0] as const) }
          ]),
          { label: "250 MB limit", points: [[0, limitMiB], [run.rss[run.rss.length - 1]?.[0] ?? 1, limitMiB]] }
        ],
        spans: preloadedAt > 0 ? [{ from: 0, to: preloadedAt, label: "queueing" }] : []
      }]
      return {
        parameters: {
          messages,
          messageBytes: 1024,
          sinks: `2 × ${kind}`,
          connections,
          queue: "spool (LMDB) in the system's temporary directory",
          peakRss: "the highest of the RSS samples (every 250 ms) and the process's own maxRSS",
          anonymousAndFile: "RssAnon and RssFile + RssShmem from /proc/self/status at each sample",
          timed: "the drain: from starting the engine on the full spool to the last delivery"
        },
        figures: { run, preloadSeconds: Math.round(preloadedAt * 10) / 10, peakRssMiB: peakRss, peakRssMB: peakMB, peakAnonymousMiB: peakAnon, met },
        table: {
          columns: ["Messages", "Drain msg/s", "Drain s", "Queueing s", "Peak RSS MiB", "Peak anonymous MiB", "CPU µs/msg", "Target", "Met"],
          rows: [{
            Messages: messages,
            "Drain msg/s": run.messagesPerSecond,
            "Drain s": Math.round(run.elapsedMs / 1000),
            "Queueing s": Math.round(preloadedAt),
            "Peak RSS MiB": Math.round(peakRss),
            "Peak anonymous MiB": peakAnon === null ? null : Math.round(peakAnon),
            "CPU µs/msg": run.cpuMicrosPerMessage,
            Target: "< 250 MB",
            Met: met ? "yes" : "NO"
          }]
        },
        summary,
        chart
      }
    } finally {
      await Promise.all(sinks.map((sink) => sink.close()))
    }
  }
}
