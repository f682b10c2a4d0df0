import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Fiber, Random, Ref, Schedule, TestClock } from "effect"
import type { Decision, Policy } from "../src/Retry.js"
import * as Retry from "../src/Retry.js"

const seconds = (duration: Duration.Duration) => Duration.toMillis(duration) / 1_000
const delaysAfter = (policy: Policy, attempts: ReadonlyArray<number>) =>
  Effect.forEach(attempts, (attempt) => Effect.map(Retry.delayAfter(policy, attempt), seconds))
const oneToTen = Array.from({ length: 10 }, (_, i) => i + 1)

const policy = (overrides: Partial<Policy> = {}): Policy => ({ ...Retry.defaults, ...overrides })

describe("Retry", () => {
  it("has the contracted defaults", () => {
    expect(Retry.defaults.maxAttempts).toBe(8)
    expect(Duration.toMillis(Retry.defaults.initialDelay)).toBe(30_000)
    expect(Duration.toMillis(Retry.defaults.maxDelay)).toBe(3_600_000)
    expect(Duration.toMillis(Retry.defaults.maxAge)).toBe(3 * 24 * 3_600_000)
  })

  describe("delayAfter", () => {
    // Schedule.jittered draws r from Random and scales the delay by 0.8 × (1 - r) + 1.2 × r: pinning r
    // pins the jitter to its bounds and its middle.
    const jitters: ReadonlyArray<{
      readonly random: number
      readonly factor: string
      readonly delays: ReadonlyArray<number>
    }> = [
      { random: 0, factor: "0.8 (lowest)", delays: [24, 48, 96, 192, 384, 768, 1536, 3072, 3600, 3600] },
      { random: 0.5, factor: "1.0", delays: [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600] },
      { random: 1, factor: "1.2 (highest)", delays: [36, 72, 144, 288, 576, 1152, 2304, 3600, 3600, 3600] }
    ]

    it.effect.each(jitters)("doubles from initialDelay, capped at maxDelay, jitter × $factor", ({ delays, random }) =>
      Effect.gen(function*() {
        expect(yield* delaysAfter(Retry.defaults, oneToTen)).toEqual(delays)
      }).pipe(Effect.withRandom(Random.fixed([random]))))

    it.effect("stays within the jitter bounds of initialDelay × 2^(attempt - 1), never above maxDelay", () =>
      Effect.gen(function*() {
        const maxDelay = Duration.toMillis(Retry.defaults.maxDelay)
        for (let run = 0; run < 200; run++) {
          for (const attempt of oneToTen) {
            const delay = Duration.toMillis(yield* Retry.delayAfter(Retry.defaults, attempt))
            const nominal = 30_000 * 2 ** (attempt - 1)
            expect(delay).toBeGreaterThanOrEqual(Math.min(0.8 * nominal, maxDelay))
            expect(delay).toBeLessThanOrEqual(Math.min(1.2 * nominal, maxDelay))
            expect(Number.isInteger(delay)).toBe(true)
          }
        }
      }).pipe(Effect.withRandom(Random.make("sluice"))))

    it.effect("actually jitters: a burst of deferrals does not come back at one instant", () =>
      Effect.gen(function*() {
        const delays = yield* Effect.forEach(Array.from({ length: 100 }), () => Retry.delayAfter(Retry.defaults, 3))
        expect(new Set(delays.map(Duration.toMillis)).size).toBeGreaterThan(90)
      }).pipe(Effect.withRandom(Random.make("burst"))))

    it.effect("treats attempts below 1 as 1", () =>
      Effect.gen(function*() {
        expect(yield* delaysAfter(Retry.defaults, [0, -3, 1])).toEqual([30, 30, 30])
      }).pipe(Effect.withRandom(Random.fixed([0.5]))))

    it.effect("answers maxDelay for absurd attempt counts, without overflowing 2^n", () =>
      Effect.gen(function*() {
        expect(yield* delaysAfter(Retry.defaults, [50, 1_100, 1e9])).toEqual([3600, 3600, 3600])
      }).pipe(Effect.withRandom(Random.fixed([0, 0.5, 0.999]))))

    it.effect("follows a policy's own initialDelay and maxDelay", () =>
      Effect.gen(function*() {
        const custom = policy({ initialDelay: Duration.seconds(1), maxDelay: Duration.seconds(10) })
        expect(yield* delaysAfter(custom, [1, 2, 3, 4, 5, 6])).toEqual([1, 2, 4, 8, 10, 10])
        const zero = policy({ initialDelay: Duration.zero })
        expect(yield* delaysAfter(zero, [1, 5])).toEqual([0, 0])
      }).pipe(Effect.withRandom(Random.fixed([0.5]))))
  })

  describe("schedule", () => {
    it.effect("outputs the delays it waits, jitter and cap included", () =>
      Effect.gen(function*() {
        const custom = policy({ initialDelay: Duration.seconds(10), maxDelay: Duration.seconds(50) })
        const delays = yield* Schedule.run(Retry.schedule(custom), 0, Array.from({ length: 5 }))
        expect(Chunk.toReadonlyArray(delays).map(seconds)).toEqual([8, 16, 32, 50, 50])
      }).pipe(Effect.withRandom(Random.fixed([0]))))

    it.effect("drives Effect.retry on the Clock", () =>
      Effect.gen(function*() {
        const tries = yield* Ref.make(0)
        const fiber = yield* Effect.fork(
          Effect.retry(Effect.zipRight(Ref.update(tries, (n) => n + 1), Effect.fail("deferred")), {
            schedule: Retry.schedule(Retry.defaults),
            times: 3
          })
        )
        yield* TestClock.adjust("29 seconds")
        expect(yield* Ref.get(tries)).toBe(1)
        yield* TestClock.adjust("1 second")
        expect(yield* Ref.get(tries)).toBe(2)
        yield* TestClock.adjust("1 minute")
        expect(yield* Ref.get(tries)).toBe(3)
        yield* TestClock.adjust("2 minutes")
        expect(yield* Ref.get(tries)).toBe(4)
        expect(yield* Effect.flip(Fiber.join(fiber))).toBe("deferred")
      }).pipe(Effect.withRandom(Random.fixed([0.5]))))
  })

  describe("decide", () => {
    it.effect("retries at now + delayAfter(attempts)", () =>
      Effect.gen(function*() {
        yield* TestClock.adjust("1 hour")
        const now = yield* Clock.currentTimeMillis
        const decisions = yield* Effect.forEach([1, 2, 3, 7], (attempts) => Retry.decide(Retry.defaults, attempts, now))
        expect(decisions).toEqual([30, 60, 120, 1920].map((delay) => ({ _tag: "RetryAt", at: now + delay * 1_000 })))
      }).pipe(Effect.withRandom(Random.fixed([0.5]))))

    it.effect("gives up on attempts at maxAttempts", () =>
      Effect.gen(function*() {
        const decisions = yield* Effect.forEach([7, 8, 9, 100], (attempts) => Retry.decide(Retry.defaults, attempts, 0))
        expect(decisions.map((decision) => decision._tag === "GiveUp" ? decision.reason : decision._tag)).toEqual([
          "RetryAt",
          "attempts",
          "attempts",
          "attempts"
        ])
      }))

    it.effect("gives up on age when the next try would fall past submittedAt + maxAge", () =>
      Effect.gen(function*() {
        const short = policy({ maxAge: Duration.minutes(10) })
        // attempt 3 waits 120 s: from 8 minutes in that lands exactly on the deadline, which is still allowed
        yield* TestClock.adjust("8 minutes")
        expect(yield* Retry.decide(short, 3, 0)).toEqual({ _tag: "RetryAt", at: 600_000 })
        yield* TestClock.adjust("1 milli")
        expect(yield* Retry.decide(short, 3, 0)).toEqual({ _tag: "GiveUp", reason: "age" })
        // a later submission has time left
        expect(yield* Retry.decide(short, 3, 60_000)).toEqual({ _tag: "RetryAt", at: 600_001 })
      }).pipe(Effect.withRandom(Random.fixed([0.5]))))

    it.effect("gives up on age once the message is older than maxAge", () =>
      Effect.gen(function*() {
        yield* TestClock.adjust("3 days")
        expect(yield* Retry.decide(Retry.defaults, 1, 0)).toEqual({ _tag: "GiveUp", reason: "age" })
      }))

    it.effect("names attempts when both limits are past", () =>
      Effect.gen(function*() {
        yield* TestClock.adjust("4 days")
        expect(yield* Retry.decide(Retry.defaults, 8, 0)).toEqual({ _tag: "GiveUp", reason: "attempts" })
      }))

    const lives: ReadonlyArray<{
      readonly name: string
      readonly policy: Policy
      readonly retries: ReadonlyArray<number>
      readonly end: Decision
    }> = [
      {
        name: "the defaults give up after 8 attempts, about an hour after submission",
        policy: Retry.defaults,
        retries: [30, 90, 210, 450, 930, 1890, 3810],
        end: { _tag: "GiveUp", reason: "attempts" }
      },
      {
        name: "a 10-minute maxAge gives up on age first",
        policy: policy({ maxAge: Duration.minutes(10) }),
        retries: [30, 90, 210, 450],
        end: { _tag: "GiveUp", reason: "age" }
      }
    ]

    it.effect.each(lives)("over a message's life: $name", ({ end, policy, retries }) =>
      Effect.gen(function*() {
        const submittedAt = yield* Clock.currentTimeMillis
        const at: Array<number> = []
        for (let attempts = 1;; attempts++) {
          const decision = yield* Retry.decide(policy, attempts, submittedAt)
          if (decision._tag === "GiveUp") {
            expect(decision).toEqual(end)
            break
          }
          at.push((decision.at - submittedAt) / 1_000)
          yield* TestClock.setTime(decision.at)
        }
        expect(at).toEqual(retries)
      }).pipe(Effect.withRandom(Random.fixed([0.5]))))
  })
})
