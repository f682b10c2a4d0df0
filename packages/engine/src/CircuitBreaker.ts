import { Clock, Duration, Effect, SynchronizedRef } from "effect"

export type State = "closed" | "open" | "half-open"

export interface Options {
  /** Consecutive upstream failures, while closed, that open the circuit. */
  readonly failureThreshold: number
  /** How long the first trip keeps the circuit open; each consecutive trip doubles it. */
  readonly cooldown: Duration.DurationInput
  /** The ceiling of that doubling; default 10 × cooldown. */
  readonly maxCooldown?: Duration.DurationInput
  /**
   * How long a half-open circuit waits for its probe to report before it presumes the probe lost (its
   * fiber interrupted, its message re-leased) and lets another through; default maxCooldown. Without
   * it one lost probe would keep the upstream out of rotation for good.
   */
  readonly probeTimeout?: Duration.DurationInput
}

export interface CircuitBreaker {
  /**
   * Whether a delivery may be sent now. Closed: yes. Open: no until cooldown has passed, then it turns
   * half-open and lets exactly ONE probe through (returns true once) until that probe reports.
   */
  readonly tryPass: Effect.Effect<boolean>
  /**
   * Read-only view: would tryPass possibly say yes (closed, or open with cooldown elapsed, or half-open
   * with no probe out)? Does not take the probe.
   */
  readonly available: Effect.Effect<boolean>
  /** Closes (from half-open), resets consecutive failures and the trip count. */
  readonly onSuccess: Effect.Effect<void>
  /**
   * Counts a consecutive upstream failure; at failureThreshold (closed) → open; a failed probe
   * (half-open) → open again with a longer cooldown (doubling per consecutive trip, capped at maxCooldown).
   */
  readonly onFailure: Effect.Effect<void>
  /**
   * The state as last reported to onChange. An open circuit whose cooldown has passed still says
   * "open" until tryPass takes the probe: that is the moment it turns half-open.
   */
  readonly state: Effect.Effect<State>
}

// trips counts consecutive trips without a successful probe in between: it sets the cooldown.
type Circuit =
  | { readonly _tag: "closed"; readonly failures: number }
  | { readonly _tag: "open"; readonly trips: number; readonly until: number }
  | { readonly _tag: "half-open"; readonly trips: number; readonly probeSince: number }

const closed: Circuit = { _tag: "closed", failures: 0 }

/**
 * A per-upstream circuit breaker on Effect's Clock, so TestClock drives it.
 *
 * onChange runs under the breaker's lock, so observers see the changes in the order they happened
 * (a gauge never ends on a stale state); it must therefore be quick and must not call back into this
 * breaker.
 */
export const make = (
  options: Options & { readonly onChange?: (state: State) => Effect.Effect<void> }
): Effect.Effect<CircuitBreaker> =>
  Effect.gen(function*() {
    const threshold = Math.max(1, options.failureThreshold)
    const cooldown = Duration.toMillis(options.cooldown)
    const maxCooldown = Math.max(
      cooldown,
      options.maxCooldown === undefined ? 10 * cooldown : Duration.toMillis(options.maxCooldown)
    )
    const probeTimeout = options.probeTimeout === undefined ? maxCooldown : Duration.toMillis(options.probeTimeout)
    const onChange = options.onChange
    const ref = yield* SynchronizedRef.make<Circuit>(closed)

    // The exponent is bounded so a zero cooldown stays 0 (0 × Infinity would be NaN, an open circuit forever).
    const cooldownOf = (trips: number) => Math.min(cooldown * 2 ** Math.min(trips - 1, 52), maxCooldown)
    const trip = (trips: number, now: number): Circuit => ({ _tag: "open", trips, until: now + cooldownOf(trips) })

    const transition = <A>(f: (circuit: Circuit, now: number) => readonly [A, Circuit]) =>
      SynchronizedRef.modifyEffect(ref, (circuit) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const [result, next] = f(circuit, now)
          return next._tag === circuit._tag || onChange === undefined
            ? Effect.succeed([result, next] as const)
            : Effect.as(onChange(next._tag), [result, next] as const)
        }))

    const tryPass = transition((circuit, now): readonly [boolean, Circuit] => {
      switch (circuit._tag) {
        case "closed":
          return [true, circuit]
        case "open":
          return now >= circuit.until
            ? [true, { _tag: "half-open", trips: circuit.trips, probeSince: now }]
            : [false, circuit]
        case "half-open":
          return now >= circuit.probeSince + probeTimeout
            ? [true, { ...circuit, probeSince: now }]
            : [false, circuit]
      }
    })

    const available = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.map(SynchronizedRef.get(ref), (circuit) => {
        switch (circuit._tag) {
          case "closed":
            return true
          case "open":
            return now >= circuit.until
          case "half-open":
            return now >= circuit.probeSince + probeTimeout
        }
      }))

    // While open, reports come from deliveries sent before the trip: they say nothing about whether
    // the upstream has recovered, so they neither close the circuit nor stretch its cooldown.
    const onSuccess = transition((circuit): readonly [void, Circuit] => [
      undefined,
      circuit._tag === "open" ? circuit : closed
    ])

    const onFailure = transition((circuit, now): readonly [void, Circuit] => {
      switch (circuit._tag) {
        case "closed":
          return [
            undefined,
            circuit.failures + 1 >= threshold ? trip(1, now) : { _tag: "closed", failures: circuit.failures + 1 }
          ]
        case "open":
          return [undefined, circuit]
        case "half-open":
          return [undefined, trip(circuit.trips + 1, now)]
      }
    })

    return {
      tryPass,
      available,
      onSuccess,
      onFailure,
      state: Effect.map(SynchronizedRef.get(ref), (circuit) => circuit._tag)
    }
  })

/** The value of the sluice_upstream_circuit_state gauge: closed 0, half-open 1, open 2. */
export const stateCode = (state: State): 0 | 1 | 2 => state === "closed" ? 0 : state === "half-open" ? 1 : 2
