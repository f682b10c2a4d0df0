import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { RateLimit, StatusStore } from "@sluice/engine"
import * as RedisConfig from "@sluice/redis/RedisConfig"
import { Effect, Layer, Schema } from "effect"

/** What the `cache` section provides: shared state of the engine, the queue and the HTTP adapter. */
export type Cache = RateLimit.RateLimit | StatusStore.StatusStore | KeyValueStore.KeyValueStore

/** The configuration file's `cache` section: in this process (the default), or Redis's section. */
export const Config = Schema.Union(Schema.Struct({ kind: Schema.Literal("memory") }), RedisConfig.Config)
export type Config = Schema.Schema.Type<typeof Config>

/**
 * `cache.kind` "memory" (the default): everything in this process. "redis": @sluice/redis's layer
 * from its section, loaded only when chosen. Build it once and provide the same value everywhere, so
 * there is one Redis connection.
 */
export const layer = (cache: Config | undefined): Layer.Layer<Cache> => {
  if (cache?.kind !== "redis") {
    return Layer.mergeAll(StatusStore.layerMemory(), RateLimit.layerLocal, KeyValueStore.layerMemory)
  }
  return Layer.unwrapEffect(Effect.promise(() => import("@sluice/redis")).pipe(Effect.map(({ RedisCache }) => RedisCache.layer(cache))))
}
