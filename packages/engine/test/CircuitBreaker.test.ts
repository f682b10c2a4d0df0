import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref, TestClock } from "effect"
import type { State } from "../src/CircuitBreaker.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"

const failTimes = (breaker: CircuitBreaker.CircuitBreaker, n: number) => Effect.repeatN(breaker.onFailure, n - 1)

/** Asserts the circuit turns available exactly `millis` from now, leaving the clock at that moment. */
const expectOpenFor = (breaker: CircuitBreaker.CircuitBreaker, millis: number) =>
  Effect.gen(function*() {
    expect(yield* breaker.state).toBe("open")
    yield* TestClock.adjust(millis - 1)
    expect(yield* breaker.available).toBe(false)
    expect(yield* breaker.tryPass).toBe(false)
    yield* TestClock.adjust(1)
    expect(yield* breaker.available).toBe(true)
  })

/** A breaker whose state changes are recorded in order. */
const recorded = (options: CircuitBreaker.Options) =>
  Effect.gen(function*() {
    const changes = yield* Ref.make<ReadonlyArray<State>>([])
    const breaker = yield* CircuitBreaker.make({
      ...options,
      onChange: (state) => Ref.update(changes, (all) => [...all, state])
    })
    return { breaker, changes: Ref.get(changes) }
  })

describe("CircuitBreaker", () => {
  it.effect("lets everything through while closed", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 3, cooldown: "30 seconds" })
      expect(yield* breaker.state).toBe("closed")
      expect(yield* breaker.available).toBe(true)
      const passes = yield* Effect.all(Array.from({ length: 20 }, () => breaker.tryPass), { concurrency: "unbounded" })
      expect(passes.every((pass) => pass)).toBe(true)
    }))

  it.effect("opens after failureThreshold consecutive failures", () =>
    Effect.gen(function*() {
      const { breaker, changes } = yield* recorded({ failureThreshold: 3, cooldown: "30 seconds" })
      yield* failTimes(breaker, 2)
      expect(yield* breaker.state).toBe("closed")
      expect(yield* changes).toEqual([])
      yield* breaker.onFailure
      expect(yield* breaker.state).toBe("open")
      expect(yield* breaker.tryPass).toBe(false)
      expect(yield* breaker.available).toBe(false)
      expect(yield* changes).toEqual(["open"])
    }))

  it.effect("counts only consecutive failures: a success in between starts over", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 3, cooldown: "30 seconds" })
      for (let i = 0; i < 10; i++) {
        yield* failTimes(breaker, 2)
        yield* breaker.onSuccess
      }
      expect(yield* breaker.state).toBe("closed")
      yield* failTimes(breaker, 3)
      expect(yield* breaker.state).toBe("open")
    }))

  it.effect("treats a threshold below 1 as 1", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 0, cooldown: "1 second" })
      expect(yield* breaker.state).toBe("closed")
      yield* breaker.onFailure
      expect(yield* breaker.state).toBe("open")
    }))

  it.effect("stays open for the cooldown, then lets a probe through and turns half-open", () =>
    Effect.gen(function*() {
      const { breaker, changes } = yield* recorded({ failureThreshold: 1, cooldown: "30 seconds" })
      yield* breaker.onFailure
      yield* expectOpenFor(breaker, 30_000)
      // Looking does not take the probe: the circuit turns half-open only when tryPass does.
      expect(yield* breaker.available).toBe(true)
      expect(yield* breaker.state).toBe("open")
      expect(yield* breaker.tryPass).toBe(true)
      expect(yield* breaker.state).toBe("half-open")
      expect(yield* breaker.available).toBe(false)
      expect(yield* breaker.tryPass).toBe(false)
      expect(yield* changes).toEqual(["open", "half-open"])
    }))

  it.effect("lets exactly one probe through among many concurrent callers", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 1, cooldown: "10 seconds" })
      yield* breaker.onFailure
      yield* TestClock.adjust("10 seconds")
      const passes = yield* Effect.all(Array.from({ length: 100 }, () => breaker.tryPass), { concurrency: "unbounded" })
      expect(passes.filter((pass) => pass)).toHaveLength(1)
      // and time alone does not release another while the probe is out (within probeTimeout)
      yield* TestClock.adjust("99 seconds")
      expect(yield* breaker.tryPass).toBe(false)
    }))

  it.effect("closes when the probe succeeds", () =>
    Effect.gen(function*() {
      const { breaker, changes } = yield* recorded({ failureThreshold: 2, cooldown: "30 seconds" })
      yield* failTimes(breaker, 2)
      yield* TestClock.adjust("30 seconds")
      expect(yield* breaker.tryPass).toBe(true)
      yield* breaker.onSuccess
      expect(yield* breaker.state).toBe("closed")
      expect(yield* breaker.tryPass).toBe(true)
      expect(yield* breaker.tryPass).toBe(true)
      expect(yield* changes).toEqual(["open", "half-open", "closed"])
      // closed afresh: consecutive failures start from zero again
      yield* breaker.onFailure
      expect(yield* breaker.state).toBe("closed")
    }))

  it.effect("opens again for twice as long when the probe fails", () =>
    Effect.gen(function*() {
      const { breaker, changes } = yield* recorded({ failureThreshold: 1, cooldown: "30 seconds" })
      yield* breaker.onFailure
      yield* expectOpenFor(breaker, 30_000)
      expect(yield* breaker.tryPass).toBe(true)
      yield* breaker.onFailure
      yield* expectOpenFor(breaker, 60_000)
      expect(yield* changes).toEqual(["open", "half-open", "open"])
    }))

  const growth: ReadonlyArray<{
    readonly name: string
    readonly options: CircuitBreaker.Options
    readonly cooldowns: ReadonlyArray<number>
  }> = [
    {
      name: "doubles up to 10 × cooldown by default",
      options: { failureThreshold: 1, cooldown: "1 second" },
      cooldowns: [1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]
    },
    {
      name: "doubles up to maxCooldown",
      options: { failureThreshold: 1, cooldown: "1 second", maxCooldown: "5 seconds" },
      cooldowns: [1_000, 2_000, 4_000, 5_000, 5_000]
    },
    {
      name: "never goes below cooldown when maxCooldown is smaller",
      options: { failureThreshold: 1, cooldown: "4 seconds", maxCooldown: "1 second" },
      cooldowns: [4_000, 4_000, 4_000]
    }
  ]

  it.effect.each(growth)("after each failed probe, the cooldown $name", ({ cooldowns, options }) =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make(options)
      yield* breaker.onFailure
      for (const cooldown of cooldowns) {
        yield* expectOpenFor(breaker, cooldown)
        expect(yield* breaker.tryPass).toBe(true)
        yield* breaker.onFailure
      }
    }))

  it.effect("starts the cooldown over from the first step once a probe has succeeded", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 1, cooldown: "1 second" })
      yield* breaker.onFailure
      for (const cooldown of [1_000, 2_000, 4_000]) {
        yield* expectOpenFor(breaker, cooldown)
        yield* breaker.tryPass
        yield* breaker.onFailure
      }
      yield* TestClock.adjust("8 seconds")
      yield* breaker.tryPass
      yield* breaker.onSuccess
      yield* breaker.onFailure
      yield* expectOpenFor(breaker, 1_000)
    }))

  it.effect("ignores reports that arrive while open: they are from deliveries sent before the trip", () =>
    Effect.gen(function*() {
      const { breaker, changes } = yield* recorded({ failureThreshold: 1, cooldown: "30 seconds" })
      yield* breaker.onFailure
      yield* TestClock.adjust("20 seconds")
      yield* breaker.onSuccess
      expect(yield* breaker.state).toBe("open")
      yield* failTimes(breaker, 5)
      // neither closed nor stretched: the cooldown still ends 30 seconds after the trip
      yield* expectOpenFor(breaker, 10_000)
      expect(yield* changes).toEqual(["open"])
    }))

  it.effect("lets another probe through once probeTimeout passes without a report", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        failureThreshold: 1,
        cooldown: "1 second",
        probeTimeout: "1 minute"
      })
      yield* breaker.onFailure
      yield* TestClock.adjust("1 second")
      expect(yield* breaker.tryPass).toBe(true)
      // the probe's fiber was interrupted: it never reports
      yield* TestClock.adjust("59 seconds")
      expect(yield* breaker.available).toBe(false)
      expect(yield* breaker.tryPass).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(yield* breaker.available).toBe(true)
      const passes = yield* Effect.all(Array.from({ length: 10 }, () => breaker.tryPass), { concurrency: "unbounded" })
      expect(passes.filter((pass) => pass)).toHaveLength(1)
      expect(yield* breaker.state).toBe("half-open")
      yield* breaker.onSuccess
      expect(yield* breaker.state).toBe("closed")
    }))

  it.effect("presumes a probe lost after maxCooldown by default", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        failureThreshold: 1,
        cooldown: "1 second",
        maxCooldown: "20 seconds"
      })
      yield* breaker.onFailure
      yield* TestClock.adjust("1 second")
      expect(yield* breaker.tryPass).toBe(true)
      yield* TestClock.adjust("19999 millis")
      expect(yield* breaker.tryPass).toBe(false)
      yield* TestClock.adjust("1 milli")
      expect(yield* breaker.tryPass).toBe(true)
    }))

  it.effect("reports the full cycle closed → open → half-open → closed to onChange, in order", () =>
    Effect.gen(function*() {
      const { breaker, changes } = yield* recorded({ failureThreshold: 2, cooldown: "5 seconds" })
      yield* failTimes(breaker, 2)
      yield* TestClock.adjust("5 seconds")
      yield* breaker.tryPass
      yield* breaker.onFailure
      yield* TestClock.adjust("10 seconds")
      yield* Effect.all(Array.from({ length: 10 }, () => breaker.tryPass), { concurrency: "unbounded" })
      yield* Effect.all(Array.from({ length: 10 }, () => breaker.onSuccess), { concurrency: "unbounded" })
      expect(yield* changes).toEqual(["open", "half-open", "open", "half-open", "closed"])
      expect((yield* changes).map(CircuitBreaker.stateCode)).toEqual([2, 1, 2, 1, 0])
    }))

  it("codes states for the sluice_upstream_circuit_state gauge", () => {
    expect(CircuitBreaker.stateCode("closed")).toBe(0)
    expect(CircuitBreaker.stateCode("half-open")).toBe(1)
    expect(CircuitBreaker.stateCode("open")).toBe(2)
  })
})
