import { Effect } from "effect"
import type { Attachment, ParsedMail, SimpleParserOptions, StructuredHeader } from "mailparser"
import type { Arf, Dsn, DsnRecipient, Original, Report } from "../../Feedback.js"
import { InvalidReport } from "../../Feedback.js"
import type { Reply } from "../../Message.js"
import { maxRecipients } from "../../Submission.js"
import type { Block } from "./fields.js"
import * as Fields from "./fields.js"

// Loaded on the first report: most processes never get one, and the parser and its HTML converter
// add to every start-up.
let mailparser: Promise<typeof import("mailparser")> | undefined
const load = () => (mailparser ??= import("mailparser"))

const parserOptions: SimpleParserOptions = {
  // A message/delivery-status part is otherwise merged into the text, where its blocks cannot be told apart.
  keepDeliveryStatus: true,
  // The returned message stays one part: its head is what we read, and its own parts are not ours to parse.
  ignoreEmbedded: true,
  skipHtmlToText: true,
  skipTextToHtml: true,
  skipImageLinks: true,
  skipTextLinks: true,
  checksumAlgo: false,
  // A report has a handful of parts and a short head; anything much larger is not one.
  maxHeadSize: 256 * 1024,
  maxChildNodes: 64
}

const statusTypes = new Set(["message/delivery-status", "message/global-delivery-status"])
const feedbackTypes = new Set(["message/feedback-report"])
// RFC 3464 §2 and RFC 5965 §2: the returned message whole, or only its head; RFC 6533/6532 for UTF-8.
const originalTypes = new Set(["message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"])

/** Bytes of a status or feedback part read at most: 1,000 recipient blocks fit many times over. */
const maxPartBytes = 2 * 1024 * 1024
/** Bytes of the returned message searched for its head. */
const maxHeadBytes = 256 * 1024

/** A Sluice id (internal/id.ts): 9 base-36 characters of time, 16 hex characters of randomness. */
const idShape = /^[0-9a-z]{9}[0-9a-f]{16}$/

const asId = (value: string | undefined): string | undefined => {
  const candidate = value?.trim().toLowerCase()
  return candidate !== undefined && idShape.test(candidate) ? candidate : undefined
}

const clip = (value: string, length = 120) => value.length > length ? `${value.slice(0, length)}…` : value

const textOf = (attachment: Attachment, maxBytes: number) =>
  attachment.content.subarray(0, maxBytes).toString("utf8")

const partOf = (mail: ParsedMail, types: ReadonlySet<string>): Attachment | undefined =>
  mail.attachments.find((a) => types.has(a.contentType.toLowerCase()))

/** The head of the returned message: its X-Sluice-Id, Message-ID and To. */
const originalOf = (attachment: Attachment | undefined, parseAddresses: typeof import("mailparser").parseAddressHeader): Original => {
  if (attachment === undefined) return { id: undefined, messageId: undefined, to: [] }
  const text = textOf(attachment, maxHeadBytes)
  // A message that starts with an empty line has no head: its body must not be read as one.
  if (/^[ \t]*\r?\n/.test(text)) return { id: undefined, messageId: undefined, to: [] }
  const end = text.search(/\r?\n[ \t]*\r?\n/)
  const [head] = Fields.parse(end < 0 ? text : text.slice(0, end), { maxBlocks: 1, maxValueLength: 65_536, maxFields: 256 }).blocks
  if (head === undefined) return { id: undefined, messageId: undefined, to: [] }
  const messageId = Fields.first(head, "message-id")
  const local = messageId === undefined ? undefined : /<?([^<>@\s]+)@/.exec(messageId)?.[1]
  const to = parseAddresses([...head.get("to") ?? []], { flatten: true, decodePunycode: false }).value
    .flatMap((entry) => entry.address === undefined || entry.address === "" ? [] : [entry.address])
    .slice(0, maxRecipients)
  return { id: asId(Fields.first(head, "x-sluice-id")) ?? asId(local), messageId, to }
}

const statusPattern = /^[245]\.\d{1,3}\.\d{1,3}$/

const recipientOf = (block: Block): DsnRecipient | undefined => {
  const finalRecipient = Fields.typedAddress(Fields.first(block, "final-recipient"))
  const originalRecipient = Fields.typedAddress(Fields.first(block, "original-recipient"))
  const address = finalRecipient ?? originalRecipient
  if (address === undefined) return undefined
  const status = Fields.withoutComments(Fields.first(block, "status") ?? "").split(" ")[0]!
  const diagnostic = Fields.first(block, "diagnostic-code")
  const semicolon = diagnostic?.indexOf(";") ?? -1
  const remoteMta = Fields.first(block, "remote-mta")
  return {
    address,
    originalRecipient: originalRecipient !== address ? originalRecipient : undefined,
    action: Fields.withoutComments(Fields.first(block, "action") ?? "").toLowerCase(),
    status: statusPattern.test(status) ? status : undefined,
    diagnosticType: diagnostic === undefined || semicolon < 0 ? undefined : diagnostic.slice(0, semicolon).trim().toLowerCase(),
    diagnostic: diagnostic === undefined ? undefined : diagnostic.slice(semicolon + 1).trim() || undefined,
    remoteMta: remoteMta === undefined ? undefined : Fields.withoutComments(remoteMta.slice(remoteMta.indexOf(";") + 1)) || undefined
  }
}

const dsnOf = (part: Attachment, original: Original): Effect.Effect<Dsn, InvalidReport> => {
  // The per-message block first, then one per recipient (RFC 3464 §2.1); one more is read for the
  // per-message block, the rest only counted.
  const { blocks, skipped } = Fields.parse(textOf(part, maxPartBytes), {
    maxBlocks: maxRecipients + 1,
    maxValueLength: 2048,
    maxFields: 64
  })
  const perMessage = blocks.find((block) => !block.has("final-recipient") && !block.has("original-recipient"))
  const recipients = blocks.flatMap((block) => {
    const recipient = block === perMessage ? undefined : recipientOf(block)
    return recipient === undefined ? [] : [recipient]
  }).slice(0, maxRecipients)
  if (recipients.length === 0) {
    return Effect.fail(new InvalidReport({ reason: "no recipient in the delivery-status part (no Final-Recipient field)" }))
  }
  const reportingMta = perMessage === undefined ? undefined : Fields.first(perMessage, "reporting-mta")
  return Effect.succeed({
    _tag: "Dsn",
    id: original.id,
    reportingMta: reportingMta === undefined ? undefined : reportingMta.slice(reportingMta.indexOf(";") + 1).trim(),
    recipients,
    skipped: skipped + Math.max(0, blocks.length - (perMessage === undefined ? 0 : 1) - maxRecipients),
    original
  })
}

const arfOf = (part: Attachment, original: Original): Effect.Effect<Arf, InvalidReport> => {
  // One block (RFC 5965 §3.1); a few more are merged in case a generator put blank lines between fields.
  const { blocks } = Fields.parse(textOf(part, maxPartBytes), { maxBlocks: 4, maxValueLength: 1024, maxFields: 64 })
  const all = (name: string) => blocks.flatMap((block) => block.get(name) ?? [])
  const one = (name: string) => all(name).find((value) => value !== "")
  const feedbackType = one("feedback-type")
  if (feedbackType === undefined) return Effect.fail(new InvalidReport({ reason: "no Feedback-Type in the feedback-report part" }))
  return Effect.succeed({
    _tag: "Arf",
    id: original.id,
    feedbackType: Fields.withoutComments(feedbackType).toLowerCase(),
    originalRcptTo: all("original-rcpt-to").flatMap((value) => Fields.bareAddress(value) ?? []).slice(0, maxRecipients),
    originalMailFrom: one("original-mail-from") === undefined ? undefined : Fields.bareAddress(one("original-mail-from")!),
    arrivalDate: one("arrival-date"),
    userAgent: one("user-agent"),
    reportingMta: one("reporting-mta")?.replace(/^[^;]*;/, "").trim(),
    original
  })
}

/** A raw report (RFC 6522 multipart/report) as a Dsn or an Arf, or why it is not one. */
export const parse = (raw: Uint8Array): Effect.Effect<Report, InvalidReport> =>
  Effect.gen(function*() {
    const { parseAddressHeader, simpleParser } = yield* Effect.promise(load)
    const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
    const mail = yield* Effect.tryPromise({
      try: () => simpleParser(bytes, parserOptions),
      catch: (error) => new InvalidReport({ reason: `not a readable MIME message: ${clip(error instanceof Error ? error.message : String(error))}` })
    })
    const contentType = mail.headers.get("content-type") as StructuredHeader | undefined
    const type = contentType?.value?.toLowerCase()
    if (type !== "multipart/report") {
      return yield* new InvalidReport({
        reason: type === undefined ? "not multipart/report (no Content-Type)" : `not multipart/report (Content-Type ${clip(type)})`
      })
    }
    const reportType = contentType?.params?.["report-type"]?.toLowerCase()
    const statusPart = partOf(mail, statusTypes)
    const feedbackPart = partOf(mail, feedbackTypes)
    const original = originalOf(partOf(mail, originalTypes), parseAddressHeader)
    switch (reportType) {
      case "delivery-status":
      case "global-delivery-status":
        if (statusPart === undefined) return yield* new InvalidReport({ reason: "no delivery-status part" })
        return yield* dsnOf(statusPart, original)
      case "feedback-report":
        if (feedbackPart === undefined) return yield* new InvalidReport({ reason: "no feedback-report part" })
        return yield* arfOf(feedbackPart, original)
      default:
        // A report-type missing or misspelt: the parts say which report it is.
        if (statusPart !== undefined) return yield* dsnOf(statusPart, original)
        if (feedbackPart !== undefined) return yield* arfOf(feedbackPart, original)
        return yield* new InvalidReport({
          reason: reportType === undefined
            ? "no report-type, and neither a delivery-status nor a feedback-report part"
            : `report-type "${clip(reportType)}" is neither delivery-status nor feedback-report`
        })
    }
  })

/**
 * The reply a failed recipient's report stands for: the code and text of its Diagnostic-Code (an SMTP
 * reply, its repeated "550-5.1.1" line prefixes removed), the enhanced code of its Status. Without an
 * SMTP diagnostic, the basic code follows the Status's class (RFC 3463 §3.1: 4 persistent transient,
 * 5 permanent).
 */
export const replyOf = (recipient: DsnRecipient): Reply => {
  let code = recipient.status?.startsWith("4") ? 450 : 550
  let enhanced = recipient.status
  let text = recipient.diagnostic ?? ""
  const basic = /^([45]\d\d)(?=[\s-]|$)/.exec(text)?.[1]
  if (basic !== undefined) {
    code = Number(basic)
    const prefix = new RegExp(`(^|\\s)${basic}(?:-|\\s+|$)(?:([245]\\.\\d{1,3}\\.\\d{1,3})(?=\\s|$))?`, "g")
    text = text.replace(prefix, (_, space: string, found: string | undefined) => {
      enhanced ??= found
      return space
    })
  }
  return { code, enhanced, text: text.replace(/\s+/g, " ").trim() }
}
