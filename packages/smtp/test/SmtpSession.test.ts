import { describe, expect, it } from "@effect/vitest"
import {
  SmtpAddressError,
  SmtpConnectionError,
  SmtpReply,
  SmtpReplyError,
  SmtpSession,
  SmtpTimeoutError,
  SmtpUnsupportedError
} from "@sluice/smtp"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import * as RawServer from "./support/rawServer.js"
import { options } from "./support/upstream.js"

const message = Buffer.from("Subject: test\r\n\r\nHello.\r\n")

describe("SmtpSession recipients", () => {
  for (const pipelining of [true, false]) {
    const variant = `PIPELINING ${pipelining ? "offered" : "hidden"}`
    const sinkOptions: Sink.SinkOptions = pipelining ? {} : { hide: ["PIPELINING"] }

    it.scopedLive(`one RCPT refused, one deferred, one accepted: a result each (${variant})`, () =>
      Effect.gen(function*() {
        const sink = yield* Sink.make(sinkOptions)
        const session = yield* SmtpSession.open(options(sink))
        const result = yield* session.send(
          { from: "sender@example.org", to: ["gone+550@example.net", "busy+451@example.net", "ok@example.net"] },
          message
        )
        expect(result.recipients).toEqual([
          {
            address: "gone+550@example.net",
            verdict: "permanent",
            phase: "rcpt",
            reply: { code: 550, enhanced: "5.1.1", text: "refused as the address asks (550)" }
          },
          {
            address: "busy+451@example.net",
            verdict: "transient",
            phase: "rcpt",
            reply: { code: 451, enhanced: "4.3.0", text: "refused as the address asks (451)" }
          },
          {
            address: "ok@example.net",
            verdict: "delivered",
            phase: "data",
            reply: { code: 250, enhanced: "2.6.0", text: "OK: message queued" }
          }
        ])
        expect(sink.messages).toHaveLength(1)
        expect(sink.messages[0]).toMatchObject({ from: "sender@example.org", to: ["ok@example.net"] })
        expect(sink.messages[0]!.data).toEqual(message)
        expect(session.transactions).toBe(1)
      }))

    it.scopedLive(`every RCPT refused: no message is sent and the session carries the next one (${variant})`, () =>
      Effect.gen(function*() {
        const sink = yield* Sink.make(sinkOptions)
        const session = yield* SmtpSession.open(options(sink))
        const refused = yield* session.send(
          { from: "sender@example.org", to: ["a+550@example.net", "b+452@example.net"] },
          message
        )
        expect(refused.recipients.map((r) => [r.address, r.verdict, r.phase, r.reply.code])).toEqual([
          ["a+550@example.net", "permanent", "rcpt", 550],
          ["b+452@example.net", "transient", "rcpt", 452]
        ])
        expect(sink.received).toBe(0)
        expect(session.isOpen).toBe(true)

        // The server still holds MAIL FROM of the refused transaction; the session resets it first.
        const next = yield* session.send({ from: "second@example.org", to: ["c@example.net"] }, message)
        expect(next.recipients.map((r) => [r.address, r.verdict, r.phase, r.reply.code])).toEqual([
          ["c@example.net", "delivered", "data", 250]
        ])
        expect(sink.messages.map((m) => [m.from, m.to])).toEqual([["second@example.org", ["c@example.net"]]])
        expect(sink.connections.total).toBe(1)
      }))

    it.scopedLive(`MAIL refused: the error, then the session carries the next message (${variant})`, () =>
      Effect.gen(function*() {
        const sink = yield* Sink.make({
          ...sinkOptions,
          onMailFrom: (address) => address.startsWith("blocked") ? { code: 550, text: "sender blocked" } : undefined
        })
        const session = yield* SmtpSession.open(options(sink))
        const error = yield* Effect.flip(
          session.send({ from: "blocked@example.org", to: ["a@example.net", "b@example.net"] }, message)
        )
        expect(error).toBeInstanceOf(SmtpReplyError)
        expect(error).toMatchObject({ phase: "mail", code: 550, text: "sender blocked" })
        expect(session.isOpen).toBe(true)

        const next = yield* session.send({ from: "fine@example.org", to: ["c@example.net"] }, message)
        expect(next.recipients.map((r) => r.verdict)).toEqual(["delivered"])
        expect(sink.messages.map((m) => [m.from, m.to])).toEqual([["fine@example.org", ["c@example.net"]]])
      }))
  }

  it.scopedLive("a transaction that ended before DATA is reset with RSET before the next", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) =>
          RawServer.verb(line) === "RCPT" && line.includes("refuse")
            ? connection.reply("550 5.1.1 no")
            : RawServer.standard()(line, connection)
      })
      const session = yield* SmtpSession.open(options(server))
      const refused = yield* session.send({ from: "a@example.org", to: ["refuse@example.net"] }, message)
      expect(refused.recipients.map((r) => r.verdict)).toEqual(["permanent"])
      const sent = yield* session.send({ from: "a@example.org", to: ["b@example.net"] }, message)
      expect(sent.recipients.map((r) => r.verdict)).toEqual(["delivered"])
      const third = yield* session.send({ from: "a@example.org", to: ["c@example.net"] }, message)
      expect(third.recipients.map((r) => r.verdict)).toEqual(["delivered"])
      expect(server.commands).toEqual([
        "EHLO client.test",
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<refuse@example.net>",
        "RSET",
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<b@example.net>",
        "DATA",
        // After a complete transaction no RSET is needed.
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<c@example.net>",
        "DATA"
      ])
    }))

  it.scopedLive("MAIL FROM carries SIZE and, for 8-bit content only, BODY=8BITMIME", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({ onCommand: RawServer.standard(["SIZE 1000000", "8BITMIME"]) })
      const session = yield* SmtpSession.open(options(server))
      const ascii = Buffer.from("a\r\n.b\n")
      const eightBit = Buffer.from("caf\u00e9\r\n", "utf8")
      yield* session.send({ from: "a@example.org", to: ["b@example.net"] }, ascii)
      yield* session.send({ from: "a@example.org", to: ["b@example.net"] }, eightBit)
      expect(server.commands.filter((line) => line.startsWith("MAIL"))).toEqual([
        // "a\r\n..b\r\n.\r\n" and "café\r\n.\r\n" (é is two octets in UTF-8)
        "MAIL FROM:<a@example.org> SIZE=11",
        "MAIL FROM:<a@example.org> SIZE=10 BODY=8BITMIME"
      ])
    }))
})

describe("SmtpSession conversation", () => {
  it.scopedLive("reads multi-line and fragmented replies, and EHLO keywords with their parameters", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        greeting: "220-raw.test ESMTP\r\n220-more text\r\n220 ready",
        onCommand: (line, connection) => {
          if (RawServer.verb(line) !== "EHLO") return RawServer.standard()(line, connection)
          // One reply over three writes, split inside a line.
          connection.reply("250-raw.test greets you", "250-SIZE 35882577", "250-auth PLAIN LOGIN")
          setTimeout(() => connection.write("250-8BITMIME\r\n25"), 20)
          setTimeout(() => connection.write("0 PIPELINING\r\n"), 40)
        }
      })
      const session = yield* SmtpSession.open(options(server))
      expect(Object.fromEntries(session.extensions)).toEqual({
        SIZE: "35882577",
        AUTH: "PLAIN LOGIN",
        "8BITMIME": "",
        PIPELINING: ""
      })
      const result = yield* session.send({ from: "a@example.org", to: ["b@example.net"] }, message)
      expect(result.recipients.map((r) => r.verdict)).toEqual(["delivered"])
    }))

  it.scopedLive("closing the scope says QUIT; a broken session is closed without a word", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          if (RawServer.verb(line) === "MAIL" && line.includes("slow")) return // never answered
          RawServer.standard()(line, connection)
        }
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* SmtpSession.open(options(server))
        yield* session.send({ from: "a@example.org", to: ["b@example.net"] }, message)
      }))
      expect(server.commands.at(-1)).toBe("QUIT")

      const before = server.commands.length
      yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* SmtpSession.open(options(server, { timeouts: { command: "300 millis" } }))
        const error = yield* Effect.flip(session.send({ from: "slow@example.org", to: ["b@example.net"] }, message))
        expect(error).toBeInstanceOf(SmtpTimeoutError)
        expect(session.isOpen).toBe(false)
      }))
      expect(server.commands.slice(before)).toEqual(["EHLO client.test", "MAIL FROM:<slow@example.org>"])
    }))

  it.scopedLive("an interrupted send leaves the session unusable, since replies are still owed", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          if (RawServer.verb(line) !== "DATA") return RawServer.standard(["PIPELINING"])(line, connection)
          connection.reply("354 go ahead")
          connection.readData(() => setTimeout(() => connection.reply("250 2.0.0 late"), 300))
        }
      })
      const session = yield* SmtpSession.open(options(server))
      const outcome = yield* Effect.either(
        session.send({ from: "a@example.org", to: ["b@example.net"] }, message).pipe(Effect.timeout("100 millis"))
      )
      expect(outcome._tag === "Left" && outcome.left._tag).toBe("TimeoutException")
      expect(session.isOpen).toBe(false)
    }))

  it.scopedLive("DATA accepted after every RCPT was refused (RFC 2920 §3.1): an empty message ends it", () =>
    Effect.gen(function*() {
      const bodies: Array<string> = []
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          switch (RawServer.verb(line)) {
            case "RCPT":
              return line.includes("refuse") ? connection.reply("550 5.1.1 no") : connection.reply("250 OK")
            case "DATA":
              // A server that answers DATA without looking at the recipients.
              connection.reply("354 go ahead")
              return connection.readData((body) => {
                bodies.push(body.toString("latin1"))
                connection.reply(body.length === 0 ? "554 5.5.1 no valid recipients" : "250 2.0.0 queued")
              })
            default:
              return RawServer.standard(["PIPELINING"])(line, connection)
          }
        }
      })
      const session = yield* SmtpSession.open(options(server))
      const refused = yield* session.send({ from: "a@example.org", to: ["refuse1@example.net", "refuse2@example.net"] }, message)
      expect(refused.recipients.map((r) => [r.address, r.verdict, r.phase])).toEqual([
        ["refuse1@example.net", "permanent", "rcpt"],
        ["refuse2@example.net", "permanent", "rcpt"]
      ])
      expect(bodies).toEqual([""])
      const next = yield* session.send({ from: "a@example.org", to: ["ok@example.net"] }, message)
      expect(next.recipients.map((r) => r.verdict)).toEqual(["delivered"])
      expect(bodies).toEqual(["", message.toString("latin1")])
      expect(server.commands.filter((line) => line === "RSET")).toHaveLength(1)
    }))
})

describe("SmtpSession final reply to DATA", () => {
  // A refusal after DATA concerns the message, not the session: it is a result for every recipient.
  for (const [code, verdict] of [[451, "transient"], [554, "permanent"]] as const) {
    it.scopedLive(`${code} after the message: every accepted recipient is ${verdict} at data`, () =>
      Effect.gen(function*() {
        const sink = yield* Sink.make({ onData: () => ({ code, text: "content refused" }) })
        const session = yield* SmtpSession.open(options(sink))
        const result = yield* session.send(
          { from: "a@example.org", to: ["x+550@example.net", "b@example.net", "c@example.net"] },
          message
        )
        expect(result.recipients.map((r) => [r.address, r.verdict, r.phase, r.reply.code, r.reply.text])).toEqual([
          ["x+550@example.net", "permanent", "rcpt", 550, "refused as the address asks (550)"],
          ["b@example.net", verdict, "data", code, "content refused"],
          ["c@example.net", verdict, "data", code, "content refused"]
        ])
        expect(sink.received).toBe(0)
        // The transaction is over: the session stays usable.
        expect(session.isOpen).toBe(true)
        expect(session.transactions).toBe(1)
      }))
  }
})

describe("SmtpSession errors", () => {
  it.scopedLive("421 at the greeting", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ greeting: { code: 421, text: "too busy" } })
      const error = yield* Effect.flip(SmtpSession.open(options(sink)))
      expect(error).toBeInstanceOf(SmtpReplyError)
      expect(error).toMatchObject({ phase: "greeting", code: 421 })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
    }))

  it.scopedLive("554 at the greeting", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ greeting: { code: 554, text: "go away" } })
      const error = yield* Effect.flip(SmtpSession.open(options(sink)))
      expect(error).toBeInstanceOf(SmtpReplyError)
      expect(error).toMatchObject({ phase: "greeting", code: 554 })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
    }))

  for (const pipelining of [true, false]) {
    const variant = `PIPELINING ${pipelining ? "offered" : "hidden"}`
    const cases = [
      // A temporary refusal of MAIL is the upstream's: the message goes to another one at once.
      [451, { verdict: "transient", upstreamFault: true }],
      [550, { verdict: "permanent", upstreamFault: false }],
      // 421: the server is closing the channel, and does (smtp-server closes after sending it).
      [421, { verdict: "transient", upstreamFault: true }]
    ] as const
    for (const [code, classification] of cases) {
      it.scopedLive(`${code} at MAIL (${variant})`, () =>
        Effect.gen(function*() {
          const sink = yield* Sink.make({
            ...(pipelining ? {} : { hide: ["PIPELINING"] }),
            onMailFrom: () => ({ code, text: "not now" })
          })
          const session = yield* SmtpSession.open(options(sink))
          const error = yield* Effect.flip(session.send({ from: "a@example.org", to: ["b@example.net"] }, message))
          expect(error).toBeInstanceOf(SmtpReplyError)
          expect(error).toMatchObject({ phase: "mail", code, text: "not now" })
          expect(SmtpReply.classifyError(error)).toEqual(classification)
          expect(sink.received).toBe(0)
        }))
    }
  }

  it.scopedLive("connection refused", () =>
    Effect.gen(function*() {
      const port = yield* RawServer.closedPort
      const error = yield* Effect.flip(SmtpSession.open(options({ host: "127.0.0.1", port })))
      expect(error).toBeInstanceOf(SmtpConnectionError)
      expect(error).toMatchObject({ phase: "connect", reason: "refused" })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
    }))

  it.scopedLive("the server drops the connection in the middle of DATA", () =>
    Effect.gen(function*() {
      let dataBytes = 0
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          if (RawServer.verb(line) !== "DATA") return RawServer.standard()(line, connection)
          connection.reply("354 go ahead")
          connection.readData(() => connection.reply("250 2.0.0 should not get here"))
        },
        onDataChunk: (_chunk, received, connection) => {
          dataBytes = received
          if (received >= 1024) connection.destroy()
        }
      })
      const session = yield* SmtpSession.open(options(server))
      const error = yield* Effect.flip(
        session.send({ from: "a@example.org", to: ["b@example.net"] }, Buffer.alloc(4 * 1024 * 1024, "a\r\n"))
      )
      expect(dataBytes).toBeGreaterThanOrEqual(1024)
      expect(error).toBeInstanceOf(SmtpConnectionError)
      expect(error).toMatchObject({ phase: "data", reason: "dropped" })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
      expect(session.isOpen).toBe(false)
    }))

  it.scopedLive("a server that accepts the connection and never speaks: greeting timeout", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({ greeting: null, onCommand: () => {} })
      const started = Date.now()
      const error = yield* Effect.flip(SmtpSession.open(options(server, { timeouts: { greeting: "300 millis" } })))
      expect(error).toBeInstanceOf(SmtpTimeoutError)
      expect(error).toMatchObject({ phase: "greeting", timeoutMillis: 300 })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
      expect(Date.now() - started).toBeLessThan(3_000)
      expect(server.connections()).toBe(1)
    }))

  for (const pipelining of [true, false]) {
    it.scopedLive(`a server that never answers MAIL: mail timeout (PIPELINING ${pipelining ? "offered" : "hidden"})`, () =>
      Effect.gen(function*() {
        const server = yield* RawServer.make({
          onCommand: (line, connection) => {
            if (RawServer.verb(line) === "EHLO") RawServer.standard(pipelining ? ["PIPELINING"] : [])(line, connection)
          }
        })
        const session = yield* SmtpSession.open(options(server, { timeouts: { command: "300 millis" } }))
        const error = yield* Effect.flip(session.send({ from: "a@example.org", to: ["b@example.net"] }, message))
        expect(error).toBeInstanceOf(SmtpTimeoutError)
        expect(error).toMatchObject({ phase: "mail", timeoutMillis: 300 })
        expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
        expect(session.isOpen).toBe(false)
        expect(server.commands.some((line) => line.startsWith("MAIL FROM:<a@example.org>"))).toBe(true)
      }))
  }

  it.scopedLive("a server that never answers the end of the message: data timeout", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          if (RawServer.verb(line) !== "DATA") return RawServer.standard()(line, connection)
          connection.reply("354 go ahead")
          connection.readData(() => {})
        }
      })
      const session = yield* SmtpSession.open(options(server, { timeouts: { data: "300 millis" } }))
      const error = yield* Effect.flip(session.send({ from: "a@example.org", to: ["b@example.net"] }, message))
      expect(error).toBeInstanceOf(SmtpTimeoutError)
      expect(error).toMatchObject({ phase: "data", timeoutMillis: 300 })
      expect(session.isOpen).toBe(false)
    }))

  it.scopedLive("EHLO refused with 502: HELO, and the message goes through", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) =>
          RawServer.verb(line) === "EHLO"
            ? connection.reply("502 5.5.1 what is EHLO")
            : RawServer.standard()(line, connection)
      })
      const session = yield* SmtpSession.open(options(server))
      expect(session.extensions.size).toBe(0)
      const result = yield* session.send({ from: "a@example.org", to: ["b@example.net"] }, message)
      expect(result.recipients.map((r) => r.verdict)).toEqual(["delivered"])
      expect(server.commands).toEqual([
        "EHLO client.test",
        "HELO client.test",
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<b@example.net>",
        "DATA"
      ])
    }))

  it.scopedLive("EHLO answered 421: an ehlo error, no HELO", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (_line, connection) => {
          connection.reply("421 4.3.2 shutting down")
          connection.destroy()
        }
      })
      const error = yield* Effect.flip(SmtpSession.open(options(server)))
      expect(error).toBeInstanceOf(SmtpReplyError)
      expect(error).toMatchObject({ phase: "ehlo", code: 421 })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
      expect(server.commands).toEqual(["EHLO client.test"])
    }))

  it.scopedLive("a non-ASCII address to a server without SMTPUTF8: unsupported, nothing sent", () =>
    Effect.gen(function*() {
      const mailFrom: Array<string> = []
      const sink = yield* Sink.make({
        hide: ["SMTPUTF8"],
        onMailFrom: (address) => {
          mailFrom.push(address)
          return undefined
        }
      })
      const session = yield* SmtpSession.open(options(sink))
      expect(session.extensions.has("SMTPUTF8")).toBe(false)
      const error = yield* Effect.flip(session.send({ from: "a@example.org", to: ["j\u00f6rg@example.net"] }, message))
      expect(error).toBeInstanceOf(SmtpUnsupportedError)
      expect(error).toMatchObject({ phase: "mail", extension: "SMTPUTF8" })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "permanent", upstreamFault: false })
      expect(mailFrom).toEqual([])

      // Nothing went out, so the session is as good as before.
      const next = yield* session.send({ from: "a@example.org", to: ["joerg@example.net"] }, message)
      expect(next.recipients.map((r) => r.verdict)).toEqual(["delivered"])
      expect(mailFrom).toEqual(["a@example.org"])
    }))

  it.scopedLive("a non-ASCII address to a server with SMTPUTF8 is delivered", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const session = yield* SmtpSession.open(options(sink))
      expect(session.extensions.has("SMTPUTF8")).toBe(true)
      const result = yield* session.send({ from: "j\u00f6rg@example.org", to: ["\u00e9l\u00e8ve@example.net"] }, message)
      expect(result.recipients.map((r) => r.verdict)).toEqual(["delivered"])
      expect(sink.messages.map((m) => [m.from, m.to])).toEqual([["j\u00f6rg@example.org", ["\u00e9l\u00e8ve@example.net"]]])
    }))

  const unsafe = [
    ["a CRLF in MAIL FROM", { from: "a@example.org\r\nRCPT TO:<x@example.net>", to: ["b@example.net"] }, "mail"],
    ["a bare LF in RCPT TO", { from: "a@example.org", to: ["b@example.net", "c@example.net\nDATA"] }, "rcpt"],
    ["a CR in RCPT TO", { from: "a@example.org", to: ["c@example.net\rQUIT"] }, "rcpt"],
    ["a NUL", { from: "a\0@example.org", to: ["b@example.net"] }, "mail"],
    ["an angle bracket", { from: "a@example.org", to: ["b@example.net> NOTIFY=NEVER"] }, "rcpt"]
  ] as const
  for (const [label, envelope, phase] of unsafe) {
    it.scopedLive(`${label}: an address error, and not a byte sent`, () =>
      Effect.gen(function*() {
        const server = yield* RawServer.make({ onCommand: RawServer.standard(["PIPELINING"]) })
        const session = yield* SmtpSession.open(options(server))
        const error = yield* Effect.flip(session.send(envelope, message))
        expect(error).toBeInstanceOf(SmtpAddressError)
        expect(error).toMatchObject({ phase, address: phase === "mail" ? envelope.from : envelope.to.at(-1) })
        expect(SmtpReply.classifyError(error)).toEqual({ verdict: "permanent", upstreamFault: false })
        // The server saw nothing of the refused envelope: the next message's MAIL comes right after EHLO.
        yield* session.send({ from: "ok@example.org", to: ["ok@example.net"] }, message)
        expect(server.commands.slice(0, 2)).toEqual(["EHLO client.test", "MAIL FROM:<ok@example.org>"])
      }))
  }
})

describe("SmtpSession AUTH", () => {
  const credentials = { user: "relay-user", pass: "s3cret \u00fc" }

  it.scopedLive("AUTH PLAIN with the right credentials, against smtp-server", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ auth: credentials })
      const session = yield* SmtpSession.open(options(sink, { auth: credentials }))
      expect(session.extensions.get("AUTH")?.split(" ")).toContain("PLAIN")
      const result = yield* session.send({ from: "a@example.org", to: ["b@example.net"] }, message)
      expect(result.recipients.map((r) => r.verdict)).toEqual(["delivered"])
      expect(sink.received).toBe(1)
    }))

  it.scopedLive("no credentials for a server that requires them: MAIL refused", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ auth: credentials })
      const session = yield* SmtpSession.open(options(sink))
      const error = yield* Effect.flip(session.send({ from: "a@example.org", to: ["b@example.net"] }, message))
      expect(error).toBeInstanceOf(SmtpReplyError)
      expect(error).toMatchObject({ phase: "mail", code: 530 })
      expect(sink.received).toBe(0)
    }))

  it.scopedLive("a wrong password: 535 at auth, the upstream's fault", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ auth: credentials })
      const error = yield* Effect.flip(SmtpSession.open(options(sink, { auth: { ...credentials, pass: "wrong" } })))
      expect(error).toBeInstanceOf(SmtpReplyError)
      expect(error).toMatchObject({ phase: "auth", code: 535 })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
    }))

  /** A server that offers AUTH LOGIN only, and checks the base64 user name and password. */
  const loginServer = () => {
    const step = new Map<number, "user" | "pass" | "done">()
    const user = new Map<number, string>()
    return RawServer.make({
      onCommand: (line, connection) => {
        const state = step.get(connection.id)
        const decoded = Buffer.from(line, "base64").toString("utf8")
        if (state === "user") {
          user.set(connection.id, decoded)
          step.set(connection.id, "pass")
          return connection.reply("334 UGFzc3dvcmQ6")
        }
        if (state === "pass") {
          const ok = user.get(connection.id) === credentials.user && decoded === credentials.pass
          step.set(connection.id, ok ? "done" : "user")
          return ok
            ? connection.reply("235 2.7.0 Authentication successful")
            : connection.reply("535 5.7.8 Authentication credentials invalid")
        }
        if (line.toUpperCase() === "AUTH LOGIN") {
          step.set(connection.id, "user")
          return connection.reply("334 VXNlcm5hbWU6")
        }
        if (RawServer.verb(line) === "MAIL" && state !== "done") {
          return connection.reply("530 5.7.0 Authentication required")
        }
        return RawServer.standard(["AUTH LOGIN"])(line, connection)
      }
    })
  }

  it.scopedLive("AUTH LOGIN when the server offers only LOGIN", () =>
    Effect.gen(function*() {
      const server = yield* loginServer()
      const session = yield* SmtpSession.open(options(server, { auth: credentials }))
      const result = yield* session.send({ from: "a@example.org", to: ["b@example.net"] }, message)
      expect(result.recipients.map((r) => r.verdict)).toEqual(["delivered"])
      expect(server.commands.slice(0, 4)).toEqual([
        "EHLO client.test",
        "AUTH LOGIN",
        Buffer.from(credentials.user).toString("base64"),
        Buffer.from(credentials.pass).toString("base64")
      ])
    }))

  it.scopedLive("AUTH LOGIN with a wrong password: 535 at auth", () =>
    Effect.gen(function*() {
      const server = yield* loginServer()
      const error = yield* Effect.flip(SmtpSession.open(options(server, { auth: { ...credentials, pass: "nope" } })))
      expect(error).toBeInstanceOf(SmtpReplyError)
      expect(error).toMatchObject({ phase: "auth", code: 535, enhanced: "5.7.8" })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
    }))

  it.scopedLive("credentials for a server that offers no AUTH: unsupported", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({ onCommand: RawServer.standard(["PIPELINING"]) })
      const error = yield* Effect.flip(SmtpSession.open(options(server, { auth: credentials })))
      expect(error).toBeInstanceOf(SmtpUnsupportedError)
      expect(error).toMatchObject({ phase: "auth", extension: "AUTH" })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
      expect(server.commands).toEqual(["EHLO client.test"])
    }))
})
