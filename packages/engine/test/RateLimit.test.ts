import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Context, Duration, Effect, Either, Layer, Logger, LogLevel, TestClock } from "effect"
import { Config, MemoryQueue, RateLimit, Sluice } from "../src/index.js"
import { eventually, message, upstream } from "./support/engine.js"

/** The most of `times` that fall in one half-open window [t, t + window). */
const mostInAnyWindow = (times: ReadonlyArray<number>, window: number) => {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let first = 0, last = 0; last < sorted.length; last++) {
    while (sorted[last]! - sorted[first]! >= window) first++
    most = Math.max(most, last - first + 1)
  }
  return most
}

const rateOf = (messages: number, perMs: number, burst?: number): RateLimit.Rate => ({
  messages,
  per: Duration.millis(perMs),
  ...(burst === undefined ? {} : { burst })
})

/**
 * Deliveries arriving in groups (`[at, count]`, in time order) at one gate, asked as an actor asks:
 * each start it grants is noted at the Clock's time; when it grants none, the asker waits for
 * `whenReady` and asks again. The start times in order.
 */
const startsOf = (rate: RateLimit.Rate, arrivals: ReadonlyArray<readonly [number, number]>) =>
  Effect.gen(function*() {
    const gate = yield* RateLimit.makeLocal(rate)
    const clock = yield* Effect.clock
    const starts: Array<number> = []
    let waiting = 0
    let asked = false
    const pump = () => {
      asked = false
      while (waiting > 0 && gate.tryStart(clock.unsafeCurrentTimeMillis())) {
        starts.push(clock.unsafeCurrentTimeMillis())
        waiting--
      }
      if (waiting > 0 && !asked) {
        asked = true
        gate.whenReady(clock.unsafeCurrentTimeMillis(), pump)
      }
    }
    for (const [at, count] of arrivals) {
      yield* TestClock.setTime(at)
      waiting += count
      pump()
    }
    yield* TestClock.adjust("1 hour")
    return starts
  })

// Rates in, exact start times out (in the manner of the Balancer's table): burst 1 spaces starts per/N
// apart from the first one on; a burst M starts M at once, and the window still caps any [t, t + per).
const cases: ReadonlyArray<{
  readonly name: string
  readonly rate: RateLimit.Rate
  readonly arrivals: ReadonlyArray<readonly [number, number]>
  readonly starts: ReadonlyArray<number>
}> = [
  {
    name: "4 per second: one every 250 ms from the first on, no bucket to spend first",
    rate: rateOf(4, 1000),
    arrivals: [[0, 10]],
    starts: [0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2250]
  },
  {
    name: "burst 3 of 4 per second: three at once, the fourth 250 ms on, then the window waits",
    rate: rateOf(4, 1000, 3),
    arrivals: [[0, 12]],
    starts: [0, 0, 0, 250, 1000, 1000, 1000, 1250, 2000, 2000, 2000, 2250]
  },
  {
    name: "burst 4 of 4 per second: four at once, once a second",
    rate: rateOf(4, 1000, 4),
    arrivals: [[0, 9]],
    starts: [0, 0, 0, 0, 1000, 1000, 1000, 1000, 2000]
  },
  {
    name: "a burst above the rate is the rate: never more than 4 in a second",
    rate: rateOf(4, 1000, 10),
    arrivals: [[0, 9]],
    starts: [0, 0, 0, 0, 1000, 1000, 1000, 1000, 2000]
  },
  {
    name: "a bucket refilled by 900 ms would let a fifth start; the window does not",
    rate: rateOf(4, 1000, 4),
    arrivals: [[0, 4], [900, 1]],
    starts: [0, 0, 0, 0, 1000]
  },
  {
    name: "after an idle spell the burst is back, and the window holds across it",
    rate: rateOf(4, 1000, 2),
    arrivals: [[0, 5], [5000, 5]],
    starts: [0, 0, 250, 500, 1000, 5000, 5000, 5250, 5500, 6000]
  },
  {
    name: "callers arriving apart wait only as long as the spacing asks",
    rate: rateOf(2, 1000),
    arrivals: [[0, 1], [100, 1], [1300, 1], [1400, 1]],
    starts: [0, 500, 1300, 1800]
  },
  {
    name: "100 per second, 400 messages: 3.99 seconds from the first start to the last",
    rate: rateOf(100, 1000),
    arrivals: [[0, 400]],
    starts: Array.from({ length: 400 }, (_, i) => i * 10)
  }
]

describe("the local rate gate (TestClock)", () => {
  describe.each(cases)("$name", ({ arrivals, rate, starts: expected }) => {
    it.scoped("grants starts exactly on their slots, never more than N in any window", () =>
      Effect.gen(function*() {
        const starts = yield* startsOf(rate, arrivals)
        expect(starts).toEqual(expected)
        expect(mostInAnyWindow(starts, Duration.toMillis(rate.per))).toBeLessThanOrEqual(rate.messages)
      }))
  })

  it.scoped("grants a free slot at once, and says when the next one opens", () =>
    Effect.gen(function*() {
      const gate = yield* RateLimit.makeLocal(rateOf(10, 1000, 2))
      expect(gate.tryStart(0)).toBe(true)
      expect(gate.tryStart(0)).toBe(true)
      expect(gate.tryStart(0)).toBe(false)
      let ready = 0
      gate.whenReady(0, () => ready++)
      yield* TestClock.adjust(99)
      expect(ready).toBe(0)
      yield* TestClock.adjust(1)
      expect(ready).toBe(1)
      expect(gate.tryStart(100)).toBe(true)
    }))
})

describe("rate limits through the engine", () => {
  it.scoped("400 messages at 100 per second: 3.0 to 4.5 s of clock time, never more than 100 starts in a second", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      // The local limiter, noting the Clock's time when each delivery it lets through starts.
      const starts: Array<number> = []
      const recording: RateLimit.RateLimitShape = {
        make: (name, rate) =>
          Effect.map(RateLimit.local.make(name, rate), (gate) => ({
            tryStart: (now) => gate.tryStart(now) && starts.push(now) > 0,
            whenReady: gate.whenReady
          }))
      }
      const config = yield* Config.decode({
        upstreams: [upstream("relay", sink, { rateLimit: { messages: 100, per: "1 second" } })]
      }).pipe(Effect.orDie)
      const context = yield* Layer.build(
        Sluice.layer(config).pipe(
          Layer.provide(MemoryQueue.layer()),
          Layer.provide(Layer.succeed(RateLimit.RateLimit, recording))
        )
      ).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Error)))
      const sluice = Context.get(context, Sluice)
      const results = yield* sluice.submitBatch(Array.from({ length: 400 }, (_, i) => message(i)))
      expect(results.filter(Either.isRight).length).toBe(400)
      // The clock moves five slots (50 ms) at a time; between moves, every delivery started has reached
      // the sink over its real socket. Ten workers and at most five starts a step: the line never empties.
      while (sink.received < 400) {
        yield* TestClock.adjust("50 millis")
        yield* eventually(() => sink.received >= starts.length, `${starts.length} deliveries at the sink`)
      }
      expect(starts.length).toBe(400)
      const elapsed = starts.at(-1)! - starts[0]!
      expect(elapsed).toBeGreaterThanOrEqual(3_000)
      expect(elapsed).toBeLessThanOrEqual(4_500)
      expect(mostInAnyWindow(starts, 1_000)).toBeLessThanOrEqual(100)
    }), 60_000)

  it.scoped("a RateLimit in the context is the one used, per upstream with its configured rate and burst", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const made: Array<{ upstream: string; rate: RateLimit.Rate }> = []
      let passed = 0
      const counting: RateLimit.RateLimitShape = {
        make: (name, rate) =>
          Effect.sync(() => {
            made.push({ upstream: name, rate })
            return { tryStart: () => ++passed > 0, whenReady: () => {} }
          })
      }
      const config = yield* Config.decode({
        upstreams: [upstream("relay", sink, { rateLimit: { messages: 2, per: "10 seconds", burst: 2 } })]
      }).pipe(Effect.orDie)
      const context = yield* Layer.build(
        Sluice.layer(config).pipe(
          Layer.provide(MemoryQueue.layer()),
          Layer.provide(Layer.succeed(RateLimit.RateLimit, counting))
        )
      ).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Error)))
      const sluice = Context.get(context, Sluice)
      for (let i = 0; i < 4; i++) yield* sluice.submit(message(i))
      // This limiter lets everything through at once: the local one (2 per 10 s) is not in the way.
      yield* eventually(() => sink.received === 4, "all four")
      expect(made).toEqual([{ upstream: "relay", rate: { messages: 2, per: Duration.seconds(10), burst: 2 } }])
      expect(passed).toBe(4)
    }))
})
