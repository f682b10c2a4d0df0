import type { Effect, Option } from "effect"
import { Context, Data } from "effect"
import { statusOf } from "./Message.js"
import type { FinalStatus, MessageRecord, NewMessage, QueuedMessage, RecipientStatus, Reply, Status } from "./Message.js"

/** The queue could not do what was asked (disk, broker, a closed queue); `reason` says what. */
export class QueueError extends Data.TaggedError("QueueError")<{
  readonly operation: "enqueue" | "take" | "settle" | "release" | "status" | "amend" | "open"
  readonly reason: string
  /**
   * The store has no room left (a full disk): it takes messages again by itself once room is made,
   * and what it holds is still read, delivered and settled meanwhile.
   */
  readonly outOfSpace?: boolean
  readonly cause?: unknown
}> {
  override get message() {
    return `queue ${this.operation}: ${this.reason}`
  }
}

/** The queue cannot do an operator's action (`act` absent): `reason` says why. */
export class QueueActionUnsupported extends Data.TaggedError("QueueActionUnsupported")<{
  readonly action: QueueAction["_tag"]
  readonly reason: string
}> {
  override get message() {
    return `${this.action}: ${this.reason}`
  }
}

/** The queue holds more than its configured depth; callers should come back later. */
export class QueueFull extends Data.TaggedError("QueueFull")<{
  readonly depth: number
  readonly maxDepth: number
}> {
  override get message() {
    return `the queue holds ${this.depth} messages, its limit is ${this.maxDepth}; try again later`
  }
}

interface Amendable {
  readonly status: Status
  readonly recipients: ReadonlyArray<RecipientStatus>
  readonly updatedAt: number
}

/**
 * The record after `update` is applied to its delivered recipient of that address (see `amend`), or
 * undefined when there is none: one rule for every store.
 */
export const amendRecord = <R extends Amendable>(record: R, update: RecipientStatus, now: number): R | undefined => {
  const index = record.recipients.findIndex((r) => r.address.toLowerCase() === update.address.toLowerCase() && r.status === "delivered")
  if (index < 0) return undefined
  const recipients = record.recipients.map((r, i) => i === index ? { ...update, address: r.address } : r)
  const status = statusOf(recipients)
  return { ...record, recipients, status: status === "deferred" ? record.status : status, updatedAt: now }
}

/** What a store keeps of a message that an attempt's settlement changes. */
interface Settleable {
  readonly status: Status
  readonly attempts: number
  readonly updatedAt: number
  readonly upstream?: string | undefined
  readonly lastReply?: Reply | undefined
  readonly recipients: ReadonlyArray<RecipientStatus>
  readonly nextAttemptAt?: number | undefined
}

/** The record after an attempt's settlement: one rule for every store. */
export const settledRecord = <R extends Settleable>(record: R, settlement: Settlement, now: number): R => ({
  ...record,
  status: settlement.status,
  attempts: settlement.attempts,
  updatedAt: now,
  upstream: settlement.upstream,
  lastReply: settlement.lastReply,
  recipients: settlement.recipients,
  nextAttemptAt: settlement.retryAt
})

export interface Enqueued {
  readonly id: string
  /** True when the idempotency key was seen before: `id` is the first message's. */
  readonly duplicate: boolean
  /**
   * With `duplicate`: the key was first used for another message (its fingerprint differs), so this
   * one was not queued; the engine answers it with an IdempotencyConflict naming `id`.
   */
  readonly conflict?: boolean | undefined
}

/** What became of one delivery attempt, written back to the queue. */
export interface Settlement {
  readonly status: FinalStatus | "deferred"
  readonly attempts: number
  readonly upstream?: string | undefined
  readonly lastReply?: Reply | undefined
  readonly recipients: ReadonlyArray<RecipientStatus>
  /** For `deferred`: when the message is due again (epoch ms). */
  readonly retryAt?: number | undefined
}

export interface SettleEntry {
  readonly id: string
  readonly settlement: Settlement
}

/**
 * What an operator does to waiting messages: `retry` makes a deferred one due now (its attempts as
 * they are); `bounce` ends it, every recipient still waiting bounced with `reason`; `delete` drops it
 * and its record.
 */
export type QueueAction =
  | { readonly _tag: "retry" }
  | { readonly _tag: "bounce"; readonly reason: string }
  | { readonly _tag: "delete" }

/** The record after a `bounce` action: final, its waiting recipients bounced with `reason`. */
export const bouncedRecipients = (recipients: ReadonlyArray<RecipientStatus>, reason: string): ReadonlyArray<RecipientStatus> =>
  recipients.map((r) =>
    r.status === "pending" || r.status === "deferred"
      ? { address: r.address, status: "bounced" as const, reply: { code: 550, enhanced: "5.0.0", text: reason }, category: "other" as const }
      : r
  )

/** One page of `scan`: the records, and where the next page starts (undefined: this was the last). */
export interface ScanPage {
  readonly records: ReadonlyArray<MessageRecord>
  readonly cursor: string | undefined
}

/**
 * The port between the engine and a store of messages. A local disk store and a broker
 * (RabbitMQ: publisher confirms, prefetch, ack, nack, dead-letter) both fit it:
 * - `enqueue` returns only once the messages are durable (fsync'd, or confirmed by the broker);
 * - `take` leases ready messages of one stream, waiting until there is at least one: the scheduler
 *   asks only for as many as it has room for, which is how backpressure reaches the queue;
 * - a leased message is settled exactly once (`settle`: final, or deferred to a due time), or
 *   handed back untouched (`release`), or — when the process dies — comes back by itself when its
 *   lease expires.
 */
export interface DeliveryQueueShape {
  readonly enqueue: (
    messages: ReadonlyArray<NewMessage>
  ) => Effect.Effect<ReadonlyArray<Enqueued>, QueueError | QueueFull>
  readonly take: (stream: string, max: number) => Effect.Effect<ReadonlyArray<QueuedMessage>, QueueError>
  readonly settle: (id: string, settlement: Settlement) => Effect.Effect<void, QueueError>
  /** `settle` for many at once (one transaction where the store has them). */
  readonly settleAll: (entries: ReadonlyArray<SettleEntry>) => Effect.Effect<void, QueueError>
  readonly release: (ids: ReadonlyArray<string>) => Effect.Effect<void, QueueError>
  readonly status: (id: string) => Effect.Effect<Option.Option<MessageRecord>, QueueError>
  /**
   * Later news of a recipient the upstream accepted (a bounce report, RFC 3464): that recipient, if it
   * is `delivered`, takes `update`'s status, reply and category, and the message's status follows
   * (`statusOf`). The record as it now stands; none when the message or a delivered recipient of that
   * address is unknown (or its record expired).
   */
  readonly amend: (id: string, update: RecipientStatus) => Effect.Effect<Option.Option<MessageRecord>, QueueError>
  /**
   * The records of the messages not yet final, at most `limit` at a time from `cursor` (the previous
   * page's; undefined for the first), so an inspection never reads the queue into memory at once.
   * A message that is not final during the whole scan appears in a page (once, but on a broker's
   * status store, which may give one twice).
   */
  readonly scan: (cursor: string | undefined, limit: number) => Effect.Effect<ScanPage, QueueError>
  /**
   * "id" when `scan` gives records in id order, which is the order of acceptance (ids grow with
   * time): the oldest message is then the first one, found without reading the rest.
   */
  readonly scanOrder?: "id" | undefined
  /**
   * Does `action` to those of `ids` that wait in the store (not leased: a leased one is with the
   * engine, which hands it back first); answers the ids it acted on. Absent where the store cannot (a
   * broker keeps deferred messages in its delay queues, out of reach).
   */
  readonly act?: ((ids: ReadonlyArray<string>, action: QueueAction) => Effect.Effect<ReadonlyArray<string>, QueueError>) | undefined
  /** Messages accepted and not yet final. */
  readonly depth: Effect.Effect<number>
  /** False while the store cannot take or give messages (a broker reconnecting). */
  readonly isOpen: Effect.Effect<boolean>
}

export class DeliveryQueue extends Context.Tag("@sluice/engine/DeliveryQueue")<DeliveryQueue, DeliveryQueueShape>() {}
