import { KeyValueStore } from "@effect/platform"
import type { Config } from "@sluice/engine"
import { RateLimit, StatusStore } from "@sluice/engine"
import { Effect, Layer } from "effect"

/** What the `cache` section provides: shared state of the engine, the queue and the HTTP adapter. */
export type Cache = RateLimit.RateLimit | StatusStore.StatusStore | KeyValueStore.KeyValueStore

/**
 * `cache.kind` "memory" (the default): everything in this process. "redis": status records and
 * idempotency keys, upstream rate limits and the key-value store (templates, suppressions) shared by
 * every process on that Redis, each falling back to local state while Redis is down. Build it once
 * and provide the same value everywhere, so there is one Redis connection.
 */
export const layer = (cache: Config.SluiceConfig["cache"]): Layer.Layer<Cache> => {
  if (cache?.kind !== "redis") {
    return Layer.mergeAll(StatusStore.layerMemory(), RateLimit.layerLocal, KeyValueStore.layerMemory)
  }
  return Layer.unwrapEffect(
    Effect.promise(() => import("@sluice/redis")).pipe(
      Effect.map(({ Redis, RedisKeyValueStore, RedisRateLimit, RedisStatusStore }) =>
        Layer.mergeAll(RedisStatusStore.layer(), RedisRateLimit.layer, RedisKeyValueStore.layer).pipe(
          Layer.provide(Redis.layer({ url: cache.url, ...(cache.prefix === undefined ? {} : { prefix: cache.prefix }) }))
        )
      )
    )
  )
}
