import type { SmtpReply } from "@sluice/smtp"
import type { Category } from "./Bounce.js"
export { messageId } from "./internal/id.js"

export type Reply = SmtpReply.SmtpReply

/** Where a message stands (CONTRACT.md); the one list every schema of a status is built from. */
export const statuses = ["queued", "delivering", "deferred", "delivered", "bounced", "failed", "partial"] as const
export type Status = typeof statuses[number]

/** The statuses a message ends in: `partial` when its recipients ended differently. */
export type FinalStatus = "delivered" | "bounced" | "failed" | "partial"

export const isFinal = (status: Status): status is FinalStatus =>
  status === "delivered" || status === "bounced" || status === "failed" || status === "partial"

/** Where one recipient stands. `pending` has not been tried yet. */
export const recipientStates = ["pending", "deferred", "delivered", "bounced", "failed"] as const
export type RecipientState = typeof recipientStates[number]

export interface RecipientStatus {
  readonly address: string
  readonly status: RecipientState
  /** Its own last reply. */
  readonly reply?: Reply | undefined
  /** Why it bounced, was deferred or failed (Bounce.ts). */
  readonly category?: Category | undefined
}

/** A message ready to be queued: the envelope and the exact bytes to send. */
export interface NewMessage {
  /** Minted by the engine at submit (Message-ID and X-Sluice-Id carry it, for later reports). */
  readonly id: string
  readonly from: string
  readonly to: ReadonlyArray<string>
  readonly content: Uint8Array
  readonly stream: string
  readonly idempotencyKey?: string | undefined
  /**
   * With an idempotency key: what the message was made of (Idempotency.ts), kept with the key so that
   * the key repeated with another message is told from a retry of the same one.
   */
  readonly fingerprint?: string | undefined
}

/** A message in the queue, as a worker gets it. */
export interface QueuedMessage extends NewMessage {
  readonly id: string
  /** Epoch milliseconds of acceptance. */
  readonly submittedAt: number
  /** Delivery attempts made so far. */
  readonly attempts: number
  readonly recipients: ReadonlyArray<RecipientStatus>
  /** The upstream of the last attempt, which deferred it: its retry goes to another when one can take it. */
  readonly lastUpstream?: string | undefined
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
 * are final, their common status, or `partial` when they ended differently (each one's own status and
 * reply are in `recipients`).
 */
export const statusOf = (recipients: ReadonlyArray<RecipientStatus>): "deferred" | FinalStatus => {
  let common: FinalStatus | undefined
  for (const r of recipients) {
    if (r.status === "pending" || r.status === "deferred") return "deferred"
    if (common === undefined) common = r.status
    else if (common !== r.status) common = "partial"
  }
  return common ?? "delivered"
}
