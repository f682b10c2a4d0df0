import { describe, expect, it } from "@effect/vitest"
import { Duration } from "effect"
import type { State } from "../src/internal/CircuitBreaker.js"
import * as CircuitBreaker from "../src/internal/CircuitBreaker.js"

/** The breaker takes its time from the caller: a clock the test moves by hand. */
const clock = () => {
  let now = 1_000_000
  return {
    get now() {
      return now
    },
    adjust: (by: Duration.DurationInput) => {
      now += Duration.toMillis(Duration.decode(by))
    }
  }
}
type Clock = ReturnType<typeof clock>

const make = (options: CircuitBreaker.Options) => {
  const changes: Array<State> = []
  const breaker = new CircuitBreaker.CircuitBreaker({ ...options, onChange: (state) => changes.push(state) })
  return { breaker, changes, time: clock() }
}

const failTimes = (breaker: CircuitBreaker.CircuitBreaker, time: Clock, n: number) => {
  for (let i = 0; i < n; i++) breaker.onFailure(time.now)
}

/** Asserts the circuit turns available exactly `millis` from now, leaving the clock at that moment. */
const expectOpenFor = (breaker: CircuitBreaker.CircuitBreaker, time: Clock, millis: number) => {
  expect(breaker.state).toBe("open")
  time.adjust(millis - 1)
  expect(breaker.available(time.now)).toBe(false)
  expect(breaker.tryPass(time.now)).toBe(false)
  time.adjust(1)
  expect(breaker.available(time.now)).toBe(true)
}

describe("CircuitBreaker", () => {
  it("lets everything through while closed", () => {
      const { breaker, time } = make({ failureThreshold: 3, cooldown: "30 seconds" })
      expect(breaker.state).toBe("closed")
      expect(breaker.available(time.now)).toBe(true)
      const passes = Array.from({ length: 20 }, () => breaker.tryPass(time.now))
      expect(passes.every((pass) => pass)).toBe(true)
  })

  it("opens after failureThreshold consecutive failures", () => {
      const { breaker, changes, time } = make({ failureThreshold: 3, cooldown: "30 seconds" })
      failTimes(breaker, time, 2)
      expect(breaker.state).toBe("closed")
      expect(changes).toEqual([])
      breaker.onFailure(time.now)
      expect(breaker.state).toBe("open")
      expect(breaker.tryPass(time.now)).toBe(false)
      expect(breaker.available(time.now)).toBe(false)
      expect(changes).toEqual(["open"])
  })

  it("counts only consecutive failures: a success in between starts over", () => {
      const { breaker, time } = make({ failureThreshold: 3, cooldown: "30 seconds" })
      for (let i = 0; i < 10; i++) {
        failTimes(breaker, time, 2)
        breaker.onSuccess()
      }
      expect(breaker.state).toBe("closed")
      failTimes(breaker, time, 3)
      expect(breaker.state).toBe("open")
  })

  it("treats a threshold below 1 as 1", () => {
      const { breaker, time } = make({ failureThreshold: 0, cooldown: "1 second" })
      expect(breaker.state).toBe("closed")
      breaker.onFailure(time.now)
      expect(breaker.state).toBe("open")
  })

  it("stays open for the cooldown, then lets a probe through and turns half-open", () => {
      const { breaker, changes, time } = make({ failureThreshold: 1, cooldown: "30 seconds" })
      breaker.onFailure(time.now)
      expectOpenFor(breaker, time, 30_000)
      // Looking does not take the probe: the circuit turns half-open only when tryPass does.
      expect(breaker.available(time.now)).toBe(true)
      expect(breaker.state).toBe("open")
      expect(breaker.tryPass(time.now)).toBe(true)
      expect(breaker.state).toBe("half-open")
      expect(breaker.available(time.now)).toBe(false)
      expect(breaker.tryPass(time.now)).toBe(false)
      expect(changes).toEqual(["open", "half-open"])
  })

  it("lets exactly one probe through among many callers", () => {
      const { breaker, time } = make({ failureThreshold: 1, cooldown: "10 seconds" })
      breaker.onFailure(time.now)
      time.adjust("10 seconds")
      const passes = Array.from({ length: 100 }, () => breaker.tryPass(time.now))
      expect(passes.filter((pass) => pass)).toHaveLength(1)
      // and time alone does not release another while the probe is out (within probeTimeout)
      time.adjust("99 seconds")
      expect(breaker.tryPass(time.now)).toBe(false)
  })

  it("closes when the probe succeeds", () => {
      const { breaker, changes, time } = make({ failureThreshold: 2, cooldown: "30 seconds" })
      failTimes(breaker, time, 2)
      time.adjust("30 seconds")
      expect(breaker.tryPass(time.now)).toBe(true)
      breaker.onSuccess()
      expect(breaker.state).toBe("closed")
      expect(breaker.tryPass(time.now)).toBe(true)
      expect(breaker.tryPass(time.now)).toBe(true)
      expect(changes).toEqual(["open", "half-open", "closed"])
      // closed afresh: consecutive failures start from zero again
      breaker.onFailure(time.now)
      expect(breaker.state).toBe("closed")
  })

  it("opens again for twice as long when the probe fails", () => {
      const { breaker, changes, time } = make({ failureThreshold: 1, cooldown: "30 seconds" })
      breaker.onFailure(time.now)
      expectOpenFor(breaker, time, 30_000)
      expect(breaker.tryPass(time.now)).toBe(true)
      breaker.onFailure(time.now)
      expectOpenFor(breaker, time, 60_000)
      expect(changes).toEqual(["open", "half-open", "open"])
  })

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

  it.each(growth)("after each failed probe, the cooldown $name", ({ cooldowns, options }) => {
      const { breaker, time } = make(options)
      breaker.onFailure(time.now)
      for (const cooldown of cooldowns) {
        expectOpenFor(breaker, time, cooldown)
        expect(breaker.tryPass(time.now)).toBe(true)
        breaker.onFailure(time.now)
      }
  })

  it("starts the cooldown over from the first step once a probe has succeeded", () => {
      const { breaker, time } = make({ failureThreshold: 1, cooldown: "1 second" })
      breaker.onFailure(time.now)
      for (const cooldown of [1_000, 2_000, 4_000]) {
        expectOpenFor(breaker, time, cooldown)
        breaker.tryPass(time.now)
        breaker.onFailure(time.now)
      }
      time.adjust("8 seconds")
      breaker.tryPass(time.now)
      breaker.onSuccess()
      breaker.onFailure(time.now)
      expectOpenFor(breaker, time, 1_000)
  })

  it("ignores reports that arrive while open: they are from deliveries sent before the trip", () => {
      const { breaker, changes, time } = make({ failureThreshold: 1, cooldown: "30 seconds" })
      breaker.onFailure(time.now)
      time.adjust("20 seconds")
      breaker.onSuccess()
      expect(breaker.state).toBe("open")
      failTimes(breaker, time, 5)
      // neither closed nor stretched: the cooldown still ends 30 seconds after the trip
      expectOpenFor(breaker, time, 10_000)
      expect(changes).toEqual(["open"])
  })

  it("lets another probe through once probeTimeout passes without a report", () => {
      const { breaker, time } = make({
        failureThreshold: 1,
        cooldown: "1 second",
        probeTimeout: "1 minute"
      })
      breaker.onFailure(time.now)
      time.adjust("1 second")
      expect(breaker.tryPass(time.now)).toBe(true)
      // the probe's delivery was interrupted: it never reports
      time.adjust("59 seconds")
      expect(breaker.available(time.now)).toBe(false)
      expect(breaker.tryPass(time.now)).toBe(false)
      time.adjust("1 second")
      expect(breaker.available(time.now)).toBe(true)
      const passes = Array.from({ length: 10 }, () => breaker.tryPass(time.now))
      expect(passes.filter((pass) => pass)).toHaveLength(1)
      expect(breaker.state).toBe("half-open")
      breaker.onSuccess()
      expect(breaker.state).toBe("closed")
  })

  it("presumes a probe lost after maxCooldown by default", () => {
      const { breaker, time } = make({
        failureThreshold: 1,
        cooldown: "1 second",
        maxCooldown: "20 seconds"
      })
      breaker.onFailure(time.now)
      time.adjust("1 second")
      expect(breaker.tryPass(time.now)).toBe(true)
      time.adjust("19999 millis")
      expect(breaker.tryPass(time.now)).toBe(false)
      time.adjust("1 milli")
      expect(breaker.tryPass(time.now)).toBe(true)
  })

  it("reports the full cycle closed → open → half-open → closed to onChange, in order", () => {
      const { breaker, changes, time } = make({ failureThreshold: 2, cooldown: "5 seconds" })
      failTimes(breaker, time, 2)
      time.adjust("5 seconds")
      breaker.tryPass(time.now)
      breaker.onFailure(time.now)
      time.adjust("10 seconds")
      Array.from({ length: 10 }, () => breaker.tryPass(time.now))
      Array.from({ length: 10 }, () => breaker.onSuccess())
      expect(changes).toEqual(["open", "half-open", "open", "half-open", "closed"])
      expect(changes.map(CircuitBreaker.stateCode)).toEqual([2, 1, 2, 1, 0])
  })

  it("codes states for the sluice_upstream_circuit_state gauge", () => {
    expect(CircuitBreaker.stateCode("closed")).toBe(0)
    expect(CircuitBreaker.stateCode("half-open")).toBe(1)
    expect(CircuitBreaker.stateCode("open")).toBe(2)
  })
})
