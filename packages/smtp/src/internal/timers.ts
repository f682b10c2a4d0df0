import type { Fiber } from "effect"
import { Clock, Context, DefaultServices, Duration, Effect, FiberId, Runtime } from "effect"

/** A clock a connection's timer can be armed on. */
export interface TimerClock {
  /** Milliseconds on this clock (monotonic on the live one). */
  readonly now: () => number
  readonly set: (millis: number, fire: () => void) => Handle
  readonly clear: (handle: Handle) => void
}

/**
 * Where a connection's one inactivity timer is armed. Waiting for a reply is measured in real time,
 * always: the server answers in real time, and a test that moves the Effect clock on (a retry, a
 * cooldown) must not time out the transactions on the wire. Idleness is the pool's own policy and
 * goes by the Effect Clock, as the rest of the engine's schedule: on the live clock both are Node
 * timers; on a TestClock, idle connections close when the test clock passes their idle timeout.
 */
export interface Timers {
  readonly reply: TimerClock
  readonly idle: TimerClock
}

export type Handle = NodeJS.Timeout | Fiber.RuntimeFiber<void>

// Node fires a timer longer than 2^31-1 ms at once; longer waits are armed in parts.
export const maxDelay = 2 ** 31 - 1

const native: TimerClock = {
  now: () => performance.now(),
  set: (millis, fire) => setTimeout(fire, millis),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout)
}

const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/** Sleeps on an Effect Clock: a fiber per arming, which only idle connections on a test clock use. */
const onClock = (clock: Clock.Clock, runtime: Runtime.Runtime<never>): TimerClock => {
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

const live: Timers = { reply: native, idle: native }

/** The timers for connections made now: idle ones on the current Effect Clock. */
export const current: Effect.Effect<Timers> = Effect.gen(function*() {
  const clock = yield* Effect.clock
  if (clock === liveClock) return live
  return { reply: native, idle: onClock(clock, yield* Effect.runtime<never>()) }
})
