import type * as MessageSchema from "./MessageSchema.js"
export { messageId } from "./internal/id.js"

export type Reply = typeof MessageSchema.Reply.Type

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

// The types are the schemas' (MessageSchema.ts): one model, checked where it is decoded.
export type RecipientStatus = typeof MessageSchema.Recipient.Type
export type NewMessage = typeof MessageSchema.NewMessage.Type
export type QueuedMessage = typeof MessageSchema.Queued.Type
export type MessageRecord = typeof MessageSchema.Record.Type

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
