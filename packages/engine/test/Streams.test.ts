import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Sink } from "@sluice/sink"
import { MemoryQueue, messageId } from "../src/index.js"
import { eventually, startEngine, upstream } from "./support/engine.js"

const raw = (stream: string, i: number) => Buffer.from(`Subject: ${stream} ${i}\r\nX-Stream: ${stream}\r\n\r\nbody\r\n`)

describe("weighted fair queuing across streams", () => {
  it.live("two backlogged streams weighted 8 and 1 get 8:1 of the deliveries", () =>
    Effect.scoped(Effect.gen(function*() {
      const sink = yield* Sink.make()
      const queue = yield* MemoryQueue.make()
      // Both streams are backlogged before the engine starts, the bulk one first.
      for (const stream of ["bulk", "transactional"]) {
        yield* queue.enqueue(Array.from({ length: 900 }, (_, i) => ({
          id: messageId(Date.now()),
          from: "sender@example.com",
          to: [`r${i}@example.net`],
          content: raw(stream, i),
          stream
        })))
      }
      yield* startEngine({
        upstreams: [upstream("only", sink, { maxConnections: 1 })],
        streams: { transactional: { weight: 8 }, bulk: { weight: 1 } }
      }, queue)
      yield* eventually(() => sink.received >= 450, "450 deliveries")
      const first = sink.messages.slice(0, 450)
      const transactional = first.filter((m) => m.data.includes("X-Stream: transactional")).length
      // 8:1 of 450 is 400 : 50; within ±10%.
      expect(transactional).toBeGreaterThanOrEqual(360)
      expect(transactional).toBeLessThanOrEqual(440)
      // Nobody starves: the bulk stream is served all along, not only at the end.
      const bulkInFirst90 = sink.messages.slice(0, 90).filter((m) => m.data.includes("X-Stream: bulk")).length
      expect(bulkInFirst90).toBeGreaterThanOrEqual(5)
    })), 60_000)

  it.live("an idle stream's share goes to the others", () =>
    Effect.scoped(Effect.gen(function*() {
      const sink = yield* Sink.make({ record: "count" })
      const queue = yield* MemoryQueue.make()
      yield* queue.enqueue(Array.from({ length: 300 }, (_, i) => ({
        id: messageId(Date.now()),
        from: "sender@example.com",
        to: [`r${i}@example.net`],
        content: raw("bulk", i),
        stream: "bulk"
      })))
      yield* startEngine({
        upstreams: [upstream("only", sink, { maxConnections: 2 })],
        streams: { transactional: { weight: 8 }, bulk: { weight: 1 } }
      }, queue)
      // With the heavier stream idle, the bulk stream gets everything, not a ninth of it.
      yield* eventually(() => sink.received === 300, "all 300 bulk messages")
      expect(sink.received).toBe(300)
    })), 60_000)
})
