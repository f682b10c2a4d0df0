import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Layer, Logger, LogLevel, Metric, PubSub, Queue, Random, TestClock } from "effect"
import type { SmtpError, SmtpSession } from "@sluice/smtp"
import { SmtpAddressError, SmtpReply, SmtpReplyError, SmtpTimeoutError } from "@sluice/smtp"
import * as Bounce from "../src/Bounce.js"
import type { DeliveryEvent } from "../src/DeliveryEvent.js"
import * as EngineMetrics from "../src/EngineMetrics.js"
import type { QueuedMessage, RecipientState, Status } from "../src/Message.js"
import * as Outcome from "../src/internal/Outcome.js"
import * as Report from "../src/internal/Report.js"
import * as Retry from "../src/Retry.js"
import { Config } from "../src/index.js"

const now = 1_000_000
const upstream = "relay"
const ok = { code: 250, enhanced: "2.0.0", text: "ok" }
const later = { code: 451, enhanced: "4.2.0", text: "try later" }
const gone = { code: 550, enhanced: "5.1.1", text: "no such user" }

const result = (...replies: ReadonlyArray<{ readonly code: number; readonly enhanced: string; readonly text: string }>): SmtpSession.SendResult => ({
  recipients: replies.map((reply, i) => ({
    address: `r${i}@example.net`,
    verdict: SmtpReply.classifyReply(reply, "rcpt"),
    phase: "rcpt",
    reply
  }))
})

interface Row {
  readonly name: string
  /** What the attempt came back with. */
  readonly sent: SmtpSession.SendResult | SmtpError
  readonly recipients: number
  /** Attempts made before this one. */
  readonly before?: number
  readonly policy?: Partial<Retry.Policy>
  /** Accepted this long before the attempt. */
  readonly age?: Duration.DurationInput
  readonly status: Status
  readonly each: ReadonlyArray<RecipientState>
  /** With Random pinned to the middle, the jitter is × 1: the nominal delay. */
  readonly retryIn?: Duration.DurationInput
  readonly reason: string | RegExp
  readonly event: DeliveryEvent["_tag"]
  readonly log: { readonly level: "INFO" | "WARN"; readonly message: string | RegExp }
}

const rows: ReadonlyArray<Row> = [
  { name: "250", sent: result(ok), recipients: 1, status: "delivered", each: ["delivered"], reason: "ok", event: "Delivered", log: { level: "INFO", message: "delivered" } },
  { name: "550", sent: result(gone), recipients: 1, status: "bounced", each: ["bounced"], reason: "no such user", event: "Bounced", log: { level: "INFO", message: "bounced" } },
  { name: "451, first attempt", sent: result(later), recipients: 1, status: "deferred", each: ["deferred"], retryIn: "30 seconds", reason: "try later", event: "Deferred", log: { level: "INFO", message: "deferred: try later" } },
  { name: "451, fourth attempt", sent: result(later), recipients: 1, before: 3, status: "deferred", each: ["deferred"], retryIn: "240 seconds", reason: "try later", event: "Deferred", log: { level: "INFO", message: "deferred: try later" } },
  { name: "451, the last attempt", sent: result(later), recipients: 1, before: 7, status: "failed", each: ["failed"], reason: "out of attempts (8 of 8)", event: "Failed", log: { level: "WARN", message: "failed: out of attempts (8 of 8)" } },
  {
    name: "451, the next try past maxAge",
    sent: result(later),
    recipients: 1,
    policy: { maxAge: Duration.minutes(10) },
    age: "590 seconds",
    status: "failed",
    each: ["failed"],
    reason: /^older than the maximum age/,
    event: "Failed",
    log: { level: "WARN", message: /^failed: older than the maximum age/ }
  },
  { name: "250 and 550", sent: result(ok, gone), recipients: 2, status: "partial", each: ["delivered", "bounced"], reason: "no such user", event: "Partial", log: { level: "INFO", message: "partial" } },
  { name: "250 and 451", sent: result(ok, later), recipients: 2, status: "deferred", each: ["delivered", "deferred"], retryIn: "30 seconds", reason: "try later", event: "Deferred", log: { level: "INFO", message: "deferred: try later" } },
  {
    name: "no reply to the body in time",
    sent: new SmtpTimeoutError({ upstream, phase: "data", timeoutMillis: 600_000 }),
    recipients: 2,
    status: "deferred",
    each: ["deferred", "deferred"],
    retryIn: "30 seconds",
    reason: /no reply during data/,
    event: "Deferred",
    log: { level: "INFO", message: /^deferred: .*no reply during data/ }
  },
  {
    name: "552 to MAIL (the message too big)",
    sent: new SmtpReplyError({ upstream, phase: "mail", code: 552, enhanced: "5.3.4", text: "too big" }),
    recipients: 2,
    status: "bounced",
    each: ["bounced", "bounced"],
    reason: /too big/,
    event: "Bounced",
    log: { level: "INFO", message: "bounced" }
  },
  {
    name: "an address the client will not send",
    sent: new SmtpAddressError({ upstream, phase: "rcpt", address: "r1@example.net" }),
    recipients: 2,
    status: "deferred",
    each: ["deferred", "bounced"],
    retryIn: "30 seconds",
    reason: /^not sent by Sluice/,
    event: "Deferred",
    log: { level: "INFO", message: /^deferred: not sent by Sluice/ }
  }
]

const judge = (message: QueuedMessage, sent: Row["sent"], classify: Bounce.Classifier) =>
  "recipients" in sent
    ? Outcome.fromResult(message.recipients, sent, classify)
    : Outcome.fromError(message.recipients, sent, SmtpReply.classifyError(sent).verdict, classify)

const counted = (status: Status) =>
  Effect.zipRight(EngineMetrics.flush, Metric.value(EngineMetrics.outcome[status as EngineMetrics.Outcome])).pipe(Effect.map((s) => s.count))

// reply or error × attempt × policy → settlement, event, metric, log: the whole of what one attempt's
// end produces, from the judging of its replies to what the reporter tells.
describe("an attempt's outcome", () => {
  it.scoped.each(rows)("$name", (row) =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const config = yield* Config.decode({ upstreams: [{ host: "127.0.0.1", port: 25 }] })
      const policy: Retry.Policy = { ...config.retry, ...row.policy }
      const message: QueuedMessage = {
        id: "m1",
        from: "sender@example.com",
        to: Array.from({ length: row.recipients }, (_, i) => `r${i}@example.net`),
        content: new Uint8Array(),
        stream: "default",
        submittedAt: now - Duration.toMillis(row.age ?? 0),
        attempts: row.before ?? 0,
        recipients: Array.from({ length: row.recipients }, (_, i) => ({ address: `r${i}@example.net`, status: "pending" as const }))
      }
      const lines: Array<{ level: string; message: string }> = []
      const logger = Layer.merge(
        Logger.minimumLogLevel(LogLevel.Info),
        Logger.replace(Logger.defaultLogger, Logger.make(({ logLevel, message }) => {
          lines.push({ level: logLevel.label, message: (Array.isArray(message) ? message : [message]).join(" ") })
        }))
      )
      const events = yield* PubSub.unbounded<DeliveryEvent>()
      const subscription = yield* PubSub.subscribe(events)
      const reporter = yield* Report.make({ config, events, listening: () => true, suppressions: undefined }).pipe(Effect.provide(logger))
      const before = yield* counted(row.status)

      const judged = judge(message, row.sent, Bounce.make([]))
      const decision = Outcome.needsDecision(judged) ? yield* Retry.decide(policy, message.attempts + 1, message.submittedAt) : undefined
      const { reason, settlement } = Outcome.settle(message, upstream, judged, decision, policy)
      reporter.outcome(message, settlement, judged.category, reason, now)
      yield* reporter.flush.pipe(Effect.provide(logger))

      expect(settlement.status).toBe(row.status)
      expect(settlement.recipients.map((r) => r.status)).toEqual(row.each)
      expect(settlement.attempts).toBe(message.attempts + 1)
      expect(settlement.retryAt).toBe(row.retryIn === undefined ? undefined : now + Duration.toMillis(row.retryIn))
      expect(reason).toMatch(row.reason)
      const [event] = Chunk.toReadonlyArray(yield* Queue.takeAll(subscription))
      expect(event).toMatchObject({ _tag: row.event, id: "m1", upstream, attempt: message.attempts + 1 })
      expect((yield* counted(row.status)) - before).toBe(1)
      expect(lines).toHaveLength(1)
      expect(lines[0]!.level).toBe(row.log.level)
      expect(lines[0]!.message).toMatch(row.log.message)
    }).pipe(Effect.withRandom(Random.fixed([0.5]))))
})
