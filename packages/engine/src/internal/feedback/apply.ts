import { Clock, Duration, Effect, Metric, Option } from "effect"
import * as Bounce from "../../Bounce.js"
import type { QueueError } from "../../DeliveryQueue.js"
import * as EngineMetrics from "../../EngineMetrics.js"
import type {
  Arf,
  ComplaintResult,
  Dependencies,
  Dsn,
  FeedbackRecipient,
  FeedbackResult,
  FeedbackShape
} from "../../Feedback.js"
import type { MessageRecord } from "../../Message.js"
import { maxRecipients } from "../../Submission.js"
import { parse, replyOf } from "./report.js"

// Feedback types that are no complaint: a user saying a message is not spam (RFC 6430) and an
// authentication failure report (RFC 6591).
const notComplaints = new Set(["not-spam", "auth-failure"])

const recipientOf = (record: MessageRecord, address: string) => {
  const wanted = address.toLowerCase()
  return record.recipients.find((r) => r.address.toLowerCase() === wanted)
}


export const make = ({ classify, config, publish, queue, suppressions }: Dependencies): FeedbackShape => {
  const suppressor = config.auto ? Option.getOrUndefined(suppressions) : undefined
  const expireAfter = config.expireAfter === undefined ? undefined : Duration.toMillis(config.expireAfter)
  const notSuppressing = !config.auto
    ? "automatic suppressions are off (suppressions.auto)"
    : "this engine has no suppression list"

  const suppress = (address: string, reason: string) =>
    Effect.gen(function*() {
      if (suppressor === undefined) return false
      const now = yield* Clock.currentTimeMillis
      yield* suppressor.add(address, reason, expireAfter === undefined ? undefined : now + expireAfter)
      return true
    })

  const unmatched = (kind: FeedbackResult["kind"], id: string | undefined, messageId: string | undefined) =>
    Effect.logInfo("feedback unmatched").pipe(
      Effect.annotateLogs({ kind, messageId: id, originalMessageId: messageId }),
      Effect.as(id === undefined
        ? "the returned message carries no Sluice id (X-Sluice-Id, or a Message-ID Sluice set)"
        : `no message with id "${id}"`)
    )

  const bounce = (report: Dsn) =>
    Effect.gen(function*() {
      const found = report.id === undefined ? Option.none() : yield* queue.status(report.id)
      const notApplied = (r: Dsn["recipients"][number]): FeedbackRecipient => ({
        address: r.address,
        action: r.action,
        status: r.status,
        applied: false,
        suppressed: false
      })
      if (Option.isNone(found)) {
        const note = yield* unmatched("bounce", report.id, report.original.messageId)
        return { kind: "bounce", matched: false, id: report.id, recipients: report.recipients.map(notApplied), note } satisfies FeedbackResult
      }
      const id = found.value.id
      let record = found.value
      const results: Array<FeedbackRecipient> = []
      for (const r of report.recipients) {
        // delayed, delivered, relayed, expanded: news, but no outcome to change.
        if (r.action !== "failed") {
          results.push(notApplied(r))
          continue
        }
        const known = (r.originalRecipient === undefined ? undefined : recipientOf(record, r.originalRecipient)) ??
          recipientOf(record, r.address)
        const address = known?.address ?? r.address
        const reply = replyOf(r)
        const category = classify(reply)
        const amended = yield* queue.amend(id, { address, status: "bounced", reply, category })
        if (Option.isNone(amended)) {
          // Not a delivered recipient of the message (any more): a second report, or someone else's.
          results.push({ ...notApplied(r), address, category })
          continue
        }
        record = amended.value
        const now = yield* Clock.currentTimeMillis
        yield* publish({ _tag: "LateBounce", id, at: now, recipient: recipientOf(record, address)!, status: record.status })
        yield* Metric.increment(EngineMetrics.recipients("bounced", record.stream))
        yield* Metric.increment(EngineMetrics.bounces(category, "feedback", "bounce"))
        const suppressed = Bounce.suppresses(category) ? yield* suppress(address, Bounce.suppressionReason({ reply, category })) : false
        yield* Effect.logInfo("late bounce").pipe(Effect.annotateLogs({
          messageId: id,
          address,
          code: reply.code,
          enhanced: reply.enhanced,
          category,
          status: record.status,
          stream: record.stream,
          suppressed
        }))
        results.push({ address, action: r.action, status: r.status, category, applied: true, suppressed })
      }
      const notes = [
        ...(report.skipped > 0 ? [`${report.skipped} recipient blocks past the first ${maxRecipients} were not read`] : []),
        ...(results.some((r) => r.action === "failed" && !r.applied)
          ? ["a failed recipient that is not a delivered recipient of the message was left as it was"]
          : []),
        ...(results.some((r) => r.applied && r.category !== undefined && Bounce.suppresses(r.category) && !r.suppressed)
          ? [`nobody suppressed: ${notSuppressing}`]
          : [])
      ]
      return {
        kind: "bounce",
        matched: true,
        id,
        status: record.status,
        recipients: results,
        ...(notes.length > 0 ? { note: notes.join("; ") } : {})
      } satisfies FeedbackResult
    })

  /**
   * Whose complaint it is: the first of `candidates` that is a recipient of the message; failing
   * that (unless `explicit`), the message's only recipient. Counted, published, and that address
   * suppressed.
   */
  const complaint = (
    record: MessageRecord,
    candidates: ReadonlyArray<string>,
    options: { readonly explicit: boolean; readonly source: "arf" | "api"; readonly reason: string }
  ) =>
    Effect.gen(function*() {
      let address = candidates.map((candidate) => recipientOf(record, candidate)).find((r) => r !== undefined)?.address
      let note: string | undefined
      if (address === undefined) {
        if (options.explicit) note = `${candidates[0]} is not a recipient of message ${record.id}; nobody suppressed`
        else if (record.recipients.length === 1) address = record.recipients[0]!.address
        else note = `the complaint does not say which of the message's ${record.recipients.length} recipients complained; nobody suppressed`
      }
      const now = yield* Clock.currentTimeMillis
      yield* Metric.increment(EngineMetrics.outcome.complained)
      yield* publish({ _tag: "Complained", id: record.id, at: now, address, source: options.source })
      const suppressed = address === undefined ? false : yield* suppress(address, options.reason)
      if (address !== undefined && !suppressed) note = `nobody suppressed: ${notSuppressing}`
      yield* Effect.logInfo("complaint").pipe(Effect.annotateLogs({
        messageId: record.id,
        address,
        source: options.source,
        status: record.status,
        stream: record.stream,
        suppressed
      }))
      return { id: record.id, address, suppressed, ...(note === undefined ? {} : { note }) } satisfies ComplaintResult
    })

  const abuse = (report: Arf) =>
    Effect.gen(function*() {
      const found = report.id === undefined ? Option.none() : yield* queue.status(report.id)
      const base = { kind: "complaint", feedbackType: report.feedbackType } as const
      if (Option.isNone(found)) {
        const note = yield* unmatched("complaint", report.id, report.original.messageId)
        return { ...base, matched: false, id: report.id, recipients: [], note } satisfies FeedbackResult
      }
      const record = found.value
      if (notComplaints.has(report.feedbackType)) {
        return {
          ...base,
          matched: true,
          id: record.id,
          status: record.status,
          recipients: [],
          note: `Feedback-Type ${report.feedbackType} is not a complaint; nothing recorded`
        } satisfies FeedbackResult
      }
      // Original-Rcpt-To names the complainer (RFC 5965 §3.2); many providers leave it out, and then
      // the returned message's To says it, when it names one recipient of the message.
      const named = report.original.to.filter((to) => recipientOf(record, to) !== undefined)
      const candidates = [...report.originalRcptTo, ...(named.length === 1 ? named : [])]
      const result = yield* complaint(record, candidates, {
        explicit: false,
        source: "arf",
        reason: `complained: ${report.feedbackType} report on message ${record.id}`
      })
      return {
        ...base,
        matched: true,
        id: record.id,
        status: record.status,
        recipients: result.address === undefined ? [] : [{ address: result.address, applied: true, suppressed: result.suppressed }],
        ...(result.note === undefined ? {} : { note: result.note })
      } satisfies FeedbackResult
    })

  return {
    apply: (raw) =>
      parse(raw).pipe(Effect.flatMap((report): Effect.Effect<FeedbackResult, QueueError> =>
        report._tag === "Dsn" ? bounce(report) : abuse(report)
      )),
    complain: (id, address) =>
      queue.status(id).pipe(Effect.flatMap(Option.match({
        onNone: () => Effect.succeedNone,
        onSome: (record) =>
          complaint(record, address === undefined ? [] : [address], {
            explicit: address !== undefined,
            source: "api",
            reason: `complained about message ${record.id}`
          }).pipe(Effect.map(Option.some))
      })))
  }
}
