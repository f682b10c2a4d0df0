import type { Scope } from "effect"
import { Context, Duration, Effect, Layer } from "effect"
import * as Alarm from "./Alarm.js"

/**
 * Decides when deliveries to one upstream may start. Its actor asks synchronously, once per delivery
 * it is about to write; there is one asker per gate.
 */
export interface Gate {
  /** Grants a start now (and counts it) when the rate allows one. */
  readonly tryStart: (now: number) => boolean
  /** Calls `ready` once, when a start may be granted again (`now` is the asker's clock). */
  readonly whenReady: (now: number, ready: () => void) => void
}

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
  readonly make: (upstream: string, rate: Rate) => Effect.Effect<Gate, never, Scope.Scope>
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
 * A gate in this process: `Slots` on the caller's clock, and an alarm on Effect's Clock (so the
 * TestClock drives it) to say when the next slot opens. A start is counted when `tryStart` grants it,
 * which is when the delivery is written: a busy event loop cannot crowd a window.
 */
export const makeLocal = (rate: Rate): Effect.Effect<Gate, never, Scope.Scope> =>
  Effect.gen(function*() {
    const slots = Slots.of(rate)
    let waiting: (() => void) | undefined
    const alarm = yield* Alarm.make(() => {
      const ready = waiting
      waiting = undefined
      ready?.()
    })
    return {
      tryStart: (now) => {
        if (slots.earliest(now) > now) return false
        slots.start(now)
        return true
      },
      whenReady: (now, ready) => {
        waiting = ready
        alarm.set(slots.earliest(now))
      }
    }
  })

/** A limiter per upstream in this process. */
export const local: RateLimitShape = {
  make: (_upstream, rate) => makeLocal(rate)
}

export const layerLocal: Layer.Layer<RateLimit> = Layer.succeed(RateLimit, local)

/** The RateLimit in the context, else the local one: the engine runs without anyone providing it. */
export const current: Effect.Effect<RateLimitShape> = Effect.map(
  Effect.serviceOption(RateLimit),
  (option) => option._tag === "Some" ? option.value : local
)
