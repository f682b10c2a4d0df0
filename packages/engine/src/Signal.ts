import { Deferred, Effect, FiberId } from "effect"

/**
 * Wakes waiters when something changed. A waiter takes its ticket (`next`) before it looks at the
 * state, so a change that lands between its look and its wait still wakes it; any number of waiters
 * may hold tickets. A notify with no ticket out makes nothing, so notifying once per message is free.
 */
export class Signal {
  private current: Deferred.Deferred<void> | undefined

  /** An effect that completes at the first `notify` after this call. */
  next(): Effect.Effect<void> {
    return Deferred.await(this.current ??= Deferred.unsafeMake<void>(FiberId.none))
  }

  notify(): void {
    const woken = this.current
    if (woken === undefined) return
    this.current = undefined
    Deferred.unsafeDone(woken, Effect.void)
  }
}
