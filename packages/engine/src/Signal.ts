import { Deferred, Effect, FiberId } from "effect"

/**
 * A level-free wake-up: `wait` suspends until the next `notify`. Loops re-check their condition after
 * waking, so a notify that nobody waits for is simply lost, never harmful. It costs nothing then
 * either: the scheduler notifies once per message, and the Deferred is made only for a waiter.
 */
export class Signal {
  private deferred: Deferred.Deferred<void> | undefined

  readonly wait: Effect.Effect<void> = Effect.suspend(() => Deferred.await(this.deferred ??= Deferred.unsafeMake<void>(FiberId.none)))

  notify(): void {
    const current = this.deferred
    if (current === undefined) return
    this.deferred = undefined
    Deferred.unsafeDone(current, Effect.void)
  }
}
