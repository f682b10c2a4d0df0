/**
 * Later news of delivered mail: a delivery status notification (RFC 3464) for a recipient the upstream
 * accepted and could not deliver after all, or an abuse report (ARF, RFC 5965) from a recipient who
 * complained. `parse` reads a raw report (RFC 6522 multipart/report, with mailparser); `make` gives the
 * engine's `apply`, which finds the message the report is about, marks that recipient bounced or counts
 * the complaint, emits the event and suppresses the address.
 */
import type { Effect, Option } from "effect"
import { Data } from "effect"
import type { Category, Classifier } from "./Bounce.js"
import type { SluiceConfig } from "./Config.js"
import type { DeliveryEvent } from "./DeliveryEvent.js"
import type { DeliveryQueueShape, QueueError } from "./DeliveryQueue.js"
import * as internal from "./internal/feedback/apply.js"
import * as report from "./internal/feedback/report.js"
import type { Reply, Status } from "./Message.js"
import type { SuppressionsShape } from "./Suppressions.js"

/** The input is not a report Sluice can read; `reason` says what is missing. */
export class InvalidReport extends Data.TaggedError("InvalidReport")<{ readonly reason: string }> {
  override get message() {
    return `not a delivery status notification or abuse report: ${this.reason}`
  }
}

/** The head of the message a report returns (whole, or only its head). */
export interface Original {
  /** The Sluice id it carries: its X-Sluice-Id, else a Message-ID whose local part is a Sluice id. */
  readonly id: string | undefined
  readonly messageId: string | undefined
  /** The addresses of its To header. */
  readonly to: ReadonlyArray<string>
}

/** One per-recipient block of a delivery status notification (RFC 3464 §2.3). */
export interface DsnRecipient {
  /** Final-Recipient's address (or Original-Recipient's when there is no usable Final-Recipient). */
  readonly address: string
  /** Original-Recipient's address, when it differs: the address as the sender gave it. */
  readonly originalRecipient: string | undefined
  /** Lowercased: failed, delayed, delivered, relayed or expanded. */
  readonly action: string
  /** The RFC 3463 status code, e.g. "5.1.1". */
  readonly status: string | undefined
  /** Diagnostic-Code's type ("smtp") and text ("550 5.1.1 <a@b>: User unknown"). */
  readonly diagnosticType: string | undefined
  readonly diagnostic: string | undefined
  readonly remoteMta: string | undefined
}

export interface Dsn {
  readonly _tag: "Dsn"
  /** The Sluice id of the message it reports on, when the returned message carries one. */
  readonly id: string | undefined
  readonly reportingMta: string | undefined
  /** At most `Submission.maxRecipients` of them. */
  readonly recipients: ReadonlyArray<DsnRecipient>
  /** Recipient blocks past that bound, not read. */
  readonly skipped: number
  readonly original: Original
}

export interface Arf {
  readonly _tag: "Arf"
  readonly id: string | undefined
  /** Lowercased: abuse, fraud, virus, other, not-spam, auth-failure (RFC 5965, 6430, 6591). */
  readonly feedbackType: string
  readonly originalRcptTo: ReadonlyArray<string>
  readonly originalMailFrom: string | undefined
  readonly arrivalDate: string | undefined
  readonly userAgent: string | undefined
  readonly reportingMta: string | undefined
  readonly original: Original
}

export type Report = Dsn | Arf

// Functions, not aliases: the internal modules import InvalidReport from here.

/** A raw report read: a Dsn or an Arf, or InvalidReport. Never throws, whatever the bytes. */
export const parse = (raw: Uint8Array): Effect.Effect<Report, InvalidReport> => report.parse(raw)

/** The reply a failed recipient's block stands for: code and text from its Diagnostic-Code, enhanced code from its Status. */
export const replyOf = (recipient: DsnRecipient): Reply => report.replyOf(recipient)

/** What a report did to one recipient. */
export interface FeedbackRecipient {
  /** As the message has it when it is one of its recipients, else as the report gives it. */
  readonly address: string
  /** The report's Action (a delivery status notification's). */
  readonly action?: string | undefined
  /** The report's Status code, e.g. "5.1.1". */
  readonly status?: string | undefined
  readonly category?: Category | undefined
  /** The message's recipient was marked bounced (a DSN), or the complaint was recorded against it (an ARF). */
  readonly applied: boolean
  /** The address was added to the suppression list. */
  readonly suppressed: boolean
}

export interface FeedbackResult {
  readonly kind: "bounce" | "complaint"
  /** The report is about a message Sluice knows; when false, nothing changed. */
  readonly matched: boolean
  readonly id?: string | undefined
  /** The message's status after the report. */
  readonly status?: Status | undefined
  /** An abuse report's Feedback-Type. */
  readonly feedbackType?: string | undefined
  readonly recipients: ReadonlyArray<FeedbackRecipient>
  /** Why less was done than the report asks, when it was. */
  readonly note?: string | undefined
}

export interface ComplaintResult {
  readonly id: string
  /** Whose complaint: the address given, or the message's only recipient. */
  readonly address: string | undefined
  readonly suppressed: boolean
  /** Why nobody was suppressed, when nobody was. */
  readonly note?: string | undefined
}

export interface Dependencies {
  readonly queue: DeliveryQueueShape
  /** Bounce.make(config.bounces.rules). */
  readonly classify: Classifier
  /** Where addresses are suppressed; none (or `config.auto` off): nobody is. */
  readonly suppressions: Option.Option<SuppressionsShape>
  readonly config: SluiceConfig["suppressions"]
  readonly publish: (event: DeliveryEvent) => Effect.Effect<void>
}

export interface FeedbackShape {
  /** Reads a raw report and applies it to the message it is about (see the module's comment). */
  readonly apply: (raw: Uint8Array) => Effect.Effect<FeedbackResult, InvalidReport | QueueError>
  /**
   * Records a complaint against message `id` by `address`, or, without one, by the message's only
   * recipient: counted, published, and that address suppressed. None when there is no such message.
   */
  readonly complain: (id: string, address?: string) => Effect.Effect<Option.Option<ComplaintResult>, QueueError>
}

export const make = (dependencies: Dependencies): FeedbackShape => internal.make(dependencies)
