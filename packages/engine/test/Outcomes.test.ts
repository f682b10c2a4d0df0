import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, TestClock } from "effect"
import { Sink } from "@sluice/sink"
import { EngineMetrics } from "../src/index.js"
import type { LogLine } from "./support/engine.js"
import { eventually, message, recordEvents, startEngine, statusUntil, upstream } from "./support/engine.js"

// Time in these tests is TestClock's: the retry delays (30 s and more) pass when the test says so.
const config = (sink: Sink.Sink, retry: Record<string, unknown> = {}) => ({
  upstreams: [upstream("relay", sink, { maxConnections: 2 })],
  retry: { initialDelay: "30 seconds", maxDelay: "10 minutes", ...retry }
})

describe("delivery outcomes", () => {
  it.scoped("451 then 250: deferred, then delivered on a later attempt", () =>
    Effect.gen(function*() {
      const seen = new Set<string>()
      const sink = yield* Sink.make({
        onRcptTo: (address) => seen.has(address) ? undefined : (seen.add(address), { code: 451, text: "4.7.1 try later" })
      })
      const { sluice } = yield* startEngine(config(sink))
      const { id } = yield* sluice.submit(message(1))
      const deferred = yield* statusUntil(sluice, id, (r) => r.status === "deferred", "deferred")
      expect(deferred.attempts).toBe(1)
      expect(deferred.lastReply?.code).toBe(451)
      expect(deferred.recipients[0]?.status).toBe("deferred")
      expect(sink.received).toBe(0)
      // The next attempt is due 24–36 s later (30 s ± jitter).
      yield* TestClock.adjust("20 seconds")
      expect((yield* statusUntil(sluice, id, () => true, "status")).status).toBe("deferred")
      yield* TestClock.adjust("17 seconds")
      const delivered = yield* statusUntil(sluice, id, (r) => r.status === "delivered", "delivered")
      expect(delivered.attempts).toBe(2)
      expect(delivered.lastReply?.code).toBe(250)
      expect(sink.received).toBe(1)
    }))

  it.scoped("550: bounced at once, reply kept, no retry", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(config(sink))
      const { id } = yield* sluice.submit(message(1, ["nobody+550@example.net"]))
      const bounced = yield* statusUntil(sluice, id, (r) => r.status === "bounced", "bounced")
      expect(bounced.attempts).toBe(1)
      expect(bounced.lastReply).toMatchObject({ code: 550, enhanced: "5.1.1" })
      expect(bounced.recipients).toEqual([
        { address: "nobody+550@example.net", status: "bounced", reply: bounced.lastReply, category: "bad-mailbox" }
      ])
      yield* TestClock.adjust("10 minutes")
      expect((yield* statusUntil(sluice, id, () => true, "status")).attempts).toBe(1)
    }))

  it.scoped("attempts exhausted: failed", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(config(sink, { maxAttempts: 3 }))
      const { id } = yield* sluice.submit(message(1, ["busy+451@example.net"]))
      for (const attempt of [1, 2]) {
        const record = yield* statusUntil(sluice, id, (r) => r.status === "deferred" && r.attempts === attempt, `attempt ${attempt}`)
        // Exactly to the due time, so the next attempt cannot race ahead of the check above.
        yield* TestClock.setTime(record.nextAttemptAt!)
      }
      const failed = yield* statusUntil(sluice, id, (r) => r.status === "failed", "failed")
      expect(failed.attempts).toBe(3)
      expect(failed.lastReply?.code).toBe(451)
      expect(failed.recipients[0]?.status).toBe("failed")
    }))

  it.scoped("a partly refused multi-recipient message retries only the deferred recipient", () =>
    Effect.gen(function*() {
      const later = "later@example.net"
      let refusedLater = false
      const sink = yield* Sink.make({
        onRcptTo: (address) => {
          if (address.includes("+550")) return { code: 550, text: "5.1.1 no such user" }
          if (address === later && !refusedLater) {
            refusedLater = true
            return { code: 451, text: "4.3.0 try later" }
          }
          return undefined
        }
      })
      const { sluice } = yield* startEngine(config(sink))
      const { id } = yield* sluice.submit(message(1, ["ok@example.net", "gone+550@example.net", later]))
      const first = yield* statusUntil(sluice, id, (r) => r.status === "deferred", "deferred")
      expect(first.recipients.map((r) => [r.address, r.status, r.reply?.code])).toEqual([
        ["ok@example.net", "delivered", 250],
        ["gone+550@example.net", "bounced", 550],
        [later, "deferred", 451]
      ])
      yield* TestClock.adjust("40 seconds")
      const done = yield* statusUntil(sluice, id, (r) => r.status === "partial", "partial")
      expect(done.recipients.map((r) => r.status)).toEqual(["delivered", "bounced", "delivered"])
      yield* eventually(() => sink.received === 2, "two transactions")
      expect(sink.messages.map((m) => m.to)).toEqual([["ok@example.net"], [later]])
    }))

  it.scoped("one recipient always deferred, one accepted: partial, in the status, the event, the log and the metrics", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({
        onRcptTo: (address) => address.startsWith("busy") ? { code: 452, text: "4.2.2 mailbox full" } : undefined
      })
      const logs: Array<LogLine> = []
      const { sluice } = yield* startEngine(config(sink, { maxAttempts: 2 }), undefined, logs)
      const events = yield* recordEvents(sluice)
      yield* EngineMetrics.flush
      const failedBefore = yield* Metric.value(EngineMetrics.recipients("failed", "default"))
      const partialBefore = yield* Metric.value(EngineMetrics.outcome.partial)
      const { id } = yield* sluice.submit(message(1, ["ok@example.net", "busy@example.net"]))
      const deferred = yield* statusUntil(sluice, id, (r) => r.status === "deferred", "deferred")
      expect(deferred.recipients.map((r) => [r.status, r.category])).toEqual([["delivered", undefined], ["deferred", "mailbox-full"]])
      yield* TestClock.setTime(deferred.nextAttemptAt!)
      const done = yield* statusUntil(sluice, id, (r) => r.status === "partial", "partial")
      expect(done.recipients).toEqual([
        { address: "ok@example.net", status: "delivered", reply: expect.objectContaining({ code: 250 }) },
        { address: "busy@example.net", status: "failed", reply: { code: 452, enhanced: "4.2.2", text: expect.stringContaining("mailbox full") }, category: "mailbox-full" }
      ])
      // Only the deferred recipient was tried again.
      expect(sink.messages.map((m) => m.to)).toEqual([["ok@example.net"]])

      yield* eventually(() => events.some((e) => e._tag === "Partial"), "the Partial event")
      const event = events.find((e) => e._tag === "Partial")!
      expect(event).toMatchObject({ id, stream: "default", attempt: 2, category: "mailbox-full", recipients: done.recipients })

      const deferral = logs.find((l) => l.message.startsWith("deferred"))!
      expect(deferral).toMatchObject({ level: "INFO", annotations: { messageId: id, attempt: 1, category: "mailbox-full", stream: "default" } })
      const line = logs.find((l) => l.message === "partial")!
      expect(line.level).toBe("INFO")
      expect(line.annotations).toMatchObject({
        messageId: id,
        upstream: "relay",
        stream: "default",
        attempt: 2,
        code: 452,
        enhanced: "4.2.2",
        category: "mailbox-full",
        recipients: [
          { address: "ok@example.net", status: "delivered", code: 250 },
          { address: "busy@example.net", status: "failed", code: 452, enhanced: "4.2.2", category: "mailbox-full" }
        ]
      })
      yield* EngineMetrics.flush
      expect((yield* Metric.value(EngineMetrics.recipients("failed", "default"))).count - failedBefore.count).toBe(1)
      expect((yield* Metric.value(EngineMetrics.outcome.partial)).count - partialBefore.count).toBe(1)
    }))

  it.scoped("a delivery is logged at info with the stable fields", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const logs: Array<LogLine> = []
      const { sluice } = yield* startEngine(config(sink), undefined, logs)
      const { id } = yield* sluice.submit(message(1))
      yield* statusUntil(sluice, id, (r) => r.status === "delivered", "delivered")
      yield* eventually(() => logs.some((l) => l.message === "delivered"), "the delivered line")
      expect(logs.find((l) => l.message === "delivered")).toMatchObject({
        level: "INFO",
        annotations: {
          messageId: id,
          upstream: "relay",
          stream: "default",
          attempt: 1,
          code: 250,
          durationMs: expect.any(Number),
          recipients: [{ address: "r1@example.net", status: "delivered", code: 250 }]
        }
      })
    }))

  it.scoped("an idempotency key returns the first id", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(config(sink))
      const first = yield* sluice.submit({ ...message(1), idempotencyKey: "order-1" })
      const again = yield* sluice.submit({ ...message(1), idempotencyKey: "order-1" })
      expect(again).toEqual({ id: first.id, status: "queued", duplicate: true })
      yield* statusUntil(sluice, first.id, (r) => r.status === "delivered", "delivered")
      expect(sink.received).toBe(1)
    }))
})
