import { monitorEventLoopDelay } from "node:perf_hooks"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import { Sink } from "@sluice/sink"
import type { DeliveryEvent, SluiceShape } from "../../src/index.js"
import type { LogLine } from "../support/engine.js"
import { eventually, message, realSleep, recordEvents, seqOf, startEngine, upstream } from "../support/engine.js"
import type { Fault } from "./faultyUpstream.js"
import * as FaultyUpstream from "./faultyUpstream.js"

interface Scenario {
  readonly fault: Fault
  /** The upstream's own settings the fault needs (TLS). */
  readonly settings?: Record<string, unknown>
  /**
   * The session set-up itself fails, so a probe (connect, greeting, EHLO) fails too and no message
   * is put on it again; otherwise the probe succeeds and later messages fail over as the first did.
   */
  readonly setupFails: boolean
  /** A message-level deferral, not the upstream's fault: the retry goes to another upstream. */
  readonly deferral?: boolean
}

const scenarios: ReadonlyArray<Scenario> = [
  { fault: "hang after connect", setupFails: true },
  { fault: "1 byte at a time", setupFails: true },
  { fault: "421 always", setupFails: true },
  { fault: "garbage greeting", setupFails: true },
  { fault: "TLS handshake failure", settings: { tls: "implicit", tlsVerify: false }, setupFails: true },
  { fault: "451 at MAIL", setupFails: false },
  { fault: "garbage mid-transaction", setupFails: false },
  { fault: "hang mid-DATA", setupFails: false },
  { fault: "close mid-DATA", setupFails: false },
  { fault: "451 at RCPT", setupFails: false, deferral: true },
  { fault: "451 after DATA", setupFails: false, deferral: true }
]

// Replies are waited for in real time: short timeouts keep a hanging upstream's cost to the test small.
const timeouts = { connect: "1 second", greeting: "500 millis", command: "500 millis", data: "1 second" }
const cooldown = "1 minute"
const retryDelay = "10 seconds"

const circuit = (events: ReadonlyArray<DeliveryEvent>, name: string) =>
  events.flatMap((e) => e._tag === "CircuitChanged" && e.upstream === name ? [e.state] : [])

/** Attempts handed to `name` after its circuit first opened. */
const attemptsAfterOpen = (events: ReadonlyArray<DeliveryEvent>, name: string) => {
  const opened = events.findIndex((e) => e._tag === "CircuitChanged" && e.upstream === name && e.state === "open")
  return opened < 0 ? 0 : events.slice(opened).filter((e) => e._tag === "Attempt" && e.upstream === name).length
}

/** Waits until every message is final, moving the clock on by a retry delay while some wait for one. */
const allFinal = (sluice: SluiceShape, ids: ReadonlyArray<string>, what: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 30_000
    for (;;) {
      const statuses: Array<string> = []
      for (const id of ids) statuses.push(Option.match(yield* Effect.orDie(sluice.status(id)), { onNone: () => "unknown", onSome: (r) => r.status }))
      if (statuses.every((s) => s === "delivered" || s === "bounced" || s === "failed")) return statuses
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}: ${statuses.join(",")}`))
      if (statuses.includes("deferred")) yield* TestClock.adjust(retryDelay)
      yield* realSleep(20)
    }
  })

const submit = (sluice: SluiceShape, from: number, count: number) =>
  sluice.submitBatch(Array.from({ length: count }, (_, i) => message(from + i))).pipe(
    Effect.map((results) => results.map((r) => r._tag === "Right" ? r.right.id : `refused: ${r.left.message}`))
  )

// Every scenario: a misbehaving upstream beside a healthy one, both active at the same weight.
describe("fault injection: a misbehaving upstream beside a healthy one", () => {
  for (const scenario of scenarios) {
    it.scoped(scenario.fault, () =>
      Effect.gen(function*() {
        const faulty = yield* FaultyUpstream.make(scenario.fault)
        const healthy = yield* Sink.make()
        const logs: Array<LogLine> = []
        const { sluice } = yield* startEngine({
          upstreams: [
            upstream("faulty", faulty, { maxConnections: 2, timeouts, ...scenario.settings }),
            upstream("healthy", healthy, { maxConnections: 2 })
          ],
          circuitBreaker: { failureThreshold: 3, cooldown },
          retry: { initialDelay: retryDelay, maxDelay: retryDelay, maxAttempts: 8 }
        }, undefined, logs)
        const events = yield* recordEvents(sluice)
        const loop = monitorEventLoopDelay({ resolution: 10 })
        loop.enable()
        const heapBefore = process.memoryUsage().heapUsed

        // Every accepted message ends delivered, at the healthy upstream: the faulty one accepts none.
        const ids = yield* submit(sluice, 0, 20)
        const statuses = yield* allFinal(sluice, ids, "the first 20")
        expect(statuses).toEqual(ids.map(() => "delivered"))
        expect(new Set(healthy.messages.map((m) => seqOf(m.data)))).toEqual(new Set(ids.map((_, i) => i)))
        expect(faulty.connections()).toBeGreaterThan(0)

        if (scenario.deferral === true) {
          // Deferred there, retried elsewhere: no message is tried on it twice.
          const deferredThere = events.flatMap((e) => e._tag === "Deferred" && e.upstream === "faulty" ? [e.id] : [])
          expect(deferredThere.length).toBeGreaterThan(0)
          expect(new Set(deferredThere).size).toBe(deferredThere.length)
        } else {
          // The upstream's fault: its circuit opened, and what it failed went elsewhere at once.
          expect(circuit(events, "faulty")[0]).toBe("open")
          expect(events.some((e) => e._tag === "Deferred")).toBe(false)

          // The cooldown ends: a probe, with no message on it.
          yield* TestClock.adjust(cooldown)
          yield* eventually(() => circuit(events, "faulty").length >= 3, "the probe to report")
          expect(circuit(events, "faulty").slice(0, 3)).toEqual(["open", "half-open", scenario.setupFails ? "open" : "closed"])
          if (scenario.setupFails) expect(attemptsAfterOpen(events, "faulty")).toBe(0)

          const more = yield* submit(sluice, 20, 10)
          expect(yield* allFinal(sluice, more, "10 more after the probe")).toEqual(more.map(() => "delivered"))
          if (scenario.setupFails) expect(attemptsAfterOpen(events, "faulty")).toBe(0)
        }

        // The process stayed healthy: nothing failed or bounced, nothing died, the event loop never
        // stalled (a generous bound: this is about blocking, not speed) and the heap did not run away.
        expect(events.some((e) => e._tag === "Failed" || e._tag === "Bounced")).toBe(false)
        expect(logs.filter((l) => l.level === "ERROR" || l.level === "FATAL").map((l) => l.message)).toEqual([])
        loop.disable()
        expect(loop.max / 1e6).toBeLessThan(1000)
        expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(100 * 2 ** 20)
      }))
  }
})
