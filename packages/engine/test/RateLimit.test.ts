import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Context, Effect, Layer, Logger, LogLevel, TestClock } from "effect"
import { Config, MemoryQueue, RateLimit, Sluice } from "../src/index.js"
import { eventually, message, realSleep, startEngine, upstream } from "./support/engine.js"

const limited = (sink: Sink.Sink) => ({
  queue: { kind: "memory" as const },
  upstreams: [upstream("relay", sink, { rateLimit: { messages: 2, per: "10 seconds" } })]
})

describe("upstream rate limits", () => {
  it.scoped("by default a token bucket in the process: a burst of the limit, then one per interval", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(limited(sink))
      for (let i = 0; i < 4; i++) yield* sluice.submit(message(i))
      yield* eventually(() => sink.received === 2, "the burst")
      yield* realSleep(200)
      expect(sink.received).toBe(2)
      yield* TestClock.adjust("5 seconds")
      yield* eventually(() => sink.received === 3, "the next token")
      yield* TestClock.adjust("5 seconds")
      yield* eventually(() => sink.received === 4, "the last token")
    }))

  it.scoped("a RateLimit in the context is the one used, per upstream with its configured rate", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const made: Array<{ upstream: string; messages: number }> = []
      let passed = 0
      const counting: RateLimit.RateLimitShape = {
        make: (name, rate) =>
          Effect.sync(() => {
            made.push({ upstream: name, messages: rate.messages })
            return (effect) => Effect.zipRight(Effect.sync(() => passed++), effect)
          })
      }
      const config = yield* Config.decode(limited(sink)).pipe(Effect.orDie)
      const context = yield* Layer.build(
        Sluice.layer(config).pipe(
          Layer.provide(MemoryQueue.layer()),
          Layer.provide(Layer.succeed(RateLimit.RateLimit, counting))
        )
      ).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Error)))
      const sluice = Context.get(context, Sluice)
      for (let i = 0; i < 4; i++) yield* sluice.submit(message(i))
      // This limiter lets everything through at once: the local bucket (2 per 10 s) is not in the way.
      yield* eventually(() => sink.received === 4, "all four")
      expect(made).toEqual([{ upstream: "relay", messages: 2 }])
      expect(passed).toBe(4)
    }))
})
