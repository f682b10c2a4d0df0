import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Effect, Either, TestClock } from "effect"
import { simpleParser } from "mailparser"
import type { SluiceShape, SubmitError, Submitted } from "../src/index.js"
import { decodeMessage, MemoryQueue } from "../src/index.js"
import type { LogLine } from "./support/engine.js"
import { eventually, startEngine, statusUntil, upstream } from "./support/engine.js"

// Issue 14, items 5, 7, 8 and 11: what a hostile or careless submitter sends is refused at submit,
// naming the field, or sent in a form SMTP carries; whatever is accepted can be attempted, and what
// reaches the upstream (the bytes a real smtp-server sink captured) has no header line over 998 octets.

const config = (sink: Sink.Sink) => ({
  upstreams: [upstream("relay", sink)],
  streams: { default: { weight: 1 }, bulk: { weight: 1 } },
  retry: { initialDelay: "30 seconds", maxDelay: "10 minutes" }
})

const ok = { from: "sender@example.com", to: ["ok@example.net"], subject: "hello", text: "body" }

/** As an edge submits what it was given: decoded with `SubmitMessage` first (`Sluice.submit` trusts its input). */
const submitDecoded = (sluice: SluiceShape, input: unknown) => Effect.flatMap(decodeMessage(input), sluice.submit)
const long = (n: number, c = "a") => c.repeat(n)
const rawWith = (line: string) => `From: sender@example.com\r\nTo: ok@example.net\r\n${line}\r\n\r\nbody\r\n`

/** The header lines of a message as received, each with its length in octets (CRLF excluded). */
const headerLines = (data: Buffer) => {
  const end = data.indexOf("\r\n\r\n")
  const head = data.subarray(0, end === -1 ? data.length : end)
  const lines: Array<{ readonly text: string; readonly octets: number }> = []
  for (let start = 0; start <= head.length;) {
    const next = head.indexOf("\r\n", start)
    const line = head.subarray(start, next === -1 ? head.length : next)
    lines.push({ text: line.toString("utf8", 0, Math.min(line.length, 40)), octets: line.length })
    if (next === -1) break
    start = next + 2
  }
  return lines
}

/**
 * A header's value as a reader sees it: unfolded (RFC 5322 §2.2.3), its encoded words decoded
 * (RFC 2047 §6.2: the whitespace between two adjacent ones is not part of the text).
 */
const headerValue = (data: Buffer, name: string): string | undefined => {
  const end = data.indexOf("\r\n\r\n")
  const unfolded = data.toString("utf8", 0, end).replace(/\r\n(?=[ \t])/g, "")
  const line = unfolded.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
  if (line === undefined) return undefined
  const value = line.slice(name.length + 1).replace(/^[ \t]/, "")
  const bytes: Array<Buffer> = []
  const word = /=\?UTF-8\?Q\?([^?]*)\?=/gi
  let last = 0
  let previousWord = false
  for (let m = word.exec(value); m !== null; m = word.exec(value)) {
    const between = value.slice(last, m.index)
    if (!(previousWord && /^[ \t]*$/.test(between))) bytes.push(Buffer.from(between, "utf8"))
    bytes.push(Buffer.from(m[1]!.replace(/_/g, " ").replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), "latin1"))
    last = m.index + m[0].length
    previousWord = true
  }
  bytes.push(Buffer.from(value.slice(last), "utf8"))
  return Buffer.concat(bytes).toString("utf8")
}

const refused: ReadonlyArray<readonly [name: string, input: Record<string, unknown>, field: string, says: string | RegExp]> = [
  // Item 7: addresses that cannot go into an SMTP envelope safely.
  ["a tab in a quoted local part", { ...ok, to: ["ok@example.net", "\"a\tb\"@example.net"] }, "to[1]", "control character (U+0009)"],
  ["an ESC in a quoted local part", { ...ok, to: ["ok@example.net", "\"a\x1b[31mb\"@example.net"] }, "to[1]", "U+001B"],
  ["DEL in a local part", { ...ok, to: ["a\x7fb@example.net"] }, "to[0]", "U+007F"],
  ["a C1 control (NEL)", { ...ok, to: ["a\u0085b@example.net"] }, "to[0]", "U+0085"],
  ["a quoted > that would end the path (NOTIFY injection)", { ...ok, to: ["ok@example.net", "\"x> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x\"@example.net"] }, "to[1]", "< or >"],
  ["the same in from", { ...ok, from: "\"x> SMTPUTF8\"@example.com" }, "from", "< or >"],
  ["an unquoted < in a recipient", { ...ok, to: ["a<b@example.net"] }, "to[0]", "< or >"],
  ["two @ outside quotes (a source route in disguise)", { ...ok, to: ["a@evil.example@example.net"] }, "to[0]", "not allowed in a local part"],
  ["a backslash outside quotes", { ...ok, to: ["a\\b@example.net"] }, "to[0]", "not allowed in a local part"],
  ["a stray quote in a quoted local part", { ...ok, to: ["\"a\"b\"@example.net"] }, "to[0]", "malformed quoted local part"],
  ["a quoted local part ending in a lone backslash", { ...ok, to: ["\"a\\\"@example.net"] }, "to[0]", "malformed quoted local part"],
  ["an unpaired surrogate", { ...ok, to: ["\ud83d@example.net"] }, "to[0]", "unpaired UTF-16 surrogate"],
  ["an address literal that is no address", { ...ok, to: ["postmaster@[300.0.0.1]"] }, "to[0]", "address literal"],
  ["an underscore in a domain", { ...ok, to: ["a@mail_server.example.net"] }, "to[0]", "not allowed in a domain"],
  ["a domain that is not a valid IDN", { ...ok, to: ["a@xn--ab\u00e9.example"] }, "to[0]", /IDN|domain/],
  // Item 11: headers Sluice writes itself, which it would otherwise drop or contradict silently.
  ["a From header", { ...ok, headers: { From: "ceo@example.com" } }, "headers.From", "`from`"],
  ["a To header in lower case", { ...ok, headers: { to: "other@example.net" } }, "headers.to", "`to`"],
  ["a Cc header", { ...ok, headers: { Cc: "boss@example.net" } }, "headers.Cc", "never get the message"],
  ["a Bcc header", { ...ok, headers: { BCC: "spy@example.net" } }, "headers.BCC", "envelope"],
  ["a Content-Type header", { ...ok, headers: { "Content-Type": "text/html" } }, "headers.Content-Type", "MIME structure"],
  ["a MIME-Version header", { ...ok, headers: { "MIME-Version": "2.0" } }, "headers.MIME-Version", "MIME structure"],
  ["a Content-Transfer-Encoding header", { ...ok, headers: { "Content-Transfer-Encoding": "8bit" } }, "headers.Content-Transfer-Encoding", "encodes"],
  ["an X-Sluice-Id header", { ...ok, headers: { "X-Sluice-Id": "forged" } }, "headers.X-Sluice-Id", "bounce reports"],
  ["a Subject header beside subject", { ...ok, headers: { Subject: "other" } }, "headers.Subject", "given twice"],
  // Item 5: a structured header that cannot be folded (encoded words would break its structure).
  ["a Message-ID of 2,000 octets", { ...ok, headers: { "Message-ID": `<${long(2000)}@example.com>` } }, "headers.Message-ID", "cannot be folded"],
  ["a Message-ID one octet longer than folds", { ...ok, headers: { "Message-ID": `<${long(973)}@example.com>` } }, "headers.Message-ID", "more than 986 octets"],
  ["a References header with one id of 1,500 octets", { ...ok, headers: { References: `<a@x> <${long(1500)}@example.com>` } }, "headers.References", "cannot be folded"],
  ["a Reply-To of one long address (MailComposer's path)", { ...ok, headers: { "Reply-To": `${long(1200)}@example.com` } }, "headers.Reply-To", "cannot be folded"],
  // Item 5, raw: refused, never rewritten.
  ["a raw Subject line of 1,000 octets", { ...ok, subject: undefined, text: undefined, raw: rawWith(`Subject: ${long(991)}`) }, "raw", "\"Subject\""],
  ["a raw header line of 100,001 octets", { from: ok.from, to: ok.to, raw: rawWith(`X-Big: ${long(100_001 - 7)}`) }, "raw", "100001 octets (\"X-Big\")"],
  ["a raw continuation line too long, named for its field", { from: ok.from, to: ok.to, raw: rawWith(`X-Folded: a\r\n ${long(1000)}`) }, "raw", "\"X-Folded\""],
  ["a raw header line of 500 characters that are 1,000 octets", { from: ok.from, to: ok.to, raw: rawWith(`X-Wide: ${long(500, "é")}`) }, "raw", "1008 octets"],
  ["a raw header line with LF line ends", { from: ok.from, to: ok.to, raw: `Subject: hi\nX-Long: ${long(1000)}\n\nbody\n` }, "raw", "\"X-Long\""]
]

describe("hostile submissions are refused, naming the field", () => {
  it.scoped("each row: refused with InvalidMessage at its field; nothing reaches the upstream", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(config(sink))
      for (const [name, input, field, says] of refused) {
        const clean = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined))
        const error = yield* Effect.flip(submitDecoded(sluice, clean))
        expect(error._tag, name).toBe("InvalidMessage")
        if (error._tag !== "InvalidMessage") continue
        expect(error.field, name).toBe(field)
        if (typeof says === "string") expect(error.reason, name).toContain(says)
        else expect(error.reason, name).toMatch(says)
      }
      // The same refusals in one batch: each in its place, the good message beside them queued.
      const decoded = [...refused.map(([, input]) => input), ok].map((input) =>
        decodeMessage(Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)))
      )
      const submitted = yield* sluice.submitBatch(decoded.flatMap((d) => Either.isRight(d) ? [d.right] : []))
      let next = 0
      const batch = decoded.map((d): Either.Either<Submitted, SubmitError> => Either.isLeft(d) ? Either.left(d.left) : submitted[next++]!)
      expect(batch.slice(0, -1).every(Either.isLeft)).toBe(true)
      const good = batch[batch.length - 1]!
      expect(Either.isRight(good)).toBe(true)
      yield* statusUntil(sluice, Either.getOrThrow(good).id, (r) => r.status === "delivered", "the good message delivered")
      expect(sink.messages.map((m) => m.to)).toEqual([["ok@example.net"]])
    }))
})

// Accepted: folded, or written as encoded words where free text has no whitespace to fold at.
const folded: ReadonlyArray<readonly [name: string, input: Record<string, unknown>, check: Record<string, string>]> = [
  ["a Subject of 5,001 octets without whitespace", { ...ok, subject: long(5001, "S") }, { subject: long(5001, "S") }],
  ["a non-ASCII Subject of 3,000 characters without whitespace", { ...ok, subject: long(3000, "ü") }, { subject: long(3000, "ü") }],
  ["a custom header of 100,001 octets without whitespace", { ...ok, headers: { "X-Long": long(100_001) } }, { "x-long": long(100_001) }],
  ["a custom header of 100,000 octets with whitespace", { ...ok, headers: { "X-Words": "word ".repeat(20_000).trim() } }, { "x-words": "word ".repeat(20_000).trim() }],
  [
    "both, through MailComposer (a non-ASCII recipient)",
    { ...ok, to: ["josé@example.net"], subject: long(5001, "S"), headers: { "X-Long": long(3000) } },
    { subject: long(5001, "S"), "x-long": long(3000) }
  ],
  [
    "a structured header beside a long one, through MailComposer",
    { ...ok, subject: `${long(1200, "S")} tail`, headers: { "Reply-To": "help@example.com", "X-Long": `${long(2000)} é` } },
    { subject: `${long(1200, "S")} tail`, "x-long": `${long(2000)} é` }
  ],
  // 998 - "Message-ID: ".length: the longest run a structured header may have, on a line of its own.
  [
    "a Message-ID of the longest run that folds",
    { ...ok, headers: { "Message-ID": `<${long(986 - 14)}@example.com>` } },
    { "message-id": `<${long(986 - 14)}@example.com>` }
  ],
  ["a raw header line of exactly 998 octets", { from: ok.from, to: ok.to, raw: rawWith(`X-Edge: ${long(990)}`) }, { "x-edge": long(990) }]
]

describe("long header lines go out folded", () => {
  it.scoped("each row: delivered with no header line over 998 octets, and read back as given", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(config(sink))
      const ids: Array<string> = []
      for (const [, input] of folded) ids.push((yield* submitDecoded(sluice, input)).id)
      for (const id of ids) yield* statusUntil(sluice, id, (r) => r.status === "delivered", `${id} delivered`)
      expect(sink.messages).toHaveLength(folded.length)
      for (const [i, [name, , check]] of folded.entries()) {
        // MailComposer writes the header's name as X-Sluice-ID; a raw message has none of its own.
        const data = sink.messages.find((m) => headerValue(m.data, "X-Sluice-Id") === ids[i] || (m.data.includes("X-Edge:") && name.includes("raw")))!.data
        const lines = headerLines(data)
        expect(lines.filter((line) => line.octets > 998), name).toEqual([])
        const mail = yield* Effect.promise(() => simpleParser(data))
        for (const [header, value] of Object.entries(check)) {
          // Compared as a boolean: a failure must not print 100 KB of "a".
          const seen = headerValue(data, header)
          expect(seen === value, `${name}: ${header} read back as given (${seen?.length} characters for ${value.length})`).toBe(true)
          if (header === "subject") expect(mail.subject === value, `${name}: mailparser reads the subject as given`).toBe(true)
        }
      }
    }))
})

describe("addresses RFC 5321 allows go out as given", () => {
  it.scoped("quoted local parts with spaces and quoted pairs, SMTPUTF8, address literals, tags", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(config(sink))
      const to = ["\"a.b\"@example.net", "\"a\\\"b\"@example.net", "ann@bücher.example", "postmaster@[192.0.2.1]", "user+tag@example.net", "o'brien@example.net"]
      const { id } = yield* sluice.submit({ ...ok, to })
      const record = yield* statusUntil(sluice, id, (r) => r.status === "delivered", "delivered")
      expect(record.recipients.map((r) => r.status)).toEqual(to.map(() => "delivered"))
      expect(sink.messages).toHaveLength(1)
      expect(sink.messages[0]!.to).toHaveLength(to.length)
    }))
})

describe("an address refused on the wire is that recipient's alone", () => {
  it.scoped("an upstream's 501 to one RCPT: that recipient bounces with its reply, logged; the other is delivered", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({
        onRcptTo: (address) => address.startsWith("odd") ? { code: 501, text: "5.1.3 Bad recipient address syntax" } : undefined
      })
      const logs: Array<LogLine> = []
      const { sluice } = yield* startEngine(config(sink), undefined, logs)
      const { id } = yield* sluice.submit({ ...ok, to: ["ok@example.net", "odd@example.net"] })
      const record = yield* statusUntil(sluice, id, (r) => r.status === "partial", "partial")
      expect(record.recipients).toEqual([
        { address: "ok@example.net", status: "delivered", reply: expect.objectContaining({ code: 250 }) },
        { address: "odd@example.net", status: "bounced", reply: expect.objectContaining({ code: 501, text: expect.stringContaining("Bad recipient address syntax") }), category: expect.any(String) }
      ])
      expect(record.lastReply?.code).toBe(501)
      expect(sink.messages.map((m) => m.to)).toEqual([["ok@example.net"]])
      yield* eventually(() => logs.some((l) => l.annotations.messageId === id), "the outcome's log line")
      const line = logs.find((l) => l.annotations.messageId === id)!
      expect(line.message).toBe("partial")
      expect(line.annotations.recipients).toContainEqual(expect.objectContaining({ address: "odd@example.net", status: "bounced", code: 501 }))
    }))

  it.scoped("an address the SMTP client will not send (queued before submits refused it): bounced alone, with a reply that says why", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      // Queued as an older version accepted it: straight into the queue, past today's submit checks.
      const queue = yield* MemoryQueue.make()
      const [queued] = yield* queue.enqueue([{
        id: "0legacy000000000000000001",
        from: "sender@example.com",
        to: ["ok@example.net", "\"x> NOTIFY=NEVER\"@example.net", "also@example.net"],
        content: Buffer.from("Subject: old\r\n\r\nbody\r\n"),
        stream: "default"
      }])
      const { sluice } = yield* startEngine(config(sink), queue)
      const first = yield* statusUntil(sluice, queued!.id, (r) => r.status === "deferred", "deferred")
      expect(first.recipients.map((r) => [r.address, r.status])).toEqual([
        ["ok@example.net", "deferred"],
        ["\"x> NOTIFY=NEVER\"@example.net", "bounced"],
        ["also@example.net", "deferred"]
      ])
      expect(first.recipients[1]!.reply).toMatchObject({ code: 553, enhanced: "5.1.3", text: expect.stringContaining("cannot be sent in RCPT") })
      expect(first.recipients[1]!.category).toBe("protocol")
      expect(sink.received).toBe(0)
      yield* TestClock.setTime(first.nextAttemptAt!)
      const done = yield* statusUntil(sluice, queued!.id, (r) => r.status === "partial", "partial")
      expect(done.recipients.map((r) => r.status)).toEqual(["delivered", "bounced", "delivered"])
      expect(sink.messages.map((m) => m.to)).toEqual([["ok@example.net", "also@example.net"]])
    }))
})

describe("a non-ASCII address and an upstream without SMTPUTF8", () => {
  it.scoped("the non-ASCII recipient bounces alone with a reply that says why; the ASCII one goes on the next attempt", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ hide: ["SMTPUTF8"] })
      const { sluice } = yield* startEngine(config(sink))
      const { id } = yield* sluice.submit({ ...ok, to: ["ok@example.net", "josé@example.net"] })
      const first = yield* statusUntil(sluice, id, (r) => r.status === "deferred", "deferred")
      expect(first.recipients.map((r) => [r.address, r.status])).toEqual([["ok@example.net", "deferred"], ["josé@example.net", "bounced"]])
      expect(first.recipients[1]!.reply).toMatchObject({ code: 553, enhanced: "5.6.7", text: expect.stringContaining("SMTPUTF8") })
      yield* TestClock.setTime(first.nextAttemptAt!)
      const done = yield* statusUntil(sluice, id, (r) => r.status === "partial", "partial")
      expect(done.recipients.map((r) => r.status)).toEqual(["delivered", "bounced"])
      expect(sink.messages.map((m) => m.to)).toEqual([["ok@example.net"]])
    }))

  it.scoped("a non-ASCII sender: every recipient bounces with that reply, none with lastReply null", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ hide: ["SMTPUTF8"] })
      const { sluice } = yield* startEngine(config(sink))
      const { id } = yield* sluice.submit({ ...ok, from: "josé@example.com", to: ["a@example.net", "b@example.net"] })
      const bounced = yield* statusUntil(sluice, id, (r) => r.status === "bounced", "bounced")
      expect(bounced.lastReply).toMatchObject({ code: 553, enhanced: "5.6.7" })
      expect(bounced.recipients.map((r) => r.reply?.code)).toEqual([553, 553])
      expect(sink.received).toBe(0)
    }))
})

describe("a repeated idempotency key", () => {
  it.scoped("with the same message: the first id, sent once; with another: IdempotencyConflict naming the first, never sent", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(config(sink))
      const a = { ...ok, idempotencyKey: "order-1" }
      const first = yield* sluice.submit(a)
      expect(first.duplicate).toBe(false)
      // The same content again, its fields in another order: a client's retry.
      const again = yield* sluice.submit({ idempotencyKey: "order-1", text: ok.text, subject: ok.subject, to: ok.to, from: ok.from })
      expect(again).toEqual({ id: first.id, status: "queued", duplicate: true })
      for (const other of [{ text: "another body" }, { to: ["someone@example.net"] }, { subject: "other" }, { stream: "bulk" }]) {
        const conflict = yield* Effect.flip(sluice.submit({ ...a, ...other }))
        expect(conflict).toMatchObject({ _tag: "IdempotencyConflict", idempotencyKey: "order-1", firstId: first.id })
        expect(conflict.message).toContain(first.id)
      }
      yield* statusUntil(sluice, first.id, (r) => r.status === "delivered", "delivered")
      expect(sink.received).toBe(1)
    }))

  it.scoped("within one batch: the same message answered the first id, another answered a conflict in its place", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(config(sink))
      const a = { ...ok, idempotencyKey: "k" }
      const results = yield* sluice.submitBatch([a, { ...a, text: "changed" }, a, { ...ok, to: ["b@example.net"] }])
      const [first, conflict, same, other] = results
      const id = Either.getOrThrow(first!).id
      expect(Either.isLeft(conflict!) && conflict.left).toMatchObject({ _tag: "IdempotencyConflict", idempotencyKey: "k", firstId: id })
      expect(Either.getOrThrow(same!)).toEqual({ id, status: "queued", duplicate: true })
      expect(Either.getOrThrow(other!).id).not.toBe(id)
      // And later, across requests, the same answers.
      expect(yield* sluice.submit(a)).toEqual({ id, status: "queued", duplicate: true })
      expect(yield* Effect.flip(sluice.submit({ ...a, html: "<p>x</p>" }))).toMatchObject({ _tag: "IdempotencyConflict", firstId: id })
      yield* eventually(() => sink.received === 2, "two messages sent")
      expect(sink.messages.map((m) => m.data.toString()).filter((d) => d.includes("changed"))).toEqual([])
    }))
})
