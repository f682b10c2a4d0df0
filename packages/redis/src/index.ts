/** The Redis connection every part shares, and falling back to local state when Redis is down. */
export * from "./Redis.js"
/** Status records and idempotency keys on Redis (the StatusStore of @sluice/engine). */
export * as RedisStatusStore from "./RedisStatusStore.js"
/** Cluster-wide upstream rate limits (the RateLimit of @sluice/engine), one Lua script. */
export * as RedisRateLimit from "./RedisRateLimit.js"
/** @effect/platform's KeyValueStore on Redis, for templates and suppressions. */
export * as RedisKeyValueStore from "./RedisKeyValueStore.js"
/** `sluice_redis_degraded` and the fallback counter. */
export * as RedisMetrics from "./RedisMetrics.js"
/** The `cache` section naming Redis, and the layer built from it alone. */
export * as RedisCache from "./RedisCache.js"
