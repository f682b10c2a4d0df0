import type { Duration, Scope } from "effect"
import { Context, Effect, Layer, RateLimiter } from "effect"

/** Wraps one delivery so it starts only when the upstream's rate allows. */
export type Limiter = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

export interface Rate {
  readonly messages: number
  readonly per: Duration.Duration
}

/**
 * Where upstream rate limits are kept. The default is a token bucket in this process; with many
 * processes on one queue (scale-out) a shared bucket keeps the limit cluster-wide (@sluice/redis).
 */
export interface RateLimitShape {
  readonly make: (upstream: string, rate: Rate) => Effect.Effect<Limiter, never, Scope.Scope>
}

export class RateLimit extends Context.Tag("@sluice/engine/RateLimit")<RateLimit, RateLimitShape>() {}

/** A token bucket per upstream in this process (Effect's RateLimiter). */
export const local: RateLimitShape = {
  make: (_upstream, rate) => RateLimiter.make({ limit: rate.messages, interval: rate.per, algorithm: "token-bucket" })
}

export const layerLocal: Layer.Layer<RateLimit> = Layer.succeed(RateLimit, local)

/** The RateLimit in the context, else the local one: the engine runs without anyone providing it. */
export const current: Effect.Effect<RateLimitShape> = Effect.map(
  Effect.serviceOption(RateLimit),
  (option) => option._tag === "Some" ? option.value : local
)
