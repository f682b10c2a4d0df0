/**
 * One measured run of the whole engine, in a process of its own so its CPU time and RSS are its own:
 * `node --import tsx engine-client.ts '<json config>'`.
 *
 * The engine (the `Sluice` service) runs on the in-memory queue or on the durable spool, with one
 * upstream per target, the connections split evenly. After `warmup` messages (submitted and delivered,
 * untimed), the timed run submits `messages` typed messages in batches of `batch` through `submitBatch`
 * (each validated, composed and queued as the HTTP adapter would) while the engine delivers, and
 * ends when the last is delivered. With `preload`, that many messages are put in the queue before the
 * engine starts (untimed), and the timed run drains them too: the memory test of a deep queue.
 * Reports over IPC (the same report as transport-client.ts), then exits.
 */
import { runClient } from "../harness/client.js"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Chunk, Context, Effect, Exit, Layer, Logger, LogLevel, Metric, Queue, Scope } from "effect"
import type { DeliveryEvent, DeliveryQueueShape, SubmitMessage } from "@sluice/engine"
import { Config, DeliveryQueue, EngineMetrics, MemoryQueue, messageId, Sluice } from "@sluice/engine"
import { Spool } from "@sluice/spool"
import { Latencies, round1, sampleRss } from "../harness/sampling.js"
import { FROM, makeMessage, TO } from "./message.js"
import type { ClientReport } from "./transport-client.js"

export interface EngineClientConfig {
  readonly queue: "memory" | "spool"
  readonly targets: ReadonlyArray<{ readonly host: string; readonly port: number }>
  /** Connections in all, split among the targets' upstreams. */
  readonly connections: number
  readonly messages: number
  readonly warmup: number
  readonly size: number
  /** Messages per submitBatch call. */
  readonly batch: number
  /** Messages queued before the engine starts (untimed), delivered within the timed run. */
  readonly preload: number
  /** How often RSS is sampled, and how many points are kept. */
  readonly rssEveryMs: number
  /** Fields of the engine's configuration to use instead of the benchmark's (retry, circuitBreaker). */
  readonly overrides?: Record<string, unknown>
  /** When set, deliveries are counted per upstream in buckets this long, from the start of the timed run. */
  readonly timelineMs?: number
}

/** Deliveries per upstream, per bucket of `bucketMs` from the start of the timed run. */
export interface Timeline {
  readonly bucketMs: number
  readonly upstreams: Readonly<Record<string, ReadonlyArray<number>>>
}

export interface EngineReport extends ClientReport {
  readonly timeline?: Timeline
}

const config = JSON.parse(process.argv[2] ?? "{}") as EngineClientConfig
const raw = makeMessage(config.size).toString("latin1")
// A typed message, as an embedder's code builds it: the engine does not decode it again.
const input: SubmitMessage = { from: FROM, to: [TO], raw }
const content = makeMessage(config.size)

const sluiceConfig = Effect.runSync(Config.decode({
  upstreams: config.targets.map((target, i) => ({
    name: `sink-${i + 1}`,
    host: target.host,
    port: target.port,
    maxConnections: Math.max(1, Math.floor(config.connections / config.targets.length) + (i < config.connections % config.targets.length ? 1 : 0)),
    maxMessagesPerConnection: 1_000_000_000
  })),
  // No retry within a run: a deferral is a failure here, and shows as one.
  retry: { maxAttempts: 1 },
  ...config.overrides
}))

// The engine counts on plain numbers and moves them into its metrics when they are read.
/** The outcome counters, read in one flush of the plain counts (a scrape): the harness polls them. */
const counters = Effect.zipRight(
  EngineMetrics.flush,
  Effect.all({
    delivered: Metric.value(EngineMetrics.outcome.delivered),
    deferred: Metric.value(EngineMetrics.outcome.deferred),
    bounced: Metric.value(EngineMetrics.outcome.bounced),
    failed: Metric.value(EngineMetrics.outcome.failed)
  })
)

const main = Effect.gen(function*() {
  // A preloaded run is about memory: its RSS is sampled from the start, through the preload.
  const rssFromStart = config.preload > 0 ? sampleRss(config.rssEveryMs) : undefined
  const directory = config.queue === "spool" ? mkdtempSync(join(tmpdir(), "sluice-bench-spool-")) : undefined
  yield* Effect.addFinalizer(() => Effect.sync(() => directory && rmSync(directory, { recursive: true, force: true })))
  const queue: DeliveryQueueShape = directory === undefined
    ? yield* MemoryQueue.make({ maxDepth: 2_000_000 })
    : yield* Spool.make({ path: directory, maxDepth: 2_000_000 })

  if (config.preload > 0) {
    const chunk = Array.from({ length: 1000 }, () => ({ from: FROM, to: [TO], content, stream: "default" }))
    for (let done = 0; done < config.preload; done += chunk.length) {
      const now = Date.now()
      yield* queue.enqueue(chunk.slice(0, Math.min(chunk.length, config.preload - done)).map((m) => ({ ...m, id: messageId(now) })))
    }
    process.send?.({ type: "preloaded", messages: config.preload, rssMiB: round1(process.memoryUsage.rss() / 2 ** 20) })
  }

  const engineScope = yield* Scope.make()
  const sluice = yield* Layer.buildWithScope(Sluice.layer(sluiceConfig).pipe(Layer.provide(Layer.succeed(DeliveryQueue, queue))), engineScope).pipe(
    Effect.map(Context.get(Sluice))
  )
  const events = yield* sluice.subscribe.pipe(Scope.extend(engineScope))

  const latencies = new Latencies()
  let failed = 0
  let firstFailure: string | undefined
  let t0 = performance.now()
  // Latencies and the timeline are of the timed run only, not of the warm-up.
  let timed = false
  const timeline = new Map<string, Array<number>>(sluiceConfig.upstreams.map((u) => [u.name!, []]))
  // Latency from the events (submit → final reply, as the engine measures it); completion from the
  // delivered counter, which cannot miss one (the event stream drops the oldest when a reader lags).
  const onEvent = (event: DeliveryEvent) => {
    if (event._tag === "Delivered") {
      if (!timed) return
      latencies.recordDuration(event.durationMs)
      if (config.timelineMs !== undefined) {
        const buckets = timeline.get(event.upstream)!
        const at = Math.floor((performance.now() - t0) / config.timelineMs)
        while (buckets.length <= at) buckets.push(0)
        buckets[at]!++
      }
    } else if (config.overrides === undefined && (event._tag === "Deferred" || event._tag === "Bounced" || event._tag === "Failed")) {
      failed++
      firstFailure ??= `${event._tag}: ${"reason" in event ? event.reason : ""} ${JSON.stringify(event.reply)}`
    }
  }
  yield* Queue.takeBetween(events, 1, 4096).pipe(
    Effect.map(Chunk.forEach(onEvent)),
    Effect.forever,
    Effect.forkIn(engineScope)
  )

  const submitAll = (count: number) =>
    Effect.gen(function*() {
      for (let done = 0; done < count; done += config.batch) {
        const n = Math.min(config.batch, count - done)
        const results = yield* sluice.submitBatch(Array.from({ length: n }, () => input))
        for (const result of results) {
          if (result._tag === "Left") return yield* Effect.dieMessage(`submit refused: ${result.left.message}`)
        }
      }
    })

  /**
   * Waits until `target` messages have been delivered in all (polling the counter), or one failed
   * (with retries allowed by the overrides, only a final failure counts).
   */
  const deliveredReach = (target: number) =>
    Effect.gen(function*() {
      while (true) {
        const read = yield* counters
        const deferred = config.overrides === undefined ? read.deferred.count : 0
        const [ok, bad] = [read.delivered.count, deferred + read.bounced.count + read.failed.count]
        if (ok >= target || bad > 0) return { ok, bad }
        yield* Effect.sleep("5 millis")
      }
    })

  if (config.warmup > 0) {
    yield* submitAll(config.warmup)
    yield* deliveredReach(config.warmup)
  }
  const base = (yield* counters).delivered.count
  ;(globalThis as { gc?: () => void }).gc?.()

  const rss = rssFromStart ?? sampleRss(config.rssEveryMs)
  const cpu0 = process.cpuUsage()
  t0 = performance.now()
  timed = true
  process.send?.({ type: "started" })
  const submitted = yield* Effect.fork(submitAll(config.messages))
  const { ok, bad } = yield* deliveredReach(base + config.messages + config.preload)
  yield* submitted.await
  const elapsedMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const rssPoints = rss.stop()
  const accepted = ok - base

  // Shut the engine down (untimed): drain, close the sessions.
  yield* Scope.close(engineScope, Exit.void)

  const report: EngineReport = {
    type: "result",
    client: "sluice",
    messages: config.messages + config.preload,
    accepted,
    failed: bad + failed,
    firstFailure,
    warmupAccepted: base,
    elapsedMs,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
    latencyMs: latencies.summary(),
    rss: rssPoints,
    ...(config.timelineMs === undefined ? {} : { timeline: { bucketMs: config.timelineMs, upstreams: Object.fromEntries(timeline) } })
  }
  return report
})

// As embedded: delivery lines at info are not written (sluice serve's own lines are measured by `http`).
runClient("engine client", () => Effect.runPromise(Effect.scoped(main).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))))
