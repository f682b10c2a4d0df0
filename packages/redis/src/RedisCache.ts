import type * as KeyValueStore from "@effect/platform/KeyValueStore"
import type { RateLimit, StatusStore } from "@sluice/engine"
import { Layer } from "effect"
import { Redis } from "./Redis.js"
import type { Config } from "./RedisConfig.js"
import * as RedisKeyValueStore from "./RedisKeyValueStore.js"
import * as RedisRateLimit from "./RedisRateLimit.js"
import * as RedisStatusStore from "./RedisStatusStore.js"

export { Config } from "./RedisConfig.js"

/**
 * What the `cache` section (`kind: "redis"`) provides: status records and idempotency keys, upstream
 * rate limits and the key-value store (templates, suppressions), shared by every process on that
 * Redis over one connection, each falling back to local state while Redis is down.
 */
export const layer = (
  section: Config
): Layer.Layer<StatusStore.StatusStore | RateLimit.RateLimit | KeyValueStore.KeyValueStore> =>
  Layer.mergeAll(RedisStatusStore.layer(), RedisRateLimit.layer, RedisKeyValueStore.layer).pipe(
    Layer.provide(Redis.layer({ url: section.url, ...(section.prefix === undefined ? {} : { prefix: section.prefix }) }))
  )
