import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Sink } from "@sluice/sink"
import { eventually, message, startEngine, upstream } from "./support/engine.js"

describe("balancing across upstreams", () => {
  it.live("weights 2:3 give 40% and 60% of 2,000 messages", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* Sink.make({ record: "count" })
      const b = yield* Sink.make({ record: "count" })
      const { sluice } = yield* startEngine({
        queue: { kind: "memory" },
        upstreams: [upstream("a", a, { weight: 2, maxConnections: 4 }), upstream("b", b, { weight: 3, maxConnections: 4 })]
      })
      for (let batch = 0; batch < 2; batch++) {
        yield* sluice.submitBatch(Array.from({ length: 1000 }, (_, i) => message(batch * 1000 + i)))
      }
      yield* eventually(() => a.received + b.received === 2000, "2,000 deliveries")
      expect(a.received / 2000).toBeGreaterThanOrEqual(0.37)
      expect(a.received / 2000).toBeLessThanOrEqual(0.43)
    })), 60_000)

  it.live("a slow upstream does not hold back a fast one beside it", () =>
    Effect.scoped(Effect.gen(function*() {
      // Each message takes the slow sink 3 s: it can finish at most 2 per 3 s on its 2 connections.
      const slow = yield* Sink.make({ record: "count", dataDelayMs: 3_000 })
      const fast = yield* Sink.make({ record: "count" })
      const { sluice } = yield* startEngine({
        queue: { kind: "memory" },
        upstreams: [upstream("slow", slow, { maxConnections: 2 }), upstream("fast", fast, { maxConnections: 2 })]
      })
      yield* sluice.submitBatch(Array.from({ length: 300 }, (_, i) => message(i)))
      yield* eventually(() => fast.received + slow.received === 300, "300 deliveries", 30_000)
      // Equal weights would give the slow one 150. It keeps only what its connections had already
      // started (and what landed in its mailbox before it was timed as slow); the fast one takes the rest.
      expect(slow.received).toBeLessThanOrEqual(10)
      expect(fast.received).toBeGreaterThanOrEqual(290)
    })), 60_000)
})
