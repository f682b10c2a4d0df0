import type { Scope } from "effect"
import { Duration, Effect, Layer } from "effect"
import { RateLimit } from "@sluice/engine"
import type { RedisShape } from "./Redis.js"
import { Redis } from "./Redis.js"

/**
 * The engine's two rules (RateLimit.Slots) on Redis, in one script so that every node's reservation
 * is one atomic step, timed by Redis's own clock (TIME): the nodes' clocks do not matter.
 * - GCRA: KEYS[1] holds `tat`; a start may come `tolerance` = (burst − 1)·interval before it.
 * - The window: KEYS[2] is a list of the last N start times, oldest first; the next start comes no
 *   earlier than `per` after the oldest.
 * Each call reserves the next slot and answers it and how long to wait for it, so nodes sleep
 * instead of polling, and are served in the order their calls reach Redis.
 * ARGV: interval (ms per message), tolerance (ms), messages (N), per (ms).
 */
const reserveScript = `
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local messages = tonumber(ARGV[3])
local per = tonumber(ARGV[4])
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local at = now
local tat = tonumber(redis.call("GET", KEYS[1]))
if tat ~= nil and tat - tolerance > at then at = tat - tolerance end
if redis.call("LLEN", KEYS[2]) >= messages then
  local oldest = tonumber(redis.call("LINDEX", KEYS[2], 0))
  if oldest ~= nil and oldest + per > at then at = oldest + per end
end
at = tonumber(string.format("%.3f", at))
if tat == nil or tat < at then tat = at end
tat = tat + interval
redis.call("RPUSH", KEYS[2], string.format("%.3f", at))
redis.call("LTRIM", KEYS[2], -messages, -1)
local ttl = math.ceil(math.max(tat, at + per) - now) + 1000
redis.call("SET", KEYS[1], string.format("%.3f", tat), "PX", ttl)
redis.call("PEXPIRE", KEYS[2], ttl)
return { string.format("%.3f", at), string.format("%.3f", at - now) }
`

type Client = RedisShape["client"] & {
  sluiceReserve?: (tat: string, starts: string, interval: string, tolerance: string, messages: number, per: string) => Promise<[string, string]>
}

/** A start reserved on Redis's clock: when (epoch milliseconds, Redis TIME) and how long from now. */
export interface Reservation {
  readonly at: number
  readonly wait: number
}

/**
 * Reserves the next start under `rate` for `upstream`, on the keys every node under the prefix shares.
 * What the limiter does for each delivery; exported for tests and tools.
 */
export const reserve = (redis: RedisShape, upstream: string, rate: RateLimit.Rate): Promise<Reservation> => {
  const client = redis.client as Client
  // A defined command runs by EVALSHA: the script travels once, not with every message.
  if (client.sluiceReserve === undefined) client.defineCommand("sluiceReserve", { numberOfKeys: 2, lua: reserveScript })
  const perMs = Duration.toMillis(rate.per)
  const interval = perMs / rate.messages
  const burst = Math.min(Math.max(1, rate.burst ?? 1), rate.messages)
  const key = `${redis.prefix}:rate:${upstream}`
  return client.sluiceReserve!(
    key,
    `${key}:starts`,
    interval.toFixed(6),
    ((burst - 1) * interval).toFixed(6),
    rate.messages,
    perMs.toFixed(3)
  ).then(([at, wait]) => ({ at: Number(at), wait: Number(wait) }))
}

/**
 * Upstream rate limits shared by every node on one Redis: the configured rate is the cluster's, a
 * start being the time Redis gave it. While Redis is down, each node limits itself alone to the same
 * rate (the cluster may then send up to N times it: better than not sending). A caller interrupted
 * while it waits leaves its slot unused; the ones after it keep theirs.
 */
export const make: Effect.Effect<RateLimit.RateLimitShape, never, Redis> = Effect.map(Redis, (redis) => ({
  make: (upstream: string, rate: RateLimit.Rate): Effect.Effect<RateLimit.Limiter, never, Scope.Scope> =>
    Effect.sync(() => {
      const local = RateLimit.makeLocal(rate)
      const wait = redis.orLocal(
        "rate limit",
        () => reserve(redis, upstream, rate).then((reservation) => reservation.wait),
        local(Effect.succeed(0))
      )
      return <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        wait.pipe(
          Effect.flatMap((ms) => ms > 0 ? Effect.sleep(Duration.millis(ms)) : Effect.void),
          Effect.zipRight(effect)
        )
    })
}))

export const layer: Layer.Layer<RateLimit.RateLimit, never, Redis> = Layer.effect(RateLimit.RateLimit, make)
