import { Clock, Effect, Layer, Option, Schema } from "effect"
import { Positive, withDefault } from "./Config.js"
import type { DeliveryQueueShape, Enqueued, Settlement } from "./DeliveryQueue.js"
import { amendRecord, bouncedRecipients, DeliveryQueue, QueueFull, settledRecord } from "./DeliveryQueue.js"
import * as Idempotency from "./Idempotency.js"
import { Deque } from "./internal/deque.js"
import { DueHeap } from "./internal/dueHeap.js"
import { Signal } from "./Signal.js"
import type { MessageRecord, QueuedMessage } from "./Message.js"

/** The configuration file's `queue` section when `kind` is "memory": nothing survives the process. */
export const Config = Schema.Struct({
  kind: Schema.Literal("memory"),
  maxDepth: withDefault(Positive, () => 1_000_000)
})
export type Config = Schema.Schema.Type<typeof Config>

export interface Options {
  /** Above this many unfinished messages, enqueue fails with QueueFull. */
  readonly maxDepth?: number
}

/**
 * A DeliveryQueue in memory: for tests, benchmarks and embedders who accept losing queued mail on a
 * crash. Nothing here is durable; the embedded spool is the durable default.
 */
export const make = (options: Options = {}): Effect.Effect<DeliveryQueueShape> =>
  Effect.sync(() => {
    const maxDepth = options.maxDepth ?? 1_000_000
    const messages = new Map<string, QueuedMessage>()
    const records = new Map<string, MessageRecord>()
    const ready = new Map<string, Deque<string>>()
    const delayed = new DueHeap()
    /** Idempotency key → the first message's id and fingerprint. */
    const idempotency = new Map<string, { readonly id: string; readonly fingerprint: string }>()
    const changed = new Signal()
    /** Taken and not yet settled or released: with the engine. */
    const taken = new Set<string>()
    /** When each deferred message is due: a heap entry that does not match is one a later change replaced. */
    const dueAt = new Map<string, number>()

    const readyOf = (stream: string) => {
      let deque = ready.get(stream)
      if (deque === undefined) ready.set(stream, deque = new Deque())
      return deque
    }
    const promoteDue = (now: number) => {
      for (const id of delayed.popDue(now)) {
        const message = messages.get(id)
        const at = dueAt.get(id)
        if (message === undefined || at === undefined || at > now) continue
        dueAt.delete(id)
        readyOf(message.stream).push(id)
      }
    }

    const settle = (id: string, settlement: Settlement, now: number) => {
      const message = messages.get(id)
      const record = records.get(id)
      if (message === undefined || record === undefined) return
      records.set(id, settledRecord(record, settlement, now))
      taken.delete(id)
      if (settlement.status === "deferred") {
        messages.set(id, { ...message, attempts: settlement.attempts, recipients: settlement.recipients, lastUpstream: settlement.upstream })
        const at = settlement.retryAt ?? now
        dueAt.set(id, at)
        delayed.push(at, id)
        changed.notify()
      } else {
        messages.delete(id)
        dueAt.delete(id)
      }
    }

    const queue: DeliveryQueueShape = {
      enqueue: (batch) =>
        Effect.gen(function*() {
          if (messages.size + batch.length > maxDepth) {
            return yield* new QueueFull({ depth: messages.size, maxDepth })
          }
          const now = yield* Clock.currentTimeMillis
          const results: Array<Enqueued> = []
          for (const message of batch) {
            const key = message.idempotencyKey
            const fingerprint = key === undefined ? undefined : Idempotency.fingerprintOf(message)
            const first = key === undefined ? undefined : idempotency.get(key)
            if (first !== undefined) {
              const conflict = !Idempotency.sameMessage(first.fingerprint, fingerprint!)
              results.push(conflict ? { id: first.id, duplicate: true, conflict } : { id: first.id, duplicate: true })
              continue
            }
            const id = message.id
            const recipients = message.to.map((address) => ({ address, status: "pending" as const }))
            messages.set(id, { ...message, id, submittedAt: now, attempts: 0, recipients })
            // Every field present from the start: settling fills them in without changing the
            // record's shape (a spread adding fields makes V8 build a dictionary, ~2 KB a message).
            records.set(id, {
              id,
              status: "queued",
              attempts: 0,
              stream: message.stream,
              submittedAt: now,
              updatedAt: now,
              upstream: undefined,
              lastReply: undefined,
              recipients,
              nextAttemptAt: undefined,
              suspended: undefined
            })
            if (key !== undefined) idempotency.set(key, { id, fingerprint: fingerprint! })
            readyOf(message.stream).push(id)
            results.push({ id, duplicate: false })
          }
          changed.notify()
          return results
        }),

      take: (stream, max) =>
        Effect.gen(function*() {
          for (;;) {
            const woken = changed.next()
            const now = yield* Clock.currentTimeMillis
            promoteDue(now)
            const deque = readyOf(stream)
            if (deque.length > 0) {
              const given: Array<QueuedMessage> = []
              while (given.length < max && deque.length > 0) {
                const message = messages.get(deque.shift()!)
                if (message !== undefined && !taken.has(message.id)) {
                  given.push(message)
                  taken.add(message.id)
                }
              }
              if (given.length > 0) return given
            }
            const due = delayed.nextDue
            yield* due === undefined ? woken : Effect.race(woken, Effect.sleep(Math.max(1, due - now)))
          }
        }),

      settleAll: (entries) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          for (const { id, settlement } of entries) settle(id, settlement, now)
        }),

      settle: (id, settlement) => Effect.map(Clock.currentTimeMillis, (now) => settle(id, settlement, now)),

      release: (ids) =>
        Effect.sync(() => {
          for (const id of ids) {
            const message = messages.get(id)
            if (message !== undefined && taken.delete(id)) readyOf(message.stream).push(id)
          }
          changed.notify()
        }),

      status: (id) => Effect.sync(() => Option.fromNullable(records.get(id))),
      amend: (id, update) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const record = records.get(id)
          const amended = record === undefined ? undefined : amendRecord(record, update, now)
          if (amended !== undefined) {
            records.set(id, amended)
            const message = messages.get(id)
            if (message !== undefined) messages.set(id, { ...message, recipients: amended.recipients })
          }
          return Option.fromNullable(amended)
        }),
      scan: (cursor, limit) =>
        Effect.sync(() => {
          // In id order (ids grow with time), so a cursor is the last id given.
          const ids = [...messages.keys()].filter((id) => cursor === undefined || id > cursor).sort().slice(0, limit)
          const page = ids.flatMap((id) => records.get(id) ?? [])
          return { records: page, cursor: ids.length === limit ? ids.at(-1) : undefined }
        }),
      scanOrder: "id",
      act: (ids, action) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const done: Array<string> = []
          for (const id of ids) {
            const message = messages.get(id)
            const record = records.get(id)
            if (message === undefined || record === undefined || taken.has(id)) continue
            if (action._tag === "retry") {
              if (record.status !== "deferred") continue
              settle(id, { ...record, status: "deferred", retryAt: now }, now)
            } else if (action._tag === "bounce") {
              settle(id, { ...record, status: "bounced", recipients: bouncedRecipients(record.recipients, action.reason) }, now)
            } else {
              messages.delete(id)
              records.delete(id)
              dueAt.delete(id)
              // Its idempotency key goes with it: the key submitted again makes a new message.
              if (message.idempotencyKey !== undefined && idempotency.get(message.idempotencyKey)?.id === id) idempotency.delete(message.idempotencyKey)
            }
            done.push(id)
          }
          return done
        }),
      depth: Effect.sync(() => messages.size),
      isOpen: Effect.succeed(true)
    }
    return queue
  })

export const layer = (options: Options = {}): Layer.Layer<DeliveryQueue> =>
  Layer.effect(DeliveryQueue, make(options))
