import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Metric, Option, Schema, TestClock } from "effect"
import * as fs from "node:fs"
import type { DeliveryEvent, DeliveryQueueShape, SuppressionsShape } from "../src/index.js"
import { Bounce, Config, EngineMetrics, Feedback, MemoryQueue, messageId } from "../src/index.js"

const fixtures = new URL("./fixtures/feedback/", import.meta.url)
const fixture = (name: string) => fs.readFileSync(new URL(name, fixtures))
// Reports arrive with CRLF from SMTP and with LF from files and mailbox exports: both are read.
const endings = { LF: (bytes: Buffer) => Buffer.from(bytes.toString("latin1").replace(/\r\n/g, "\n"), "latin1"),
  CRLF: (bytes: Buffer) => Buffer.from(bytes.toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1") }

interface Expected {
  readonly file: string
  readonly report: Record<string, unknown>
  /** The reply and category of each failed recipient, in order. */
  readonly failed?: ReadonlyArray<{ readonly reply: Record<string, unknown>; readonly category: Bounce.Category }>
}

const reports: ReadonlyArray<Expected> = [
  {
    file: "postfix-user-unknown.eml",
    report: {
      _tag: "Dsn",
      id: "0mx33jzgo942146e9e9c2ba63",
      reportingMta: "mx1.example.net",
      recipients: [{ address: "nobody@example.net", action: "failed", status: "5.1.1", diagnosticType: "smtp", remoteMta: "mail.example.net" }],
      skipped: 0,
      original: { messageId: "<0mx33jzgo942146e9e9c2ba63@sender.example>", to: ["nobody@example.net", "ann@example.org"] }
    },
    failed: [{
      reply: { code: 550, enhanced: "5.1.1", text: "<nobody@example.net>: Recipient address rejected: User unknown in local recipient table" },
      category: "bad-mailbox"
    }]
  },
  {
    // The returned head has no X-Sluice-Id (a relay dropped it): the Message-ID Sluice set finds it.
    file: "exim-bad-domain.eml",
    report: {
      _tag: "Dsn",
      id: "0mx33zjncfde41565975fd830",
      recipients: [{ address: "someone@gone.example", action: "failed", status: "5.1.2", remoteMta: "mx.gone.example" }],
      original: { to: ["someone@gone.example"] }
    },
    failed: [{
      reply: { code: 550, enhanced: "5.1.2", text: "<someone@gone.example>: Recipient address rejected: Domain not found" },
      category: "bad-domain"
    }]
  },
  {
    // A multi-line reply folded into Diagnostic-Code: its "550-5.1.1" line prefixes are not text.
    file: "gmail-no-such-user.eml",
    report: {
      _tag: "Dsn",
      id: "0mx4dn00054adda95b8096ec9",
      reportingMta: "googlemail.com",
      recipients: [{ address: "nosuchuser@gmail.example", action: "failed", status: "5.1.1", remoteMta: "gmail-smtp-in.l.google.com." }]
    },
    failed: [{
      reply: {
        code: 550,
        enhanced: "5.1.1",
        text: "The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. For more information, go to https://support.google.com/mail/?p=NoSuchUser d9443c01a7336-2b1c3d4e5f6si1234567ad.123 - gsmtp"
      },
      category: "bad-mailbox"
    }]
  },
  {
    file: "microsoft-recipient-not-found.eml",
    report: {
      _tag: "Dsn",
      id: "0mx4et3fkccb2b898eb900ef3",
      recipients: [{ address: "ghost@contoso.example", action: "failed", status: "5.1.10", diagnosticType: "smtp", remoteMta: undefined }],
      original: { to: ["ghost@contoso.example"] }
    },
    failed: [{
      reply: { code: 550, enhanced: "5.1.10", text: "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup" },
      category: "bad-mailbox"
    }]
  },
  {
    file: "sendmail-failed-and-delayed.eml",
    report: {
      _tag: "Dsn",
      id: "0mx4na8rs7e68c8ce7ccbaf67",
      recipients: [
        { address: "full@example.com", action: "failed", status: "5.2.2", diagnosticType: "smtp", diagnostic: "552 5.2.2 Mailbox full" },
        { address: "slow@example.com", action: "delayed", status: "4.4.1", diagnostic: undefined }
      ]
    },
    failed: [{ reply: { code: 552, enhanced: "5.2.2", text: "Mailbox full" }, category: "mailbox-full" }]
  },
  {
    file: "arf-yahoo.eml",
    report: {
      _tag: "Arf",
      id: "0mx4rr5zcd31ad98b3d680a58",
      feedbackType: "abuse",
      originalRcptTo: ["reader@yahoo.example"],
      originalMailFrom: "bounces@sender.example",
      arrivalDate: "Tue, 1 Dec 2026 14:05:11 +0000",
      userAgent: "Yahoo!-Mail-Feedback/2.0",
      reportingMta: "mta1001.mail.yahoo.example",
      original: { to: ["reader@yahoo.example", "friend@yahoo.example"] }
    }
  },
  {
    // No Original-Rcpt-To, the recipient redacted, the returned message base64-encoded.
    file: "arf-aol.eml",
    report: {
      _tag: "Arf",
      id: "0mx4twbrcdbb6a97eddb5abfe",
      feedbackType: "abuse",
      originalRcptTo: [],
      userAgent: "AOL SComp",
      original: { messageId: "<0mx4twbrcdbb6a97eddb5abfe@sender.example>", to: ["redacted@aol.example"] }
    }
  }
]

// Deterministic noise: the same "random" bytes every run.
const noise = (length: number) => {
  const bytes = Buffer.alloc(length)
  let state = 0x2545f491
  for (let i = 0; i < length; i++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    bytes[i] = state & 0xff
  }
  return bytes
}

const dsnWith = (statusPart: string, original = "X-Sluice-Id: 0mx33jzgo942146e9e9c2ba63\r\nTo: nobody@example.net\r\n") =>
  Buffer.from(
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\nMIME-Version: 1.0\r\n\r\n" +
      "--b\r\nContent-Type: text/plain\r\n\r\nnot delivered\r\n" +
      `--b\r\nContent-Type: message/delivery-status\r\n\r\n${statusPart}\r\n` +
      `--b\r\nContent-Type: text/rfc822-headers\r\n\r\n${original}\r\n--b--\r\n`
  )

const block = (i: number) => `Final-Recipient: rfc822; r${i}@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n`

const invalid: ReadonlyArray<readonly [string, () => Uint8Array, string | RegExp]> = [
  ["nothing", () => new Uint8Array(0), "not multipart/report (no Content-Type)"],
  ["64 KiB of noise", () => noise(65_536), /^not (multipart\/report|a readable MIME message)/],
  ["a reply from a person", () => fixture("not-a-report.eml"), "not multipart/report (Content-Type text/plain)"],
  ["a report without its delivery-status part", () => fixture("report-without-status.eml"), "no delivery-status part"],
  [
    "a delivery-status part without a recipient",
    () => fixture("status-without-recipients.eml"),
    "no recipient in the delivery-status part (no Final-Recipient field)"
  ],
  ["an abuse report without Feedback-Type", () => fixture("arf-without-feedback-type.eml"), "no Feedback-Type in the feedback-report part"],
  ["a read receipt", () => fixture("read-receipt.eml"), "report-type \"disposition-notification\" is neither delivery-status nor feedback-report"],
  ["a head of 2 MB", () => Buffer.from(`X-Long: ${"a".repeat(2_000_000)}\r\nContent-Type: multipart/report\r\n\r\n`), /^not a readable MIME message: /],
  [
    "a thousand parts",
    () => Buffer.from(`Content-Type: multipart/report; boundary=b\r\n\r\n${"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n".repeat(1000)}--b--\r\n`),
    /^not a readable MIME message: /
  ],
  ["a multipart/report with no parts at all", () => Buffer.from("Content-Type: multipart/report; report-type=delivery-status\r\n\r\n"), "no delivery-status part"]
]

describe("Feedback.parse", () => {
  for (const { failed, file, report } of reports) {
    for (const [ending, convert] of Object.entries(endings)) {
      it.effect(`${file} (${ending})`, () =>
        Effect.gen(function*() {
          const parsed = yield* Feedback.parse(convert(fixture(file)))
          expect(parsed).toMatchObject(report)
          if (parsed._tag === "Dsn") {
            const replies = parsed.recipients.filter((r) => r.action === "failed").map((r) => {
              const reply = Feedback.replyOf(r)
              return { reply, category: Bounce.classify(reply) }
            })
            expect(replies).toEqual(failed)
          }
        }))
    }
  }

  for (const [name, input, reason] of invalid) {
    it.effect(`refuses ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Feedback.parse(input()))
        expect(error._tag).toBe("InvalidReport")
        if (typeof reason === "string") expect(error.reason).toBe(reason)
        else expect(error.reason).toMatch(reason)
      }))
  }

  it.effect("reads at most 1,000 recipient blocks of 10,000, and counts the rest", () =>
    Effect.gen(function*() {
      const blocks = Array.from({ length: 10_000 }, (_, i) => block(i)).join("\r\n")
      const parsed = yield* Feedback.parse(dsnWith(`Reporting-MTA: dns; mx.example.net\r\n\r\n${blocks}`))
      expect(parsed._tag).toBe("Dsn")
      if (parsed._tag !== "Dsn") return
      expect(parsed.recipients).toHaveLength(1000)
      expect(parsed.recipients[999]!.address).toBe("r999@example.net")
      expect(parsed.skipped).toBe(9000)
    }))

  it.effect("clips a field of a megabyte, keeps folded values whole otherwise", () =>
    Effect.gen(function*() {
      const parsed = yield* Feedback.parse(dsnWith(
        `Reporting-MTA: dns; mx.example.net\r\n\r\n${block(1)}Diagnostic-Code: smtp; 550 5.1.1 ${"x".repeat(1_000_000)}\r\n\r\n` +
          `Final-Recipient: RFC822; <Second@Example.NET> (comment)\r\nAction: Failed (permanent)\r\nStatus: 5.1.1 (user\r\n unknown)\r\n` +
          `Diagnostic-Code: smtp;\r\n\t550 5.1.1 no such\r\n  user\r\n`
      ))
      if (parsed._tag !== "Dsn") return expect.unreachable()
      expect(parsed.recipients[0]!.diagnostic!.length).toBeLessThanOrEqual(2048)
      expect(parsed.recipients[1]).toMatchObject({ address: "Second@Example.NET", action: "failed", status: "5.1.1", diagnostic: "550 5.1.1 no such user" })
    }))

  it.effect("an original without a Sluice id leaves the report without one", () =>
    Effect.gen(function*() {
      const parsed = yield* Feedback.parse(dsnWith(block(1), "Message-ID: <CAF1xYz@mail.example.org>\r\nX-Sluice-Id: not-an-id\r\n"))
      expect(parsed.id).toBeUndefined()
      expect(parsed.original).toEqual({ id: undefined, messageId: "<CAF1xYz@mail.example.org>", to: [] })
    }))

  it.effect("a reply without a Diagnostic-Code takes its code from the Status's class", () =>
    Effect.sync(() => {
      const base = { address: "a@example.net", originalRecipient: undefined, action: "failed", diagnosticType: undefined, diagnostic: undefined, remoteMta: undefined }
      expect(Feedback.replyOf({ ...base, status: "5.7.1" })).toEqual({ code: 550, enhanced: "5.7.1", text: "" })
      expect(Feedback.replyOf({ ...base, status: "4.2.2" })).toEqual({ code: 450, enhanced: "4.2.2", text: "" })
      expect(Feedback.replyOf({ ...base, status: undefined, diagnosticType: "x-postfix", diagnostic: "host not found" }))
        .toEqual({ code: 550, enhanced: undefined, text: "host not found" })
      // A status missing: the enhanced code of the diagnostic stands in.
      expect(Feedback.replyOf({ ...base, status: undefined, diagnostic: "554 5.7.1 Rejected 5501 times" }))
        .toEqual({ code: 554, enhanced: "5.7.1", text: "Rejected 5501 times" })
    }))
})

/** A message to `to`, accepted and delivered to every recipient, in `queue`; its id. */
const deliveredMessage = (queue: DeliveryQueueShape, to: ReadonlyArray<string>, id?: string) =>
  Effect.gen(function*() {
    const minted = id ?? messageId(0)
    yield* queue.enqueue([{ id: minted, from: "shop@sender.example", to, content: Buffer.from("Subject: hi\r\n\r\nhi\r\n"), stream: "default" }])
    yield* queue.take("default", 1)
    const reply = { code: 250, enhanced: "2.0.0", text: "queued" }
    yield* queue.settle(minted, {
      status: "delivered",
      attempts: 1,
      upstream: "relay",
      lastReply: reply,
      recipients: to.map((address) => ({ address, status: "delivered" as const, reply }))
    })
    return minted
  })

interface Added {
  readonly address: string
  readonly reason: string
  readonly until: number | undefined
}

/** The engine's feedback on a memory queue; the suppressions and events it produced are recorded. */
const setup = (suppressionsConfig: Schema.Schema.Encoded<typeof Config.Suppressions> = {}, withList = true) =>
  Effect.gen(function*() {
    const queue = yield* MemoryQueue.make()
    const events: Array<DeliveryEvent> = []
    const added: Array<Added> = []
    // The engine's port: @sluice/http's Recipients implements it (tested end to end there).
    const list: SuppressionsShape = { add: (address, reason, until) => Effect.sync(() => void added.push({ address, reason, until })) }
    const feedback = Feedback.make({
      queue,
      classify: Bounce.classify,
      suppressions: withList ? Option.some(list) : Option.none(),
      config: Schema.decodeSync(Config.Suppressions)(suppressionsConfig),
      publish: (event) => Effect.sync(() => void events.push(event))
    })
    return { queue, feedback, events, added }
  })

/** A fixture about message `id` instead of the one it names. */
const about = (file: string, id: string) => {
  const parsed = fixture(file).toString("latin1")
  const named = /X-Sluice-Id: (\S+)|<(\w{25})@/.exec(parsed)!
  return Buffer.from(parsed.replaceAll(named[1] ?? named[2]!, id), "latin1")
}

const count = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)

describe("Feedback.apply: a delivery status notification", () => {
  it.effect("marks the failed recipient bounced, the message partial; emits LateBounce, counts it, suppresses until expiry", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 10, 30, 10))
      const { added, events, feedback, queue } = yield* setup({ expireAfter: "30 days" })
      const id = yield* deliveredMessage(queue, ["nobody@example.net", "ann@example.org"])
      const bouncedBefore = yield* count(EngineMetrics.recipients("bounced", "default"))
      const categoryBefore = yield* count(EngineMetrics.bounces("bad-mailbox", "feedback", "bounce"))

      const result = yield* feedback.apply(about("postfix-user-unknown.eml", id))

      expect(result).toEqual({
        kind: "bounce",
        matched: true,
        id,
        status: "partial",
        recipients: [{ address: "nobody@example.net", action: "failed", status: "5.1.1", category: "bad-mailbox", applied: true, suppressed: true }]
      })
      const reply = { code: 550, enhanced: "5.1.1", text: "<nobody@example.net>: Recipient address rejected: User unknown in local recipient table" }
      const record = Option.getOrThrow(yield* queue.status(id))
      expect(record.status).toBe("partial")
      expect(record.recipients).toEqual([
        { address: "nobody@example.net", status: "bounced", reply, category: "bad-mailbox" },
        { address: "ann@example.org", status: "delivered", reply: { code: 250, enhanced: "2.0.0", text: "queued" } }
      ])
      expect(events).toEqual([{
        _tag: "LateBounce",
        id,
        at: Date.UTC(2026, 10, 30, 10),
        recipient: { address: "nobody@example.net", status: "bounced", reply, category: "bad-mailbox" },
        status: "partial"
      }])
      expect(added).toEqual([{
        address: "nobody@example.net",
        reason: "bounced: 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in local recipient table",
        until: Date.UTC(2026, 10, 30, 10) + Duration.toMillis("30 days")
      }])
      expect((yield* count(EngineMetrics.recipients("bounced", "default"))) - bouncedBefore).toBe(1)
      expect((yield* count(EngineMetrics.bounces("bad-mailbox", "feedback", "bounce"))) - categoryBefore).toBe(1)
    }))

  it.effect("a message's only recipient bounced: the message is bounced; without expireAfter, suppressed for good", () =>
    Effect.gen(function*() {
      const { added, feedback, queue } = yield* setup()
      const id = yield* deliveredMessage(queue, ["NoSuchUser@Gmail.Example"])
      const result = yield* feedback.apply(endings.CRLF(about("gmail-no-such-user.eml", id)))
      expect(result).toMatchObject({ matched: true, status: "bounced", recipients: [{ address: "NoSuchUser@Gmail.Example", applied: true }] })
      expect(Option.getOrThrow(yield* queue.status(id)).status).toBe("bounced")
      expect(added).toMatchObject([{ address: "NoSuchUser@Gmail.Example", until: undefined }])
    }))

  it.effect("found by the Message-ID Sluice set when the returned head has no X-Sluice-Id", () =>
    Effect.gen(function*() {
      const { added, feedback, queue } = yield* setup()
      const id = yield* deliveredMessage(queue, ["someone@gone.example"])
      const result = yield* feedback.apply(about("exim-bad-domain.eml", id))
      expect(result).toMatchObject({ matched: true, id, status: "bounced", recipients: [{ category: "bad-domain", suppressed: true }] })
      expect(added.map((a) => a.reason)).toEqual(["bounced: 550 5.1.2 <someone@gone.example>: Recipient address rejected: Domain not found"])
    }))

  it.effect("failed and delayed in one report: only the failed one changes; mailbox-full suppresses nobody", () =>
    Effect.gen(function*() {
      const { added, events, feedback, queue } = yield* setup()
      const id = yield* deliveredMessage(queue, ["full@example.com", "slow@example.com"])
      const result = yield* feedback.apply(about("sendmail-failed-and-delayed.eml", id))
      expect(result).toEqual({
        kind: "bounce",
        matched: true,
        id,
        status: "partial",
        recipients: [
          { address: "full@example.com", action: "failed", status: "5.2.2", category: "mailbox-full", applied: true, suppressed: false },
          { address: "slow@example.com", action: "delayed", status: "4.4.1", applied: false, suppressed: false }
        ]
      })
      expect(Option.getOrThrow(yield* queue.status(id)).recipients.map((r) => r.status)).toEqual(["bounced", "delivered"])
      expect(events.map((e) => e._tag)).toEqual(["LateBounce"])
      expect(added).toEqual([])
    }))

  it.effect("the same report twice changes the message once", () =>
    Effect.gen(function*() {
      const { added, events, feedback, queue } = yield* setup()
      const id = yield* deliveredMessage(queue, ["nobody@example.net", "ann@example.org"])
      yield* feedback.apply(about("postfix-user-unknown.eml", id))
      const again = yield* feedback.apply(about("postfix-user-unknown.eml", id))
      expect(again).toMatchObject({
        matched: true,
        status: "partial",
        recipients: [{ address: "nobody@example.net", applied: false, suppressed: false }],
        note: "a failed recipient that is not a delivered recipient of the message was left as it was"
      })
      expect(events).toHaveLength(1)
      expect(added).toHaveLength(1)
    }))

  it.effect("with suppressions.auto off, or no list, the recipient bounces and nobody is suppressed", () =>
    Effect.gen(function*() {
      for (const [config, withList, note] of [
        [{ auto: false }, true, "nobody suppressed: automatic suppressions are off (suppressions.auto)"],
        [{}, false, "nobody suppressed: this engine has no suppression list"]
      ] as const) {
        const { added, feedback, queue } = yield* setup(config, withList)
        const id = yield* deliveredMessage(queue, ["ghost@contoso.example"])
        const result = yield* feedback.apply(about("microsoft-recipient-not-found.eml", id))
        expect(result).toMatchObject({ matched: true, status: "bounced", recipients: [{ applied: true, suppressed: false }], note })
        expect(added).toEqual([])
      }
    }))

  it.effect("a report about no known message: matched false, nothing changes", () =>
    Effect.gen(function*() {
      const { added, events, feedback, queue } = yield* setup()
      const id = yield* deliveredMessage(queue, ["nobody@example.net"])
      const unknown = messageId(1)
      const result = yield* feedback.apply(about("postfix-user-unknown.eml", unknown))
      expect(result).toEqual({
        kind: "bounce",
        matched: false,
        id: unknown,
        recipients: [{ address: "nobody@example.net", action: "failed", status: "5.1.1", applied: false, suppressed: false }],
        note: `no message with id "${unknown}"`
      })
      const noId = yield* feedback.apply(dsnWith(block(1), "Message-ID: <CAF1xYz@mail.example.org>\r\n"))
      expect(noId).toMatchObject({ matched: false, note: "the returned message carries no Sluice id (X-Sluice-Id, or a Message-ID Sluice set)" })
      expect(Option.getOrThrow(yield* queue.status(id)).status).toBe("delivered")
      expect(events).toEqual([])
      expect(added).toEqual([])
    }))

  it.effect("not a report: InvalidReport, nothing changes", () =>
    Effect.gen(function*() {
      const { events, feedback } = yield* setup()
      const error = yield* Effect.flip(feedback.apply(noise(4096)))
      expect(error._tag).toBe("InvalidReport")
      expect(events).toEqual([])
    }))
})

describe("Feedback: complaints", () => {
  it.effect("an ARF report: counted, Complained published, the Original-Rcpt-To suppressed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_000_000)
      const { added, events, feedback, queue } = yield* setup({ expireAfter: "1 day" })
      const id = yield* deliveredMessage(queue, ["reader@yahoo.example", "friend@yahoo.example"])
      const before = yield* count(EngineMetrics.outcome.complained)
      const result = yield* feedback.apply(about("arf-yahoo.eml", id))
      expect(result).toEqual({
        kind: "complaint",
        feedbackType: "abuse",
        matched: true,
        id,
        status: "delivered",
        recipients: [{ address: "reader@yahoo.example", applied: true, suppressed: true }]
      })
      expect(events).toEqual([{ _tag: "Complained", id, at: 1_000_000, address: "reader@yahoo.example", source: "arf" }])
      expect(added).toEqual([{
        address: "reader@yahoo.example",
        reason: `complained: abuse report on message ${id}`,
        until: 1_000_000 + Duration.toMillis("1 day")
      }])
      expect((yield* count(EngineMetrics.outcome.complained)) - before).toBe(1)
      expect(Option.getOrThrow(yield* queue.status(id)).status).toBe("delivered")
    }))

  it.effect("no Original-Rcpt-To and the To redacted: the message's only recipient", () =>
    Effect.gen(function*() {
      const { added, feedback, queue } = yield* setup()
      // Its returned message is base64: the message takes the report's id rather than the other way round.
      yield* deliveredMessage(queue, ["someone@aol.example"], "0mx4twbrcdbb6a97eddb5abfe")
      const result = yield* feedback.apply(fixture("arf-aol.eml"))
      expect(result).toMatchObject({ matched: true, recipients: [{ address: "someone@aol.example", suppressed: true }] })
      expect(added.map((a) => a.address)).toEqual(["someone@aol.example"])
    }))

  it.effect("no Original-Rcpt-To: the returned To when it names one recipient; when it names two, nobody", () =>
    Effect.gen(function*() {
      const { added, events, feedback, queue } = yield* setup()
      const withoutRcptTo = (id: string, to: string) =>
        Buffer.from(about("arf-yahoo.eml", id).toString("latin1")
          .replace("Original-Rcpt-To: <reader@yahoo.example>\n", "")
          .replace("To: reader@yahoo.example, friend@yahoo.example", `To: ${to}`), "latin1")

      const one = yield* deliveredMessage(queue, ["reader@yahoo.example", "friend@yahoo.example"], messageId(0))
      expect(yield* feedback.apply(withoutRcptTo(one, "Friend <FRIEND@yahoo.example>")))
        .toMatchObject({ recipients: [{ address: "friend@yahoo.example", suppressed: true }] })

      const two = yield* deliveredMessage(queue, ["reader@yahoo.example", "friend@yahoo.example"], messageId(0))
      const result = yield* feedback.apply(withoutRcptTo(two, "reader@yahoo.example, friend@yahoo.example"))
      expect(result).toMatchObject({
        matched: true,
        recipients: [],
        note: "the complaint does not say which of the message's 2 recipients complained; nobody suppressed"
      })
      expect(events.map((e) => e._tag === "Complained" ? e.address : e._tag)).toEqual(["friend@yahoo.example", undefined])
      expect(added.map((a) => a.address)).toEqual(["friend@yahoo.example"])
    }))

  it.effect("a not-spam report is no complaint", () =>
    Effect.gen(function*() {
      const { added, events, feedback, queue } = yield* setup()
      const id = yield* deliveredMessage(queue, ["reader@yahoo.example"])
      const report = Buffer.from(about("arf-yahoo.eml", id).toString("latin1").replace("Feedback-Type: abuse", "Feedback-Type: not-spam"), "latin1")
      expect(yield* feedback.apply(report)).toMatchObject({
        kind: "complaint",
        matched: true,
        feedbackType: "not-spam",
        recipients: [],
        note: "Feedback-Type not-spam is not a complaint; nothing recorded"
      })
      expect(events).toEqual([])
      expect(added).toEqual([])
    }))

  it.effect("complain: the address given, or the only recipient; otherwise counted and nobody suppressed", () =>
    Effect.gen(function*() {
      const { added, events, feedback, queue } = yield* setup()
      const single = yield* deliveredMessage(queue, ["solo@example.net"], messageId(0))
      const pair = yield* deliveredMessage(queue, ["a@example.net", "b@example.net"], messageId(0))

      expect(yield* feedback.complain(single)).toEqual(Option.some({ id: single, address: "solo@example.net", suppressed: true }))
      expect(yield* feedback.complain(pair)).toEqual(Option.some({
        id: pair,
        address: undefined,
        suppressed: false,
        note: "the complaint does not say which of the message's 2 recipients complained; nobody suppressed"
      }))
      expect(yield* feedback.complain(pair, "B@example.net")).toEqual(Option.some({ id: pair, address: "b@example.net", suppressed: true }))
      expect(yield* feedback.complain(pair, "stranger@example.net")).toEqual(Option.some({
        id: pair,
        address: undefined,
        suppressed: false,
        note: `stranger@example.net is not a recipient of message ${pair}; nobody suppressed`
      }))
      expect(yield* feedback.complain(messageId(0))).toEqual(Option.none())

      expect(events.map((e) => e._tag === "Complained" ? [e.source, e.address] : e._tag))
        .toEqual([["api", "solo@example.net"], ["api", undefined], ["api", "b@example.net"], ["api", undefined]])
      expect(added).toEqual([
        { address: "solo@example.net", reason: `complained about message ${single}`, until: undefined },
        { address: "b@example.net", reason: `complained about message ${pair}`, until: undefined }
      ])
    }))
})
