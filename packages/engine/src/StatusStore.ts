import { Clock, Context, Duration, Effect, Layer } from "effect"
import type * as Idempotency from "./Idempotency.js"
import type { MessageRecord } from "./Message.js"

export interface Claim {
  readonly key: string
  readonly id: string
  /** What the message is made of (Idempotency.ts), kept with the key. */
  readonly fingerprint?: string | undefined
}

/** Whom a key already belongs to: the first message's id, and its fingerprint when one was kept. */
export type Claimed = Idempotency.Holder

/**
 * Message status records and idempotency keys kept beside a queue that holds only the messages
 * themselves (a broker): any node answers `status` for any message, and a key repeated on another
 * node still maps to the first id. Entries expire after the store's time-to-live. Implementations
 * never fail: a shared store that is down falls back to local state and says so in logs and metrics.
 */
export interface StatusStoreShape {
  readonly put: (records: ReadonlyArray<MessageRecord>) => Effect.Effect<void>
  /** The records of `ids`, in order; undefined for unknown ones. */
  readonly get: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<MessageRecord | undefined>>
  /** For each claim: whom the key already belonged to, or undefined when this claim took the key. */
  readonly claim: (claims: ReadonlyArray<Claim>) => Effect.Effect<ReadonlyArray<Claimed | undefined>>
  /** Gives keys back (their messages were not stored after all), if they still belong to these ids. */
  readonly unclaim: (claims: ReadonlyArray<Claim>) => Effect.Effect<void>
  /**
   * The records, about `limit` at a time from `cursor` (the previous page's; undefined for the first),
   * in the store's order: for inspection. A record kept during the whole scan is in at least one page
   * (Redis's SCAN may give a key twice while its table grows).
   */
  readonly scan: (cursor: string | undefined, limit: number) => Effect.Effect<{
    readonly records: ReadonlyArray<MessageRecord>
    readonly cursor: string | undefined
  }>
}

export class StatusStore extends Context.Tag("@sluice/engine/StatusStore")<StatusStore, StatusStoreShape>() {}

export interface MemoryOptions {
  /** How long records and keys are kept (default 7 days: longer than the default retry maxAge). */
  readonly ttl?: Duration.DurationInput
}

interface Entry<A> {
  readonly value: A
  readonly expires: number
}

/** Keeps entries in this process, each until its time-to-live passes. */
export const makeMemory = (options: MemoryOptions = {}): Effect.Effect<StatusStoreShape> =>
  Effect.sync(() => {
    const ttl = Duration.toMillis(options.ttl ?? Duration.days(7))
    const records = new Map<string, Entry<MessageRecord>>()
    const keys = new Map<string, Entry<Claimed>>()
    let writes = 0
    // Expired entries are swept now and then on writes, so the maps stay bounded by the TTL.
    const sweep = (now: number) => {
      if (++writes % 10_000 !== 0) return
      for (const map of [records, keys] as const) {
        for (const [key, entry] of map) if (entry.expires <= now) map.delete(key)
      }
    }
    const live = <A>(entry: Entry<A> | undefined, now: number) =>
      entry !== undefined && entry.expires > now ? entry.value : undefined
    const store: StatusStoreShape = {
      put: (batch) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          for (const record of batch) records.set(record.id, { value: record, expires: now + ttl })
          sweep(now)
        }),
      get: (ids) => Effect.map(Clock.currentTimeMillis, (now) => ids.map((id) => live(records.get(id), now))),
      claim: (claims) =>
        Effect.map(Clock.currentTimeMillis, (now) =>
          claims.map(({ fingerprint, id, key }) => {
            const first = live(keys.get(key), now)
            if (first !== undefined) return first
            keys.set(key, { value: { id, fingerprint }, expires: now + ttl })
            sweep(now)
            return undefined
          })),
      unclaim: (claims) =>
        Effect.sync(() => {
          for (const { id, key } of claims) if (keys.get(key)?.value.id === id) keys.delete(key)
        }),
      scan: (cursor, limit) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const ids = [...records.keys()].filter((id) => cursor === undefined || id > cursor).sort().slice(0, limit)
          return {
            records: ids.flatMap((id) => live(records.get(id), now) ?? []),
            cursor: ids.length === limit ? ids.at(-1) : undefined
          }
        })
    }
    return store
  })

export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<StatusStore> =>
  Layer.effect(StatusStore, makeMemory(options))
