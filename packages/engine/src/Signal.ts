import { Deferred, Effect, FiberId } from "effect"

/**
 * A level-free wake-up: `wait` suspends until the next `notify`. Loops re-check their condition after
 * waking, so a notify that nobody waits for is simply lost, never harmful.
 */
export class Signal {
  private deferred = Deferred.unsafeMake<void>(FiberId.none)

  readonly wait: Effect.Effect<void> = Effect.suspend(() => Deferred.await(this.deferred))

  notify(): void {
    const current = this.deferred
    this.deferred = Deferred.unsafeMake<void>(FiberId.none)
    Deferred.unsafeDone(current, Effect.void)
  }
}
