import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Sink } from "@sluice/sink"
import { eventually, message, startEngine, upstream } from "./support/engine.js"

const share = (part: number, whole: number) => part / whole

describe("balancing across upstreams", () => {
  it.live("weights 2:3 give 40% and 60% of 2,000 messages with both sinks saturated", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* Sink.make({ record: "count" })
      const b = yield* Sink.make({ record: "count" })
      const { sluice } = yield* startEngine({
        upstreams: [upstream("a", a, { weight: 2, maxConnections: 4 }), upstream("b", b, { weight: 3, maxConnections: 4 })]
      })
      // Submitted at once: far more than the 8 connections can carry, so both stay busy throughout.
      for (let batch = 0; batch < 2; batch++) {
        yield* sluice.submitBatch(Array.from({ length: 1000 }, (_, i) => message(batch * 1000 + i)))
      }
      yield* eventually(() => a.received + b.received === 2000, "2,000 deliveries")
      expect(share(a.received, 2000)).toBeGreaterThanOrEqual(0.37)
      expect(share(a.received, 2000)).toBeLessThanOrEqual(0.43)
    })), 60_000)

  it.live("weights 2:3 give 40% and 60% of 2,000 messages with both sinks idle", () =>
    Effect.scoped(Effect.gen(function*() {
      const a = yield* Sink.make({ record: "count" })
      const b = yield* Sink.make({ record: "count" })
      const { sluice } = yield* startEngine({
        upstreams: [upstream("a", a, { weight: 2, maxConnections: 4 }), upstream("b", b, { weight: 3, maxConnections: 4 })]
      })
      // Two at a time, each pair delivered before the next: neither upstream ever has a job waiting.
      for (let i = 0; i < 2000; i += 2) {
        yield* sluice.submitBatch([message(i), message(i + 1)])
        yield* eventually(() => a.received + b.received === i + 2, `delivery of ${i + 2}`)
      }
      expect(share(a.received, 2000)).toBeGreaterThanOrEqual(0.37)
      expect(share(a.received, 2000)).toBeLessThanOrEqual(0.43)
    })), 120_000)

  it.live("a slow upstream beside a fast one keeps its share: its jobs wait for it", () =>
    Effect.scoped(Effect.gen(function*() {
      const slow = yield* Sink.make({ record: "count", dataDelayMs: 200 })
      const fast = yield* Sink.make({ record: "count" })
      const { sluice } = yield* startEngine({
        upstreams: [upstream("slow", slow, { maxConnections: 2 }), upstream("fast", fast, { maxConnections: 2 })]
      })
      yield* sluice.submitBatch(Array.from({ length: 100 }, (_, i) => message(i)))
      yield* eventually(() => fast.received + slow.received === 100, "100 deliveries", 30_000)
      // Equal weights: smooth round-robin alternates, and nothing moves a turn to the other upstream.
      expect(slow.received).toBe(50)
      expect(fast.received).toBe(50)
    })), 60_000)

  it.live("with spill, a slow upstream does not hold back a fast one beside it", () =>
    Effect.scoped(Effect.gen(function*() {
      // Each message takes the slow sink 3 s: it can finish at most 2 per 3 s on its 2 connections.
      const slow = yield* Sink.make({ record: "count", dataDelayMs: 3_000 })
      const fast = yield* Sink.make({ record: "count" })
      const { sluice } = yield* startEngine({
        upstreams: [upstream("slow", slow, { maxConnections: 2, spill: true }), upstream("fast", fast, { maxConnections: 2 })]
      })
      yield* sluice.submitBatch(Array.from({ length: 300 }, (_, i) => message(i)))
      yield* eventually(() => fast.received + slow.received === 300, "300 deliveries", 30_000)
      // Without spill the slow one would keep 150 of them (225 s of work). With it, the slow one keeps
      // only what fit in its connections and mailbox at its turns; the fast one takes the rest.
      expect(slow.received).toBeLessThanOrEqual(10)
      expect(fast.received).toBeGreaterThanOrEqual(290)
    })), 60_000)
})
