import type { SmtpReply } from "@sluice/smtp"

export type Reply = SmtpReply.SmtpReply

/** Where a message stands (CONTRACT.md). */
export type Status = "queued" | "delivering" | "deferred" | "delivered" | "bounced" | "failed"

export const isFinal = (status: Status): boolean =>
  status === "delivered" || status === "bounced" || status === "failed"

/** Where one recipient stands. `pending` has not been tried yet. */
export type RecipientState = "pending" | "deferred" | "delivered" | "bounced" | "failed"

export interface RecipientStatus {
  readonly address: string
  readonly status: RecipientState
  readonly reply?: Reply | undefined
}

/** A message ready to be queued: the envelope and the exact bytes to send. */
export interface NewMessage {
  readonly from: string
  readonly to: ReadonlyArray<string>
  readonly content: Uint8Array
  readonly stream: string
  readonly idempotencyKey?: string | undefined
}

/** A message in the queue, as a worker gets it. */
export interface QueuedMessage extends NewMessage {
  readonly id: string
  /** Epoch milliseconds of acceptance. */
  readonly submittedAt: number
  /** Delivery attempts made so far. */
  readonly attempts: number
  readonly recipients: ReadonlyArray<RecipientStatus>
}

/** What `GET /v1/messages/{id}` answers. */
export interface MessageRecord {
  readonly id: string
  readonly status: Status
  readonly attempts: number
  readonly stream: string
  readonly submittedAt: number
  readonly updatedAt: number
  readonly upstream?: string | undefined
  readonly lastReply?: Reply | undefined
  readonly recipients: ReadonlyArray<RecipientStatus>
  /** When a deferred message is due for its next attempt (epoch ms). */
  readonly nextAttemptAt?: number | undefined
}

/** Recipients still to be tried: never tried, or deferred. */
export const pendingRecipients = (recipients: ReadonlyArray<RecipientStatus>): Array<string> =>
  recipients.filter((r) => r.status === "pending" || r.status === "deferred").map((r) => r.address)

/**
 * A message's status from its recipients'. Any recipient still to be tried keeps it deferred; once all
 * are final, one delivered recipient makes it delivered (the others' bounces are in `recipients`);
 * otherwise failed (out of attempts or age) wins over bounced.
 */
export const statusOf = (recipients: ReadonlyArray<RecipientStatus>): Status => {
  if (recipients.some((r) => r.status === "pending" || r.status === "deferred")) return "deferred"
  if (recipients.some((r) => r.status === "delivered")) return "delivered"
  if (recipients.some((r) => r.status === "failed")) return "failed"
  return "bounced"
}
