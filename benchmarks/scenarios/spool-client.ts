/**
 * Durable enqueue throughput of the spool, in a process of its own:
 * `node --import tsx spool-client.ts '<json config>'`.
 *
 * `callers` fibers each enqueue `batch` messages at a time (1 = single submissions), one call after
 * the other, until `messages` are queued in all. Every call returns only once its messages are
 * fsync'd, so the rate shows how well concurrent calls share commits. The spool is a fresh one in a
 * temporary directory on the same disk as the system's temporary files. Reports over IPC, then exits.
 */
import { runClient } from "../harness/client.js"
import { Effect } from "effect"
import { messageId } from "@sluice/engine"
import { Spool } from "@sluice/spool"
import { Latencies, sampleRss } from "../harness/sampling.js"
import { FROM, makeMessage, TO } from "./message.js"

export interface SpoolClientConfig {
  readonly messages: number
  readonly warmup: number
  readonly batch: number
  readonly callers: number
  readonly size: number
}

export interface SpoolReport {
  readonly type: "result"
  readonly messages: number
  readonly elapsedMs: number
  readonly cpuUserMs: number
  readonly cpuSystemMs: number
  readonly peakRssMiB: number
  /** Per call (one message, or one batch), from the call to its return (durable). */
  readonly latencyMs: ReturnType<Latencies["summary"]>
  readonly rss: ReturnType<ReturnType<typeof sampleRss>["stop"]>
}

const config = JSON.parse(process.argv[2] ?? "{}") as SpoolClientConfig
const content = makeMessage(config.size)
const batch = Array.from({ length: config.batch }, () => ({ from: FROM, to: [TO], content, stream: "default" }))

const main = Effect.gen(function*() {
  const spool = yield* Spool.temporary({ maxDepth: 100_000_000 })
  const run = (count: number, latencies: Latencies) => {
    let next = 0
    const caller = Effect.gen(function*() {
      while (next < count) {
        const n = Math.min(config.batch, count - next)
        next += n
        const t0 = performance.now()
        // Ids are minted by the engine at submit; here, per call, as the engine would.
        const now = Date.now()
        const enqueued = yield* spool.enqueue((n === batch.length ? batch : batch.slice(0, n)).map((m) => ({ ...m, id: messageId(now) })))
        latencies.record(t0)
        if (enqueued.length !== n) return yield* Effect.dieMessage(`enqueue returned ${enqueued.length} ids for ${n} messages`)
      }
    })
    return Effect.all(Array.from({ length: config.callers }, () => caller), { concurrency: "unbounded", discard: true })
  }
  if (config.warmup > 0) yield* run(config.warmup, new Latencies())
  ;(globalThis as { gc?: () => void }).gc?.()
  const latencies = new Latencies()
  const rss = sampleRss()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  yield* run(config.messages, latencies)
  const elapsedMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const depth = yield* spool.depth
  if (depth !== config.messages + config.warmup) {
    return yield* Effect.dieMessage(`the spool holds ${depth} messages, ${config.messages + config.warmup} were enqueued`)
  }
  const report: SpoolReport = {
    type: "result",
    messages: config.messages,
    elapsedMs,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    latencyMs: latencies.summary(),
    rss: rss.stop()
  }
  return report
})

runClient("spool client", () => Effect.runPromise(Effect.scoped(main)))
