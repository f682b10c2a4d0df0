import { Duration } from "effect"
import type { SmtpError, SmtpSession } from "@sluice/smtp"
import type { Category, Classifier } from "../Bounce.js"
import type { Settlement } from "../DeliveryQueue.js"
import type { QueuedMessage, RecipientState, RecipientStatus, Reply } from "../Message.js"
import { statusOf } from "../Message.js"
import type * as Retry from "../Retry.js"

/** What one attempt made of a message's recipients, before the retry policy has its say. */
export interface Judged {
  readonly recipients: ReadonlyArray<RecipientStatus>
  /** The reply that speaks for the attempt: the last refusal when there was one, else the last reply. */
  readonly reply: Reply | undefined
  /** The category of that refusal (undefined when every recipient tried was delivered). */
  readonly category: Category | undefined
  /** Why, in words, for logs and events. */
  readonly reason: string
}

const isOpen = (r: RecipientStatus) => r.status === "pending" || r.status === "deferred"

const nonAscii = /[^\x00-\x7f]/

/** The recipients a transaction answered one by one (RCPT and DATA replies). */
export const fromResult = (
  recipients: ReadonlyArray<RecipientStatus>,
  result: SmtpSession.SendResult,
  classify: Classifier
): Judged => {
  const results = new Map(result.recipients.map((r) => [r.address, r]))
  let reply: Reply | undefined
  let refusal: { reply: Reply; category: Category } | undefined
  const judged = recipients.map((r): RecipientStatus => {
    const answer = results.get(r.address)
    if (answer === undefined || !isOpen(r)) return r
    reply = answer.reply
    if (answer.verdict === "delivered") return { address: r.address, status: "delivered", reply: answer.reply }
    const category = classify(answer.reply)
    refusal = { reply: answer.reply, category }
    const status: RecipientState = answer.verdict === "permanent" ? "bounced" : "deferred"
    return { address: r.address, status, reply: answer.reply, category }
  })
  return {
    recipients: judged,
    reply: refusal?.reply ?? reply,
    category: refusal?.category,
    reason: (refusal?.reply ?? reply)?.text ?? ""
  }
}

/**
 * Every open recipient alike: the transaction failed as a whole (a refused MAIL, a drop, a timeout);
 * but an address the client would not send is its recipient's alone (`unsendable`).
 */
export const fromError = (
  recipients: ReadonlyArray<RecipientStatus>,
  error: SmtpError,
  verdict: "transient" | "permanent",
  classify: Classifier
): Judged => {
  if (error._tag === "SmtpAddressError") {
    // RFC 3463: 5.1.3 a bad destination address, 5.1.7 a bad sender's.
    return error.phase === "rcpt"
      ? unsendable(recipients, (address) => address === error.address, "5.1.3", error.message)
      : unsendable(recipients, undefined, "5.1.7", error.message)
  }
  if (error._tag === "SmtpUnsupportedError" && error.extension === "SMTPUTF8") {
    // RFC 6531 §3.7.4.1: 5.6.7, non-ASCII addresses not permitted. The ASCII recipients may go without
    // SMTPUTF8 (unless the sender needs it: then their next attempt bounces them); when every one is
    // ASCII, it is the sender that needs it, and nobody can go.
    const anyNonAscii = recipients.some((r) => isOpen(r) && nonAscii.test(r.address))
    return unsendable(recipients, anyNonAscii ? (address) => nonAscii.test(address) : undefined, "5.6.7", error.message)
  }
  const reply = error._tag === "SmtpReplyError" ? { code: error.code, enhanced: error.enhanced, text: error.text } : undefined
  // Refused before anything was sent (an address or an extension this upstream cannot carry): a
  // matter of protocol, never a reason to suppress the address.
  const category = reply !== undefined ? classify(reply) : verdict === "permanent" ? "protocol" : classify({ text: error.message })
  return all(recipients, verdict === "permanent" ? "bounced" : "deferred", reply, category, error.message)
}

/**
 * Addresses the SMTP client would not put in the envelope — one it cannot send as it is (only a
 * message queued before submits checked addresses as they now do can hold one, Address.ts), or a
 * non-ASCII one for an upstream without SMTPUTF8 — answered with a reply that says so: Sluice's own,
 * with RFC 5321 §4.2.2's 553 and the enhanced code `enhanced`. The recipients `refused` picks bounce
 * alone, and the others, never tried, are deferred: the next attempt goes without them. Without
 * `refused` (the sender is the one), every recipient bounces.
 */
const unsendable = (
  recipients: ReadonlyArray<RecipientStatus>,
  refused: ((address: string) => boolean) | undefined,
  enhanced: string,
  why: string
): Judged => {
  const reply: Reply = { code: 553, enhanced, text: `not sent by Sluice: ${why}` }
  const judged = recipients.map((r): RecipientStatus =>
    !isOpen(r) ? r : refused === undefined || refused(r.address)
      ? { address: r.address, status: "bounced", reply, category: "protocol" }
      : { address: r.address, status: "deferred", category: "protocol" }
  )
  return { recipients: judged, reply, category: "protocol", reason: reply.text }
}

/** Every open recipient deferred without a reply of its own (every upstream that could take it failed it). */
export const deferred = (recipients: ReadonlyArray<RecipientStatus>, reason: string, classify: Classifier): Judged =>
  all(recipients, "deferred", undefined, classify({ text: reason }), reason)

const all = (
  recipients: ReadonlyArray<RecipientStatus>,
  status: "bounced" | "deferred",
  reply: Reply | undefined,
  category: Category,
  reason: string
): Judged => ({
  recipients: recipients.map((r) => isOpen(r) ? { address: r.address, status, reply, category } : r),
  reply,
  category,
  reason
})

/** Out of attempts or age: whoever is still deferred has failed, keeping its last reply and category. */
export const giveUp = (recipients: ReadonlyArray<RecipientStatus>): ReadonlyArray<RecipientStatus> =>
  recipients.map((r) => r.status === "deferred" ? { ...r, status: "failed" } : r)

/**
 * Whether this attempt set the status of recipient `i` (what it left alone, delivered or bounced
 * before, is not counted again).
 */
export const changed = (before: ReadonlyArray<RecipientStatus>, after: ReadonlyArray<RecipientStatus>, i: number) =>
  isOpen(before[i]!) && after[i]!.status !== "pending"

/** True when the retry policy has a say: some recipient was deferred. */
export const needsDecision = (judged: Judged): boolean => judged.recipients.some((r) => r.status === "deferred")

/**
 * One attempt's outcome under the retry policy: what the queue stores and why, in words. `decision`
 * is the policy's answer (Retry.decide) when a recipient was deferred (`needsDecision`); out of
 * attempts or age, the deferred recipients fail.
 */
export const settle = (
  message: QueuedMessage,
  upstream: string,
  judged: Judged,
  decision: Retry.Decision | undefined,
  policy: Retry.Policy
): { readonly settlement: Settlement; readonly reason: string } => {
  const attempts = message.attempts + 1
  let { reason, recipients } = judged
  let retryAt: number | undefined
  if (decision?._tag === "RetryAt") {
    retryAt = decision.at
  } else if (decision?._tag === "GiveUp") {
    recipients = giveUp(recipients)
    reason = decision.reason === "attempts"
      ? `out of attempts (${attempts} of ${policy.maxAttempts})`
      : `older than the maximum age (${Duration.format(policy.maxAge)})`
  }
  return {
    settlement: { status: statusOf(recipients), attempts, upstream, lastReply: judged.reply, recipients, retryAt },
    reason
  }
}
