import { describe, expect, it } from "@effect/vitest"
import {
  SmtpConnectionError,
  SmtpReply,
  SmtpReplyError,
  SmtpSession,
  SmtpTimeoutError,
  SmtpUnsupportedError
} from "@sluice/smtp"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import { dotHeavy, firstDifference, normalized } from "./support/messages.js"
import * as RawServer from "./support/rawServer.js"
import { certificate } from "./support/tls.js"
import { options } from "./support/upstream.js"

const message = Buffer.from("Subject: over TLS\r\n\r\n.\r\n..\r\n\xe9t\xe9\r\n", "latin1")
const envelope = { from: "a@example.org", to: ["b@example.net"] }

describe("SmtpSession over STARTTLS", () => {
  for (const tls of ["starttls", "required"] as const) {
    it.scopedLive(`tls "${tls}" and a certificate nobody vouches for: fails at tls`, () =>
      Effect.gen(function*() {
        const sink = yield* Sink.make({ tls: certificate() })
        const error = yield* Effect.flip(SmtpSession.open(options(sink, { tls })))
        expect(error).toBeInstanceOf(SmtpConnectionError)
        expect(error).toMatchObject({ phase: "tls", reason: "tls" })
        expect((error as SmtpConnectionError).text).toMatch(/self[- ]signed/i)
        expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
        expect(sink.received).toBe(0)
      }))

    it.scopedLive(`tls "${tls}" with the certificate as CA: secure, and the message arrives intact`, () =>
      Effect.gen(function*() {
        const { cert } = certificate()
        const sink = yield* Sink.make({ tls: certificate() })
        const session = yield* SmtpSession.open(options(sink, { tls, ca: cert }))
        expect(session.isSecure).toBe(true)
        // RFC 3207 §4.2: the extensions are asked for again after the handshake; STARTTLS is gone.
        expect(session.extensions.has("STARTTLS")).toBe(false)
        expect(session.extensions.has("PIPELINING")).toBe(true)
        const big = dotHeavy(7, 2_000)
        for (const content of [message, big]) {
          const result = yield* session.send(envelope, content)
          expect(result.recipients.map((r) => r.verdict)).toEqual(["delivered"])
        }
        expect(sink.messages).toHaveLength(2)
        expect(sink.messages[0]!.data).toEqual(normalized(message))
        expect(firstDifference(sink.messages[1]!.data, normalized(big))).toBe(-1)
      }))
  }

  it.scopedLive("STARTTLS refused with 454: a reply error at tls", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) =>
          line === "STARTTLS"
            ? connection.reply("454 4.7.0 TLS not available due to temporary reason")
            : RawServer.standard(["STARTTLS"])(line, connection)
      })
      const error = yield* Effect.flip(SmtpSession.open(options(server, { tls: "starttls" })))
      expect(error).toBeInstanceOf(SmtpReplyError)
      expect(error).toMatchObject({ phase: "tls", code: 454 })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
    }))

  it.scopedLive("a server that never completes the handshake: tls timeout", () =>
    Effect.gen(function*() {
      const silent = new Set<number>()
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          if (silent.has(connection.id)) return // the ClientHello, read as lines: ignored
          if (line !== "STARTTLS") return RawServer.standard(["STARTTLS"])(line, connection)
          silent.add(connection.id)
          connection.reply("220 2.0.0 go ahead")
        }
      })
      const started = Date.now()
      const error = yield* Effect.flip(SmtpSession.open(options(server, { tls: "required", timeouts: { command: "300 millis" } })))
      expect(error).toBeInstanceOf(SmtpTimeoutError)
      expect(error).toMatchObject({ phase: "tls", timeoutMillis: 300 })
      expect(Date.now() - started).toBeLessThan(3_000)
    }))

  it.scopedLive("verifyCertificate false: secure without a CA", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ tls: certificate() })
      const session = yield* SmtpSession.open(options(sink, { tls: "required", verifyCertificate: false }))
      expect(session.isSecure).toBe(true)
      yield* session.send(envelope, message)
      expect(sink.messages.map((m) => m.data)).toEqual([normalized(message)])
    }))

  it.scopedLive("a certificate for another name: fails at tls", () =>
    Effect.gen(function*() {
      const { cert } = certificate()
      const sink = yield* Sink.make({ tls: certificate() })
      const error = yield* Effect.flip(
        SmtpSession.open(options(sink, { tls: "required", ca: cert, servername: "mx.elsewhere.test" }))
      )
      expect(error).toBeInstanceOf(SmtpConnectionError)
      expect(error).toMatchObject({ phase: "tls", reason: "tls" })
    }))

  it.scopedLive(`tls "required" and no STARTTLS offered: unsupported at tls, nothing sent`, () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const error = yield* Effect.flip(SmtpSession.open(options(sink, { tls: "required" })))
      expect(error).toBeInstanceOf(SmtpUnsupportedError)
      expect(error).toMatchObject({ phase: "tls", extension: "STARTTLS" })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
      expect(sink.connections.total).toBe(1)
    }))

  it.scopedLive(`tls "required" and STARTTLS hidden by a server that has a certificate: unsupported`, () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ tls: certificate(), hide: ["STARTTLS"] })
      const error = yield* Effect.flip(SmtpSession.open(options(sink, { tls: "required", ca: certificate().cert })))
      expect(error).toBeInstanceOf(SmtpUnsupportedError)
      expect(error).toMatchObject({ phase: "tls", extension: "STARTTLS" })
    }))

  it.scopedLive(`tls "starttls" and no STARTTLS offered: plain text`, () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const session = yield* SmtpSession.open(options(sink, { tls: "starttls" }))
      expect(session.isSecure).toBe(false)
      const result = yield* session.send(envelope, message)
      expect(result.recipients.map((r) => r.verdict)).toEqual(["delivered"])
      expect(sink.messages.map((m) => m.data)).toEqual([normalized(message)])
    }))

  it.scopedLive(`tls "none" does not upgrade even when offered`, () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ tls: certificate() })
      const session = yield* SmtpSession.open(options(sink))
      expect(session.isSecure).toBe(false)
      expect(session.extensions.has("STARTTLS")).toBe(true)
      yield* session.send(envelope, message)
      expect(sink.received).toBe(1)
    }))

  it.scopedLive("AUTH after STARTTLS", () =>
    Effect.gen(function*() {
      const auth = { user: "u", pass: "p" }
      const sink = yield* Sink.make({ tls: certificate(), auth })
      const session = yield* SmtpSession.open(options(sink, { tls: "required", ca: certificate().cert, auth }))
      expect(session.isSecure).toBe(true)
      yield* session.send(envelope, message)
      expect(sink.received).toBe(1)
    }))
})

describe("SmtpSession over implicit TLS", () => {
  it.scopedLive("with the certificate as CA: secure from the first byte, the message intact", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ tls: certificate(), implicitTls: true })
      const session = yield* SmtpSession.open(options(sink, { tls: "implicit", ca: certificate().cert }))
      expect(session.isSecure).toBe(true)
      const big = dotHeavy(11, 2_000)
      yield* session.send(envelope, message)
      yield* session.send(envelope, big)
      expect(sink.messages).toHaveLength(2)
      expect(sink.messages[0]!.data).toEqual(normalized(message))
      expect(firstDifference(sink.messages[1]!.data, normalized(big))).toBe(-1)
    }))

  it.scopedLive("without a CA: fails at tls", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ tls: certificate(), implicitTls: true })
      const error = yield* Effect.flip(SmtpSession.open(options(sink, { tls: "implicit" })))
      expect(error).toBeInstanceOf(SmtpConnectionError)
      expect(error).toMatchObject({ phase: "tls", reason: "tls" })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
    }))

  it.scopedLive("a certificate for another name: fails at tls", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ tls: certificate(), implicitTls: true })
      const error = yield* Effect.flip(
        SmtpSession.open(options(sink, { tls: "implicit", ca: certificate().cert, servername: "mx.elsewhere.test" }))
      )
      expect(error).toBeInstanceOf(SmtpConnectionError)
      expect(error).toMatchObject({ phase: "tls", reason: "tls" })
    }))

  it.scopedLive("to a server that speaks plain text: fails at tls", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const error = yield* Effect.flip(SmtpSession.open(options(sink, { tls: "implicit", ca: certificate().cert })))
      expect(error).toBeInstanceOf(SmtpConnectionError)
      expect(error).toMatchObject({ phase: "tls", reason: "tls" })
      expect(sink.received).toBe(0)
    }))

  it.scopedLive("verifyCertificate false: secure without a CA", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ tls: certificate(), implicitTls: true })
      const session = yield* SmtpSession.open(options(sink, { tls: "implicit", verifyCertificate: false }))
      expect(session.isSecure).toBe(true)
      yield* session.send(envelope, message)
      expect(sink.received).toBe(1)
    }))
})
