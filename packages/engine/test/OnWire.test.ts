import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import { Sink } from "@sluice/sink"
import { eventually, message, startEngine, statusUntil, upstream } from "./support/engine.js"

describe("onWire", () => {
  it.live("counts the transactions written and not yet answered; mail held by a rate limit is not on the wire", () =>
    Effect.scoped(Effect.gen(function*() {
      // The sink answers each message's data 300 ms late: long enough to see the transaction out.
      const sink = yield* Sink.make({ record: "count", dataDelayMs: 300 })
      const { sluice } = yield* startEngine({
        upstreams: [upstream("a", sink, { maxConnections: 2, rateLimit: { messages: 1, per: "1 hour" } })]
      })
      expect(sluice.onWire()).toBe(0)
      const [first, second] = (yield* sluice.submitBatch([message(0), message(1)])).map(Either.getOrThrow)
      yield* eventually(() => sluice.onWire() === 1, "the first message's transaction on the wire")
      yield* statusUntil(sluice, first!.id, (record) => record.status === "delivered", "the first delivered")
      expect(sluice.onWire()).toBe(0)
      // The second waits for the rate limit's next hour, off the wire.
      const waiting = Option.getOrThrow(yield* sluice.status(second!.id))
      expect(waiting.status).not.toBe("delivered")
      expect(sluice.onWire()).toBe(0)
      expect(sink.received).toBe(1)
    })), 30_000)
})
