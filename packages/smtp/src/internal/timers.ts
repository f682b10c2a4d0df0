import type { Fiber } from "effect"
import { Clock, Context, DefaultServices, Duration, Effect, FiberId, Runtime } from "effect"

/**
 * Where a connection's one inactivity timer comes from. On the live clock these are Node timers; on
 * any other Clock (TestClock) they are sleeps on that clock, so tests drive idle and reply timeouts
 * with `TestClock.adjust` instead of waiting. A connection arms its timer rarely (see Connection), so
 * a fiber per arming costs nothing that matters on the test clock.
 */
export interface Timers {
  /** Milliseconds on this clock (monotonic on the live one). */
  readonly now: () => number
  readonly set: (millis: number, fire: () => void) => Handle
  readonly clear: (handle: Handle) => void
}

export type Handle = NodeJS.Timeout | Fiber.RuntimeFiber<void>

// Node fires a timer longer than 2^31-1 ms at once; longer waits are armed in parts.
export const maxDelay = 2 ** 31 - 1

const native: Timers = {
  now: () => performance.now(),
  set: (millis, fire) => setTimeout(fire, millis),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout)
}

const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

const onClock = (clock: Clock.Clock, runtime: Runtime.Runtime<never>): Timers => {
  const fork = Runtime.runFork(runtime)
  const now = () => clock.unsafeCurrentTimeMillis()
  return {
    now,
    set: (millis, fire) => {
      // Asleep until an instant, not for a span: the fiber may start after the clock moved on.
      const at = now() + millis
      return fork(Effect.suspend(() => clock.sleep(Duration.millis(Math.max(0, at - now())))).pipe(Effect.andThen(Effect.sync(fire))))
    },
    clear: (handle) => (handle as Fiber.RuntimeFiber<void>).unsafeInterruptAsFork(FiberId.none)
  }
}

/** The timers of the current Clock. */
export const current: Effect.Effect<Timers> = Effect.gen(function*() {
  const clock = yield* Effect.clock
  if (clock === liveClock) return native
  return onClock(clock, yield* Effect.runtime<never>())
})
