import v8 from "node:v8"
import vm from "node:vm"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Sink } from "@sluice/sink"
import type { DeliveryQueueShape } from "../src/index.js"
import { MemoryQueue, messageId } from "../src/index.js"
import { eventually, realSleep, startEngine, upstream } from "./support/engine.js"

// Full collections before each reading, so the comparison is of live memory; vitest gives no
// per-project node flags, so the flag is set at run time.
v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void
const usedBytes = () => {
  gc()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external
}

/** The queue, counting what it has leased out and not yet had back. */
const counting = (queue: DeliveryQueueShape) => {
  const state = { leased: 0, peak: 0 }
  const shape: DeliveryQueueShape = {
    ...queue,
    take: (stream, max) =>
      queue.take(stream, max).pipe(Effect.tap((taken) => {
        state.leased += taken.length
        state.peak = Math.max(state.peak, state.leased)
      })),
    settle: (id, settlement) => queue.settle(id, settlement).pipe(Effect.tap(() => void state.leased--)),
    settleAll: (entries) => queue.settleAll(entries).pipe(Effect.tap(() => void (state.leased -= entries.length))),
    release: (ids) => queue.release(ids).pipe(Effect.tap(() => void (state.leased -= ids.length)))
  }
  return { shape, state }
}

/**
 * Queues `depth` messages of 1 KiB, then runs an engine against a slow upstream (so the queue stays
 * deep) and measures what the engine adds to the process's memory once it runs at full stretch.
 */
const footprint = (depth: number) =>
  Effect.scoped(Effect.gen(function*() {
    const queue = yield* MemoryQueue.make()
    for (let start = 0; start < depth; start += 10_000) {
      yield* queue.enqueue(Array.from({ length: Math.min(10_000, depth - start) }, (_, i) => ({
        id: messageId(Date.now()),
        from: "sender@example.com",
        to: [`r${start + i}@example.net`],
        content: Buffer.alloc(1024, `Subject: ${start + i}\r\n\r\n`),
        stream: "default"
      })))
    }
    const sink = yield* Sink.make({ record: "count", dataDelayMs: 50 })
    const before = usedBytes()
    const { shape, state } = counting(queue)
    yield* startEngine({ upstreams: [upstream("slow", sink, { maxConnections: 4 })] }, shape)
    yield* eventually(() => sink.received >= 100, "100 deliveries", 30_000)
    yield* realSleep(200)
    const added = usedBytes() - before
    expect(yield* queue.depth).toBeGreaterThan(depth - 200)
    return { added, peakLeased: state.peak }
  }))

describe("memory", () => {
  it.live("100,000 queued messages: the engine leases a bounded few, and uses no more memory than with 1,000", () =>
    Effect.gen(function*() {
      yield* footprint(100) // loads and compiles everything once, so the two runs compare like for like
      const shallow = yield* footprint(1_000)
      const deep = yield* footprint(100_000)
      // Prefetch (max(8, 2 × connections)), the router's lines (one per connection), what the actor
      // holds (two per connection, pipelined, and a margin: ceil(4 × 2.25)), and outcomes waiting for
      // their settlement batch (at most what the actor held).
      expect(deep.peakLeased).toBeLessThanOrEqual(8 + 4 + 9 + 9)
      // Had the engine leased the deep queue, it would hold 100,000 jobs: ~10 MB of bookkeeping alone.
      expect(deep.added - shallow.added).toBeLessThan(1024 * 1024)
    }), 90_000)
})
