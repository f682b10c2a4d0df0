import type { Scope } from "effect"
import { Duration, Effect, Layer } from "effect"
import { RateLimit } from "@sluice/engine"
import { Redis } from "./Redis.js"

/**
 * GCRA, the token bucket as one timestamp: `tat` is when the bucket would be full again. Each call
 * reserves the next slot and answers how many milliseconds to wait for it, so nodes sleep instead of
 * polling. Redis's own clock is the one clock of the cluster.
 * ARGV: milliseconds per message, burst (the bucket's size).
 */
const reserveScript = `
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local tat = tonumber(redis.call("GET", KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - (burst - 1) * interval - now
if wait < 0 then wait = 0 end
tat = tat + interval
redis.call("SET", KEYS[1], string.format("%.3f", tat), "PX", math.ceil(tat - now + burst * interval) + 1000)
return string.format("%.3f", wait)
`

/**
 * Upstream rate limits shared by every node on one Redis: the configured rate is the cluster's. While
 * Redis is down, each node limits itself alone to the same rate (the cluster may then send up to N
 * times it: better than not sending).
 */
export const make: Effect.Effect<RateLimit.RateLimitShape, never, Redis> = Effect.map(Redis, (redis) => {
  // A defined command runs by EVALSHA: the script travels once, not with every message.
  redis.client.defineCommand("sluiceReserve", { numberOfKeys: 1, lua: reserveScript })
  const client = redis.client as typeof redis.client & {
    sluiceReserve: (key: string, interval: string, burst: number) => Promise<string>
  }
  return {
    make: (upstream: string, rate: RateLimit.Rate): Effect.Effect<RateLimit.Limiter, never, Scope.Scope> =>
      Effect.gen(function*() {
        const local = yield* RateLimit.local.make(upstream, rate)
        const key = `${redis.prefix}:rate:${upstream}`
        const interval = (Duration.toMillis(rate.per) / rate.messages).toFixed(6)
        const reserve = redis.orLocal(
          "rate limit",
          async () => Number(await client.sluiceReserve(key, interval, rate.messages)),
          local(Effect.succeed(0))
        )
        return <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          reserve.pipe(
            Effect.flatMap((wait) => wait > 0 ? Effect.sleep(Duration.millis(wait)) : Effect.void),
            Effect.zipRight(effect)
          )
      })
  }
})

export const layer: Layer.Layer<RateLimit.RateLimit, never, Redis> = Layer.effect(RateLimit.RateLimit, make)
