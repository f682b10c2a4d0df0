import { Duration } from "effect"

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
   * delivery interrupted, its message re-leased) and lets another through; default maxCooldown.
   * Without it one lost probe would keep the upstream out of rotation for good.
   */
  readonly probeTimeout?: Duration.DurationInput
  /** Called on every change of state, in order. */
  readonly onChange?: (state: State) => void
}

// trips counts consecutive trips without a successful probe in between: it sets the cooldown.
type Circuit =
  | { readonly _tag: "closed"; readonly failures: number }
  | { readonly _tag: "open"; readonly trips: number; readonly until: number }
  | { readonly _tag: "half-open"; readonly trips: number; readonly probeSince: number }

const closed: Circuit = { _tag: "closed", failures: 0 }

/**
 * A per-upstream circuit breaker. A plain object owned by its upstream actor: the actor is the only
 * caller and JavaScript runs it one call at a time, so it needs no lock. Time is passed in (epoch
 * milliseconds from the caller's Clock), which is also what makes it exact to test.
 */
export class CircuitBreaker {
  private circuit: Circuit = closed
  /** The upstream has answered at least once (a probe or a transaction): it is known to take mail. */
  reached = false
  private readonly threshold: number
  private readonly cooldown: number
  private readonly maxCooldown: number
  private readonly probeTimeout: number

  constructor(private readonly options: Options) {
    this.threshold = Math.max(1, options.failureThreshold)
    this.cooldown = Duration.toMillis(options.cooldown)
    this.maxCooldown = Math.max(
      this.cooldown,
      options.maxCooldown === undefined ? 10 * this.cooldown : Duration.toMillis(options.maxCooldown)
    )
    this.probeTimeout = options.probeTimeout === undefined ? this.maxCooldown : Duration.toMillis(options.probeTimeout)
  }

  /**
   * The state as last reported to onChange. An open circuit whose cooldown has passed still says
   * "open" until tryPass takes the probe: that is the moment it turns half-open.
   */
  get state(): State {
    return this.circuit._tag
  }

  /**
   * Would tryPass possibly say yes (closed, or open with its cooldown over, or half-open with no probe
   * out)? Looking does not take the probe.
   */
  available(now: number): boolean {
    const circuit = this.circuit
    switch (circuit._tag) {
      case "closed":
        return true
      case "open":
        return now >= circuit.until
      case "half-open":
        return now >= circuit.probeSince + this.probeTimeout
    }
  }

  /**
   * When a probe may go next (undefined while closed): an open circuit's cooldown end, or when a
   * half-open circuit's probe is presumed lost. When to look again.
   */
  get probeAt(): number | undefined {
    const circuit = this.circuit
    return circuit._tag === "open" ? circuit.until : circuit._tag === "half-open" ? circuit.probeSince + this.probeTimeout : undefined
  }

  /**
   * Whether traffic may pass now. Closed: yes. Open: no until the cooldown has passed, then it turns
   * half-open and lets exactly ONE probe through until that probe reports.
   */
  tryPass(now: number): boolean {
    const circuit = this.circuit
    switch (circuit._tag) {
      case "closed":
        return true
      case "open":
        if (now < circuit.until) return false
        this.become({ _tag: "half-open", trips: circuit.trips, probeSince: now })
        return true
      case "half-open":
        if (now < circuit.probeSince + this.probeTimeout) return false
        this.circuit = { ...circuit, probeSince: now }
        return true
    }
  }

  /**
   * Closes (from half-open), resets consecutive failures and the trip count. While open, reports
   * come from deliveries sent before the trip: they say nothing about whether the upstream has
   * recovered, so they neither close the circuit nor stretch its cooldown.
   */
  onSuccess(): void {
    this.reached = true
    if (this.circuit._tag === "half-open") this.become(closed)
    else if (this.circuit._tag === "closed" && this.circuit.failures > 0) this.circuit = closed
  }

  /**
   * Counts a consecutive upstream failure; at failureThreshold (closed) → open; a failed probe
   * (half-open) → open again with a longer cooldown (doubling per consecutive trip, capped).
   */
  onFailure(now: number): void {
    const circuit = this.circuit
    switch (circuit._tag) {
      case "closed":
        if (circuit.failures + 1 >= this.threshold) this.become(this.trip(1, now))
        else this.circuit = { _tag: "closed", failures: circuit.failures + 1 }
        return
      case "open":
        return
      case "half-open":
        return this.become(this.trip(circuit.trips + 1, now))
    }
  }

  // The exponent is bounded so a zero cooldown stays 0 (0 × Infinity would be NaN, an open circuit forever).
  private trip(trips: number, now: number): Circuit {
    return { _tag: "open", trips, until: now + Math.min(this.cooldown * 2 ** Math.min(trips - 1, 52), this.maxCooldown) }
  }

  private become(next: Circuit): void {
    const changed = next._tag !== this.circuit._tag
    this.circuit = next
    if (changed) this.options.onChange?.(next._tag)
  }
}

/** The value of the sluice_upstream_circuit_state gauge: closed 0, half-open 1, open 2. */
export const stateCode = (state: State): 0 | 1 | 2 => state === "closed" ? 0 : state === "half-open" ? 1 : 2
