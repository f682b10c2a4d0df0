/**
 * How the engine scales: throughput and CPU time per delivered message with 1, 5, 20 and 50
 * connections to one upstream (1 KiB messages), and with messages of 1 KiB, 100 KiB and 1 MiB (20
 * connections). Each point is one run of the engine on the in-memory queue against one sink, beside
 * the raw-socket writer with the same connections and messages (what the sink allows).
 */
import type { Panel } from "../harness/chart.js"
import type { Row, Scenario } from "../harness/scenario.js"
import { checkAborted, numberOption } from "../harness/scenario.js"
import type { BenchSink } from "../harness/sinks.js"
import { startSink } from "../harness/sinks.js"
import { round2 } from "../harness/sampling.js"
import { runEngine } from "./engine.js"
import type { Measurement } from "./peers.js"
import { runNodeClient } from "./peers.js"
import { chosenSinks } from "./transport.js"

interface Point {
  readonly axis: "connections" | "size"
  readonly connections: number
  readonly size: number
  readonly messages: number
}

const kib = 1024

export const scaling: Scenario = {
  name: "scaling",
  description:
    "The engine (in-memory queue) to one sink: 1, 5, 20 and 50 connections with 1 KiB messages; 1 KiB, 100 KiB " +
    "and 1 MiB messages with 20 connections. Throughput, MB/s and CPU time per delivered message, beside raw " +
    "pipelined sockets with the same connections and messages.",
  timeLimitMs: 15 * 60_000,
  run: async (context) => {
    const options = context.options
    // Fewer messages where each costs more, so that every point takes seconds, not minutes.
    const base = numberOption(options, "messages", 10_000)
    const points: ReadonlyArray<Point> = [
      ...[1, 5, 20, 50].map((connections): Point => ({ axis: "connections", connections, size: kib, messages: base })),
      { axis: "size", connections: 20, size: 100 * kib, messages: Math.ceil(base / 10) },
      { axis: "size", connections: 20, size: 1024 * kib, messages: Math.ceil(base / 50) }
    ]
    const kind = chosenSinks(options)[0]!
    const runTimeoutMs = numberOption(options, "run-timeout", 180) * 1000
    const warmupOf = (point: Point) => Math.min(1000, Math.ceil(point.messages / 10))
    context.progress.start(points.reduce((sum, point) => sum + 2 * (point.messages + warmupOf(point)), 0))
    const results: Array<Point & { readonly engine: Measurement; readonly raw: Measurement }> = []
    let done = 0
    const sinks: Array<BenchSink> = [await startSink(kind)]
    try {
      for (const point of points) {
        checkAborted(context.signal)
        const label = `${point.connections} connection${point.connections === 1 ? "" : "s"}, ${point.size / kib} KiB`
        const warmup = warmupOf(point)
        context.progress.step(`${label} · Sluice engine`)
        const engine = await runEngine(sinks, {
          queue: "memory",
          messages: point.messages,
          warmup,
          connections: point.connections,
          size: point.size,
          batch: 100,
          preload: 0,
          rssEveryMs: 100,
          runTimeoutMs
        }, context, (counted) => context.progress.set(done + counted))
        done += point.messages + warmup
        context.progress.step(`${label} · raw sockets`)
        const raw = await runNodeClient("raw", sinks, {
          messages: point.messages,
          warmup,
          connections: point.connections,
          concurrency: point.connections,
          size: point.size,
          runTimeoutMs,
          profile: false
        }, context, (counted) => context.progress.set(done + counted))
        done += point.messages + warmup
        context.progress.log(`scaling: ${label}: Sluice ${engine.messagesPerSecond} msg/s, ${engine.cpuMicrosPerMessage} µs CPU/msg; raw ${raw.messagesPerSecond} msg/s`)
        results.push({ ...point, engine, raw })
      }
    } finally {
      await Promise.all(sinks.map((sink) => sink.close()))
    }
    const mbps = (m: Measurement, size: number) => round2((m.messagesPerSecond * size) / 1e6)
    const rows: Array<Row> = results.map((r) => ({
      Connections: r.connections,
      "Message": `${r.size / kib} KiB`,
      Messages: r.messages,
      "Sluice msg/s": r.engine.messagesPerSecond,
      "Sluice MB/s": mbps(r.engine, r.size),
      "Sluice CPU µs/msg": r.engine.cpuMicrosPerMessage,
      "Sluice p50 / p99 ms": r.engine.latencyMs === null ? null : `${r.engine.latencyMs.p50} / ${r.engine.latencyMs.p99}`,
      "Sluice peak RSS MiB": r.engine.peakRssMiB,
      "raw msg/s": r.raw.messagesPerSecond,
      "Sluice ÷ raw": round2(r.engine.messagesPerSecond / r.raw.messagesPerSecond)
    }))
    const byConnections = results.filter((r) => r.axis === "connections")
    const bySize = results.filter((r) => r.axis === "size" || r.size === kib && r.connections === 20)
    const summary = [
      `connections 1 → 50 (1 KiB): ${byConnections.map((r) => `${r.connections}: ${r.engine.messagesPerSecond} msg/s`).join(", ")}`,
      `sizes (20 connections): ${bySize.map((r) => `${r.size / kib} KiB: ${r.engine.messagesPerSecond} msg/s = ${mbps(r.engine, r.size)} MB/s`).join(", ")}`,
      `CPU per delivered message: ${results.map((r) => `${r.connections} conn/${r.size / kib} KiB ${r.engine.cpuMicrosPerMessage} µs`).join(", ")}`
    ]
    const chart: Array<Panel> = [
      {
        kind: "bars",
        title: "Throughput by connections (1 KiB) and by size (20 connections)",
        unit: "messages/s",
        items: results.flatMap((r) => [
          { label: `Sluice · ${r.connections} conn · ${r.size / kib} KiB`, value: r.engine.messagesPerSecond },
          { label: `raw · ${r.connections} conn · ${r.size / kib} KiB`, value: r.raw.messagesPerSecond }
        ])
      },
      {
        kind: "bars",
        title: "CPU time of the engine process per delivered message",
        unit: "µs",
        items: results.map((r) => ({ label: `${r.connections} conn · ${r.size / kib} KiB`, value: r.engine.cpuMicrosPerMessage }))
      },
      {
        kind: "percentiles",
        title: "Submit → delivered latency",
        unit: "ms",
        items: results.flatMap((r) => r.engine.latencyMs === null ? [] : [{ label: `${r.connections} conn · ${r.size / kib} KiB`, ...r.engine.latencyMs }])
      }
    ]
    return {
      parameters: {
        sink: kind,
        points,
        queue: "memory",
        submit: "Sluice.submitBatch, batches of 100, while delivering",
        warmup: "a tenth of the messages (at most 1,000) before each timed run",
        cpu: "user + system time of the engine's process during the timed run, divided by the messages delivered"
      },
      figures: results,
      table: {
        columns: ["Connections", "Message", "Messages", "Sluice msg/s", "Sluice MB/s", "Sluice CPU µs/msg", "Sluice p50 / p99 ms", "Sluice peak RSS MiB", "raw msg/s", "Sluice ÷ raw"],
        rows
      },
      summary,
      chart
    }
  }
}
