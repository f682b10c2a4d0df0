import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope, TestClock } from "effect"
import { Sink } from "@sluice/sink"
import type { DeliveryEvent } from "../src/index.js"
import { eventually, message, recordEvents, seqOf, startEngine, upstream } from "./support/engine.js"

/** A sink that can be stopped and started again on the same port. */
const restartableSink = (options: Sink.SinkOptions = {}) =>
  Effect.gen(function*() {
    let scope = yield* Scope.make()
    let sink = yield* Sink.make(options).pipe(Scope.extend(scope))
    const port = sink.port
    const received: Array<Sink.ReceivedMessage> = []
    let before = 0
    return {
      get current() {
        return sink
      },
      port,
      host: sink.host,
      /** Everything received across restarts. */
      get all() {
        return before === 0 ? sink.messages : [...received, ...sink.messages]
      },
      // Closing lets transactions under way finish; what they deliver counts too.
      stop: Effect.suspend(() => Scope.close(scope, Exit.void)).pipe(Effect.zipRight(Effect.sync(() => {
        received.push(...sink.messages)
        before = received.length
      }))),
      start: Effect.gen(function*() {
        scope = yield* Scope.make()
        sink = yield* Sink.make({ ...options, port }).pipe(Scope.extend(scope))
      })
    }
  })

const circuit = (events: ReadonlyArray<DeliveryEvent>, upstream: string) =>
  events.flatMap((e) => e._tag === "CircuitChanged" && e.upstream === upstream ? [e.state] : [])

// Time is TestClock's: a circuit's cooldown passes when the test says so, not after a guessed sleep.
describe("failover", () => {
  it.scoped("a sink stopped mid-run: everything is still delivered, and its circuit opens, probes and closes", () =>
    Effect.gen(function*() {
      const a = yield* Sink.make()
      const b = yield* restartableSink()
      const { sluice } = yield* startEngine({
        upstreams: [upstream("a", a, { maxConnections: 2 }), upstream("b", b, { maxConnections: 2 })],
        circuitBreaker: { failureThreshold: 2, cooldown: "300 millis" }
      })
      const events = yield* recordEvents(sluice)
      const first = yield* sluice.submitBatch(Array.from({ length: 400 }, (_, i) => message(i)))
      yield* eventually(() => b.current.received >= 40, "b to take some traffic")
      yield* b.stop

      const delivered = () => new Set([...a.messages, ...b.all].map((m) => seqOf(m.data)))
      yield* eventually(() => delivered().size === 400, "all 400 delivered after b stopped")
      // The clock has not moved: b's circuit opened once and has not been probed since.
      yield* eventually(() => circuit(events, "b").length > 0, "b's circuit to change")
      expect(circuit(events, "b")).toEqual(["open"])
      expect(events.some((e) => e._tag === "Failed" || e._tag === "Bounced")).toBe(false)

      yield* b.start
      yield* TestClock.adjust("300 millis")
      // The next round probes b with a connection of its own (no message on it); it comes up, and b is back in rotation.
      let next = 400
      while (circuit(events, "b").at(-1) !== "closed" && next < 410) {
        yield* sluice.submit(message(next++))
        yield* eventually(() => delivered().size === next, `message ${next - 1} delivered`)
      }
      expect(circuit(events, "b")).toEqual(["open", "half-open", "closed"])
      const before = b.current.received
      yield* sluice.submitBatch(Array.from({ length: 100 }, (_, i) => message(next + i)))
      yield* eventually(() => delivered().size === next + 100, "the last 100 delivered")
      // Back at its weight: half of what came after.
      expect(b.current.received - before).toBeGreaterThanOrEqual(49)
      for (const result of first) {
        if (result._tag === "Left") throw result.left
        const record = yield* sluice.status(result.right.id)
        expect(record._tag === "Some" && record.value.status).toBe("delivered")
      }
    }))

  it.scoped("all actives down: the standby delivers; actives back: they take over", () =>
    Effect.gen(function*() {
      const active = yield* restartableSink()
      const standby = yield* Sink.make()
      const { sluice } = yield* startEngine({
        upstreams: [upstream("active", active, { maxConnections: 2 }), upstream("standby", standby, { role: "standby" })],
        circuitBreaker: { failureThreshold: 1, cooldown: "300 millis" }
      })
      const events = yield* recordEvents(sluice)
      yield* sluice.submitBatch(Array.from({ length: 20 }, (_, i) => message(i)))
      yield* eventually(() => active.current.received === 20, "the active to take everything")
      expect(standby.received).toBe(0)

      yield* active.stop
      yield* sluice.submitBatch(Array.from({ length: 20 }, (_, i) => message(20 + i)))
      yield* eventually(() => standby.received === 20, "the standby to deliver while the active is down")
      expect(circuit(events, "active")).toEqual(["open"])

      yield* active.start
      yield* TestClock.adjust("300 millis")
      yield* sluice.submitBatch(Array.from({ length: 40 }, (_, i) => message(40 + i)))
      yield* eventually(() => active.current.received + standby.received === 60, "the last 40")
      // Their first round probes the active (a connection, no message); while the probe is out the
      // standby may take a few; once it closes, the active takes the rest.
      expect(active.current.received).toBeGreaterThanOrEqual(30)
      expect(circuit(events, "active")).toEqual(["open", "half-open", "closed"])
    }))
})
