import type { Clock, Fiber, Runtime } from "effect"
import { Duration, Effect, FiberId, Runtime as Runtimes } from "effect"

/**
 * One reusable timer on Effect's Clock, for synchronous code that must look again later (a circuit's
 * cooldown, a rate limit's next slot): set it for a time, and `fire` runs once at the earliest time it
 * was set for. On the Clock, so TestClock drives it; a fiber only while it is set.
 */
export class Alarm {
  private at = Infinity
  private fiber: Fiber.RuntimeFiber<void> | undefined

  constructor(
    private readonly runtime: Runtime.Runtime<never>,
    private readonly clock: Clock.Clock,
    private readonly fire: () => void
  ) {}

  /** Fires at `at` (epoch ms) unless it is already set for earlier. */
  set(at: number): void {
    if (at >= this.at) return
    this.cancel()
    this.at = at
    const delay = Math.max(0, at - this.clock.unsafeCurrentTimeMillis())
    this.fiber = Runtimes.runFork(this.runtime)(Effect.zipRight(
      this.clock.sleep(Duration.millis(delay)),
      Effect.sync(() => {
        this.at = Infinity
        this.fiber = undefined
        this.fire()
      })
    ))
  }

  cancel(): void {
    const fiber = this.fiber
    this.fiber = undefined
    this.at = Infinity
    fiber?.unsafeInterruptAsFork(FiberId.none)
  }
}

/** An alarm that lives as long as the scope: cancelled when it closes. */
export const make = (fire: () => void) =>
  Effect.gen(function*() {
    const alarm = new Alarm(yield* Effect.runtime<never>(), yield* Effect.clock, fire)
    yield* Effect.addFinalizer(() => Effect.sync(() => alarm.cancel()))
    return alarm
  })
