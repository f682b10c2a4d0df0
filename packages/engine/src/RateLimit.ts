import type { Scope } from "effect"
import { Clock, Context, Deferred, Duration, Effect, FiberId, Layer } from "effect"

/** Wraps one delivery so it starts only when the upstream's rate allows. */
export type Limiter = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

export interface Rate {
  readonly messages: number
  readonly per: Duration.Duration
  /** How many may start at once (default 1); still never more than `messages` in any window of `per`. */
  readonly burst?: number | undefined
}

/**
 * Where upstream rate limits are kept. The default is in this process; with many processes on one
 * queue (scale-out) a shared one keeps the limit cluster-wide (@sluice/redis).
 */
export interface RateLimitShape {
  readonly make: (upstream: string, rate: Rate) => Effect.Effect<Limiter, never, Scope.Scope>
}

export class RateLimit extends Context.Tag("@sluice/engine/RateLimit")<RateLimit, RateLimitShape>() {}

/**
 * When deliveries may start under a rate (CONTRACT.md): never more than N in any window [t, t + per),
 * from the very first one on, and at most `burst` at once. Two rules, both needed:
 * - GCRA (ITU-T I.371's virtual scheduling; what Redis's redis-cell and Stripe's limiters use): `tat`
 *   is the theoretical arrival time of the next start, advanced by per/N at each start; a start may
 *   come (burst − 1)·per/N before it. With burst 1 starts are spaced per/N apart.
 * - A window: a ring of the last N start times; the next start comes no earlier than `per` after the
 *   oldest of them. A token bucket (or GCRA with a burst) alone lets a full bucket's worth start on
 *   top of a window's steady rate: N = 100 per second delivered 120 in the first second.
 * Plain numbers in milliseconds; @sluice/redis keeps the same two rules in Lua.
 */
export class Slots {
  private readonly interval: number
  private readonly tolerance: number
  private tat = -Infinity
  /** The last N start times, oldest at `oldest` (unused places hold -Infinity). */
  private readonly starts: Float64Array
  private oldest = 0

  constructor(readonly messages: number, readonly perMs: number, burst = 1) {
    this.interval = perMs / messages
    this.tolerance = (Math.min(Math.max(1, burst), messages) - 1) * this.interval
    this.starts = new Float64Array(messages).fill(-Infinity)
  }

  static of(rate: Rate): Slots {
    return new Slots(rate.messages, Duration.toMillis(rate.per), rate.burst)
  }

  /** The earliest time, not before `now`, at which the next delivery may start. */
  earliest(now: number): number {
    return Math.max(now, this.tat - this.tolerance, this.starts[this.oldest]! + this.perMs)
  }

  /** Records a start at `now`, which must not be before `earliest(now)`. */
  start(now: number): void {
    this.tat = Math.max(this.tat, now) + this.interval
    this.starts[this.oldest] = now
    this.oldest = (this.oldest + 1) % this.messages
  }
}

/**
 * A limiter in this process: `Slots` on Effect's Clock (so the TestClock drives it). A caller that may
 * start now does, without allocating; the others wait in line, in the order they came. Only the first
 * in line sleeps, until its slot; its start is recorded when it really starts, so a caller that wakes
 * late (a busy event loop) cannot crowd a window. A caller interrupted while waiting leaves the line
 * and hands the head to the next: no slot is taken for it.
 */
export const makeLocal = (rate: Rate): Limiter => {
  const slots = Slots.of(rate)
  const line: Array<Deferred.Deferred<void>> = []

  const leave = (turn: Deferred.Deferred<void>) =>
    Effect.sync(() => {
      const index = line.indexOf(turn)
      if (index < 0) return
      line.splice(index, 1)
      if (index === 0 && line.length > 0) Deferred.unsafeDone(line[0]!, Effect.void)
    })

  // The head of the line: sleeps until the slot, then looks again (the clock decides, not the sleep).
  const headsUp: Effect.Effect<void> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const at = slots.earliest(now)
    if (at <= now) return Effect.sync(() => slots.start(now))
    return Effect.zipRight(Effect.sleep(Duration.millis(at - now)), headsUp)
  })

  // In line and out of it in one uninterruptible step each: an interruption cannot leave a turn behind.
  const waitInLine = Effect.uninterruptibleMask((restore) => {
    const turn = Deferred.unsafeMake<void>(FiberId.none)
    line.push(turn)
    if (line.length === 1) Deferred.unsafeDone(turn, Effect.void)
    return restore(Effect.zipRight(Deferred.await(turn), headsUp)).pipe(Effect.ensuring(leave(turn)))
  })

  const acquire: Effect.Effect<void> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    if (line.length === 0 && slots.earliest(now) <= now) {
      slots.start(now)
      return Effect.void
    }
    return waitInLine
  })

  return (effect) => Effect.zipRight(acquire, effect)
}

/** A limiter per upstream in this process. */
export const local: RateLimitShape = {
  make: (_upstream, rate) => Effect.sync(() => makeLocal(rate))
}

export const layerLocal: Layer.Layer<RateLimit> = Layer.succeed(RateLimit, local)

/** The RateLimit in the context, else the local one: the engine runs without anyone providing it. */
export const current: Effect.Effect<RateLimitShape> = Effect.map(
  Effect.serviceOption(RateLimit),
  (option) => option._tag === "Some" ? option.value : local
)
