import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { Effect, Layer, Option } from "effect"
import { Redis } from "./Redis.js"

/**
 * @effect/platform's KeyValueStore on Redis (templates, suppressions): every node reads what any node
 * wrote. Keys live under `<prefix>:kv:`. While Redis is down, an in-memory store answers, and what is
 * written meanwhile stays on this node.
 */
export const make: Effect.Effect<KeyValueStore.KeyValueStore, never, Redis> = Effect.gen(function*() {
  const redis = yield* Redis
  const local = yield* KeyValueStore.KeyValueStore.pipe(Effect.provide(KeyValueStore.layerMemory))
  const prefix = `${redis.prefix}:kv:`
  const keyOf = (key: string) => prefix + key

  /** Every key under the prefix, by SCAN (never KEYS, which blocks Redis). */
  const scanAll = async (client: typeof redis.client) => {
    const keys: Array<string> = []
    let cursor = "0"
    do {
      const [next, batch] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
      cursor = next
      keys.push(...batch)
    } while (cursor !== "0")
    return keys
  }

  // The local store never fails; `orElseSucceed` only narrows its declared error away.
  const fallback = <A>(effect: Effect.Effect<A, unknown>, value: A) => Effect.orElseSucceed(effect, () => value)

  return KeyValueStore.make({
    get: (key) =>
      redis.orLocal(
        "kv get",
        async (client) => Option.fromNullable(await client.get(keyOf(key))),
        fallback(local.get(key), Option.none())
      ),
    getUint8Array: (key) =>
      redis.orLocal(
        "kv get",
        async (client) => Option.map(Option.fromNullable(await client.getBuffer(keyOf(key))), (b) => new Uint8Array(b)),
        fallback(local.getUint8Array(key), Option.none())
      ),
    set: (key, value) =>
      redis.orLocal(
        "kv set",
        async (client) => void await client.set(keyOf(key), typeof value === "string" ? value : Buffer.from(value)),
        fallback(local.set(key, value), undefined)
      ),
    remove: (key) =>
      Effect.zipRight(
        redis.orLocal("kv remove", async (client) => void await client.del(keyOf(key)), Effect.void),
        fallback(local.remove(key), undefined)
      ),
    clear: Effect.zipRight(
      redis.orLocal("kv clear", async (client) => {
        const keys = await scanAll(client)
        for (let i = 0; i < keys.length; i += 1000) await client.del(...keys.slice(i, i + 1000))
      }, Effect.void),
      fallback(local.clear, undefined)
    ),
    size: redis.orLocal("kv size", async (client) => (await scanAll(client)).length, fallback(local.size, 0))
  })
})

export const layer: Layer.Layer<KeyValueStore.KeyValueStore, never, Redis> = Layer.effect(KeyValueStore.KeyValueStore, make)
