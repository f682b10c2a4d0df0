import { Idempotency, MessageSchema, StatusStore } from "@sluice/engine"
import { Duration, Effect, Either, Layer, Schema } from "effect"
import { Redis } from "./Redis.js"

export interface Options {
  /** How long status records and idempotency keys live (default 7 days, past the default maxAge). */
  readonly ttl?: Duration.DurationInput
}

const decodeRecord = Schema.decodeUnknownEither(Schema.parseJson(MessageSchema.Record))

// Deletes an idempotency key only if it still names the message that claimed it: its id, alone or
// followed by a space and its fingerprint (Idempotency.encodeHolder).
const unclaimScript = `local held = redis.call("GET", KEYS[1])
if held == ARGV[1] or (held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. " ") then return redis.call("DEL", KEYS[1]) end
return 0`

/**
 * Status records as JSON strings and idempotency keys as `SET NX`, both with a TTL, so every node
 * answers for every message. While Redis is down, a store in this process answers (and keeps what is
 * written meanwhile; a record missing from Redis is looked up there too).
 */
export const make = (options: Options = {}): Effect.Effect<StatusStore.StatusStoreShape, never, Redis> =>
  Effect.gen(function*() {
    const redis = yield* Redis
    const ttl = Duration.toMillis(options.ttl ?? Duration.days(7))
    const local = yield* StatusStore.makeMemory({ ttl })
    const recordKey = (id: string) => `${redis.prefix}:msg:${id}`
    const claimKey = (key: string) => `${redis.prefix}:idem:${key}`

    const exec = async (pipeline: ReturnType<typeof redis.client.pipeline>) => {
      const results = (await pipeline.exec()) ?? []
      return results.map(([error, value]) => {
        if (error) throw error
        return value
      })
    }

    const store: StatusStore.StatusStoreShape = {
      put: (records) =>
        records.length === 0 ? Effect.void : redis.orLocal(
          "status put",
          (client) => {
            const pipeline = client.pipeline()
            for (const record of records) pipeline.set(recordKey(record.id), JSON.stringify(record), "PX", ttl)
            return exec(pipeline).then(() => undefined)
          },
          local.put(records)
        ),

      get: (ids) =>
        Effect.gen(function*() {
          if (ids.length === 0) return []
          const found = yield* redis.orLocal(
            "status get",
            async (client) => (await client.mget(ids.map(recordKey))).map((value) => value ?? undefined),
            // Redis down: every id is looked up locally below.
            Effect.succeed(ids.map(() => undefined))
          )
          const locally = found.some((value) => value === undefined) ? yield* local.get(ids) : []
          return yield* Effect.forEach(found, (value, i) => {
            if (value === undefined) return Effect.succeed(locally[i])
            const decoded = decodeRecord(value)
            if (Either.isRight(decoded)) return Effect.succeed(decoded.right)
            // Someone else's data under our prefix, or an older shape: unknown rather than fatal.
            return Effect.logWarning("a status record in Redis does not decode; ignored").pipe(
              Effect.annotateLogs({ messageId: ids[i], error: decoded.left.message }),
              Effect.as(undefined)
            )
          })
        }),

      claim: (claims) =>
        claims.length === 0 ? Effect.succeed([]) : redis.orLocal(
          "idempotency claim",
          async (client) => {
            const pipeline = client.pipeline()
            // SET NX GET (Redis 7): sets the key if free and answers what it held before, in one step.
            for (const { fingerprint, id, key } of claims) {
              pipeline.call("SET", claimKey(key), Idempotency.encodeHolder({ id, fingerprint }), "PX", ttl, "NX", "GET")
            }
            return (await exec(pipeline)).map((value) => value === null ? undefined : Idempotency.decodeHolder(String(value)))
          },
          local.claim(claims)
        ),

      unclaim: (claims) =>
        claims.length === 0 ? Effect.void : Effect.zipRight(
          redis.orLocal(
            "idempotency unclaim",
            (client) => {
              const pipeline = client.pipeline()
              for (const { id, key } of claims) pipeline.eval(unclaimScript, 1, claimKey(key), id)
              return exec(pipeline).then(() => undefined)
            },
            Effect.void
          ),
          local.unclaim(claims)
        ),

      // SCAN's own cursor ("0" ends it): every key present throughout is returned at least once, so
      // a record seen twice is given once per page only.
      scan: (cursor, limit) =>
        redis.orLocal(
          "status scan",
          async (client) => {
            const [next, keys] = await client.scan(cursor ?? "0", "MATCH", `${redis.prefix}:msg:*`, "COUNT", limit)
            const values = keys.length === 0 ? [] : await client.mget(...keys)
            const records = values.flatMap((value) => {
              if (value === null) return []
              const decoded = decodeRecord(value)
              return Either.isRight(decoded) ? [decoded.right] : []
            })
            return { records, cursor: next === "0" ? undefined : next }
          },
          local.scan(cursor, limit)
        )
    }
    return store
  })

export const layer = (options: Options = {}): Layer.Layer<StatusStore.StatusStore, never, Redis> =>
  Layer.effect(StatusStore.StatusStore, make(options))
