import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Sink } from "@sluice/sink"
import { eventually, message, seqOf, startEngine, upstream } from "./support/engine.js"

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
})
void seqOf
