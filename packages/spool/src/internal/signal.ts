import { Deferred, Effect, FiberId } from "effect"

/**
 * Wakes waiters when something changed. A waiter takes its ticket (`next`) before it looks at the
 * state, so a change that lands between its look and its wait still wakes it.
 */
export class Signal {
  private current = Deferred.unsafeMake<void>(FiberId.none)

  /** An effect that completes at the first `notify` after this call. */
  next(): Effect.Effect<void> {
    return Deferred.await(this.current)
  }

  notify(): void {
    const woken = this.current
    this.current = Deferred.unsafeMake<void>(FiberId.none)
    Deferred.unsafeDone(woken, Effect.void)
  }
}
