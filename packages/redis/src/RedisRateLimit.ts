import type { Scope } from "effect"
import { Duration, Effect, Layer, Runtime } from "effect"
import { Alarm, RateLimit } from "@sluice/engine"
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
 * start being the slot Redis reserved for it. The gate holds at most one reservation: asked when its
 * actor has work and no permit, it reserves the next slot (one script call), waits for it on the
 * Clock, then grants one start. While Redis is down, each node reserves from a local `Slots` at the
 * same rate (the cluster may then send up to N times it: better than not sending).
 */
export const make: Effect.Effect<RateLimit.RateLimitShape, never, Redis> = Effect.map(Redis, (redis) => ({
  make: (upstream: string, rate: RateLimit.Rate): Effect.Effect<RateLimit.Gate, never, Scope.Scope> =>
    Effect.gen(function*() {
      const runtime = yield* Effect.runtime<never>()
      const clock = yield* Effect.clock
      const fallback = RateLimit.Slots.of(rate)
      let permit: number | undefined // when the reserved start may go, on this process's clock
      let reserving = false
      let waiting: (() => void) | undefined
      const alarm = yield* Alarm.make(() => {
        const ready = waiting
        waiting = undefined
        ready?.()
      })
      const reserveLocally = Effect.sync(() => {
        const now = clock.unsafeCurrentTimeMillis()
        const at = fallback.earliest(now)
        fallback.start(at)
        return at - now
      })
      const reserveNext = redis.orLocal("rate limit", () => reserve(redis, upstream, rate).then((r) => r.wait), reserveLocally).pipe(
        Effect.flatMap((wait) =>
          Effect.sync(() => {
            reserving = false
            permit = clock.unsafeCurrentTimeMillis() + Math.max(0, wait)
            alarm.set(permit)
          })
        )
      )
      return {
        tryStart: (now) => {
          if (permit === undefined || permit > now) return false
          permit = undefined
          return true
        },
        whenReady: (_now, ready) => {
          waiting = ready
          if (permit !== undefined) return alarm.set(permit)
          if (reserving) return
          reserving = true
          Runtime.runFork(runtime)(reserveNext)
        }
      }
    })
}))

export const layer: Layer.Layer<RateLimit.RateLimit, never, Redis> = Layer.effect(RateLimit.RateLimit, make)
