import type { ConnectionOptions } from "node:tls"
import type { Scope } from "effect"
import { Duration, Effect, Metric } from "effect"
import * as DataEncoding from "./DataEncoding.js"
import type { Received } from "./internal/channel.js"
import { Channel } from "./internal/channel.js"
import type { Phase, SmtpError } from "./SmtpError.js"
import {
  SmtpAddressError,
  SmtpConnectionError,
  SmtpReplyError,
  SmtpTimeoutError,
  SmtpUnsupportedError
} from "./SmtpError.js"
import * as SmtpMetrics from "./SmtpMetrics.js"
import type { SmtpOptions } from "./SmtpOptions.js"
import type { SmtpReply, Verdict } from "./SmtpReply.js"
import { classifyReply, replyClass } from "./SmtpReply.js"

export interface Envelope {
  readonly from: string
  readonly to: ReadonlyArray<string>
}

/** What became of one recipient in one transaction. */
export interface RecipientResult {
  readonly address: string
  readonly verdict: Verdict
  /** The reply that decided: RCPT's when it refused the recipient, else DATA's. */
  readonly phase: "rcpt" | "data"
  readonly reply: SmtpReply
}

export interface SendResult {
  readonly recipients: ReadonlyArray<RecipientResult>
}

/** One open, greeted (and, as configured, secured and authenticated) SMTP session. */
export interface SmtpSession {
  readonly upstream: string
  /** EHLO keywords (upper case) and their parameters. */
  readonly extensions: ReadonlyMap<string, string>
  readonly isSecure: boolean
  /** False once the server closed the connection or an exchange failed: never reuse it then. */
  readonly isOpen: boolean
  /** Transactions completed on this session. */
  readonly transactions: number
  /**
   * One mail transaction. Fails only when the session itself failed (dropped, timed out, MAIL refused);
   * recipients refused at RCPT or DATA are results, one per recipient.
   */
  readonly send: (envelope: Envelope, content: Uint8Array) => Effect.Effect<SendResult, SmtpError>
}

const plain = (reply: SmtpReply): SmtpReply => ({ code: reply.code, enhanced: reply.enhanced, text: reply.text })

// RFC 6531: an address with non-ASCII characters needs SMTPUTF8.
const nonAscii = /[^\x00-\x7f]/
// These would end the command early or smuggle another one in after it.
const unsafeInAddress = /[\r\n\0<>]/

class Session implements SmtpSession {
  readonly upstream: string
  extensions: Map<string, string> = new Map()
  isSecure: boolean
  transactions = 0
  private broken = false
  // A transaction that ended before DATA's final reply leaves state on the server: RSET first.
  private needsReset = false
  private readonly metrics: SmtpMetrics.UpstreamMetrics

  constructor(readonly options: SmtpOptions, private readonly channel: Channel) {
    this.upstream = options.name
    this.isSecure = options.tls === "implicit"
    this.metrics = SmtpMetrics.forUpstream(options.name)
  }

  get isOpen() {
    return !this.broken && this.channel.isOpen
  }

  private get tlsOptions(): ConnectionOptions {
    return {
      rejectUnauthorized: this.options.verifyCertificate,
      ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
      ...(this.options.servername !== undefined ? { servername: this.options.servername } : {})
    }
  }

  /** The next reply, within `timeout`; a drop or a timeout breaks the session. */
  private expect(phase: Phase, timeout: Duration.Duration): Effect.Effect<Received, SmtpError> {
    return this.channel.next(Duration.toMillis(timeout)).pipe(
      Effect.mapError((error) =>
        error._tag === "TimedOut"
          ? new SmtpTimeoutError({ upstream: this.upstream, phase, timeoutMillis: Duration.toMillis(timeout) })
          : new SmtpConnectionError({ upstream: this.upstream, phase, reason: "dropped", text: error.text })
      ),
      Effect.tap((reply) => Metric.increment(this.metrics.reply[replyClass(reply.code)]!)),
      Effect.tapError(() => Effect.sync(() => this.broken = true))
    )
  }

  private command(phase: Phase, line: string): Effect.Effect<Received, SmtpError> {
    return Effect.suspend(() => {
      this.channel.write(`${line}\r\n`)
      return this.expect(phase, this.options.timeouts.command)
    })
  }

  private refused(phase: Phase, reply: SmtpReply) {
    return new SmtpReplyError({ upstream: this.upstream, phase, ...plain(reply) })
  }

  private expectCode(phase: Phase, reply: SmtpReply, code: number): Effect.Effect<SmtpReply, SmtpReplyError> {
    return reply.code === code ? Effect.succeed(reply) : Effect.fail(this.refused(phase, reply))
  }

  readonly greet: Effect.Effect<void, SmtpError> = Effect.gen(this, function*() {
    const greeting = yield* this.expect("greeting", this.options.timeouts.greeting)
    yield* this.expectCode("greeting", greeting, 220)
    yield* this.hello
    if (this.options.tls === "starttls" || this.options.tls === "required") {
      if (this.extensions.has("STARTTLS")) {
        yield* this.startTls
      } else if (this.options.tls === "required") {
        return yield* new SmtpUnsupportedError({
          upstream: this.upstream,
          phase: "tls",
          extension: "STARTTLS",
          text: "the server does not offer STARTTLS and this upstream requires TLS"
        })
      }
    }
    if (this.options.auth !== undefined) yield* this.authenticate(this.options.auth)
  })

  // EHLO, or HELO for servers that predate it (RFC 5321 §3.2).
  private readonly hello: Effect.Effect<void, SmtpError> = Effect.gen(this, function*() {
    const ehlo = yield* this.command("ehlo", `EHLO ${this.options.clientName}`)
    if (ehlo.code === 250) {
      this.extensions = parseExtensions(ehlo.lines)
      return
    }
    if (ehlo.code === 421 || ehlo.code < 500) return yield* this.refused("ehlo", ehlo)
    const helo = yield* this.command("ehlo", `HELO ${this.options.clientName}`)
    yield* this.expectCode("ehlo", helo, 250)
    this.extensions = new Map()
  })

  private readonly startTls: Effect.Effect<void, SmtpError> = Effect.gen(this, function*() {
    const reply = yield* this.command("tls", "STARTTLS")
    yield* this.expectCode("tls", reply, 220)
    yield* Effect.tryPromise({
      try: () => this.channel.upgradeToTls(this.tlsOptions),
      catch: (cause) =>
        new SmtpConnectionError({
          upstream: this.upstream,
          phase: "tls",
          reason: "tls",
          text: cause instanceof Error ? cause.message : String(cause),
          cause
        })
    }).pipe(
      Effect.timeoutFail({
        duration: this.options.timeouts.command,
        onTimeout: () =>
          new SmtpTimeoutError({
            upstream: this.upstream,
            phase: "tls",
            timeoutMillis: Duration.toMillis(this.options.timeouts.command)
          })
      }),
      Effect.tapError(() => Effect.sync(() => this.broken = true))
    )
    this.isSecure = true
    // RFC 3207 §4.2: forget what was learned before TLS, and ask again.
    yield* this.hello
  })

  private authenticate(auth: { readonly user: string; readonly pass: string }): Effect.Effect<void, SmtpError> {
    return Effect.gen(this, function*() {
      const mechanisms = (this.extensions.get("AUTH") ?? "").toUpperCase().split(/\s+/)
      const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
      if (mechanisms.includes("PLAIN")) {
        // RFC 4616: authorization identity (empty), authentication identity, password.
        const reply = yield* this.command("auth", `AUTH PLAIN ${b64(`\0${auth.user}\0${auth.pass}`)}`)
        yield* this.expectCode("auth", reply, 235)
      } else if (mechanisms.includes("LOGIN")) {
        yield* this.expectCode("auth", yield* this.command("auth", "AUTH LOGIN"), 334)
        yield* this.expectCode("auth", yield* this.command("auth", b64(auth.user)), 334)
        yield* this.expectCode("auth", yield* this.command("auth", b64(auth.pass)), 235)
      } else {
        return yield* new SmtpUnsupportedError({
          upstream: this.upstream,
          phase: "auth",
          extension: "AUTH",
          text: `the server offers no AUTH PLAIN or LOGIN (it offers: ${mechanisms.join(" ") || "none"})`
        })
      }
    })
  }

  send(envelope: Envelope, content: Uint8Array): Effect.Effect<SendResult, SmtpError> {
    return Effect.gen(this, function*() {
      const addresses: Array<readonly [Phase, string]> = [["mail", envelope.from], ...envelope.to.map((to) => ["rcpt", to] as const)]
      for (const [phase, address] of addresses) {
        if (unsafeInAddress.test(address)) {
          return yield* new SmtpAddressError({ upstream: this.upstream, phase, address })
        }
      }
      const body = DataEncoding.encode(content)
      const mail = `MAIL FROM:<${envelope.from}>${yield* this.mailParameters(envelope, content, body.length)}`
      const rcpts = envelope.to.map((to) => `RCPT TO:<${to}>`)
      const reset = this.needsReset
      this.needsReset = true

      const pipelined = this.extensions.has("PIPELINING")
      if (pipelined) {
        // RFC 2920: RSET, MAIL, every RCPT and DATA go out as one group; the replies come back in order.
        this.channel.write([...(reset ? ["RSET"] : []), mail, ...rcpts, "DATA", ""].join("\r\n"))
      }
      const step = (phase: Phase, line: string) =>
        pipelined ? this.expect(phase, this.options.timeouts.command) : this.command(phase, line)

      if (reset) {
        const reply = yield* step("mail", "RSET")
        yield* this.expectCode("mail", reply, 250)
      }
      const mailReply = yield* step("mail", mail)
      if (classifyReply(mailReply, "mail") !== "delivered") {
        // A server that refuses MAIL with 421 closes the connection without answering the rest; the
        // refusal is still the error to report (a failed drain has already marked the session broken).
        if (pipelined) yield* Effect.ignore(this.drainRefusedGroup(rcpts.length))
        return yield* this.refused("mail", mailReply)
      }

      const results: Array<RecipientResult> = []
      const accepted: Array<string> = []
      for (let i = 0; i < rcpts.length; i++) {
        const reply = yield* step("rcpt", rcpts[i]!)
        const verdict = classifyReply(reply, "rcpt")
        if (verdict === "delivered") accepted.push(envelope.to[i]!)
        else results.push({ address: envelope.to[i]!, verdict, phase: "rcpt", reply: plain(reply) })
      }
      if (accepted.length === 0 && !pipelined) return { recipients: results }

      const dataReply = yield* step("data", "DATA")
      if (dataReply.code !== 354) {
        return { recipients: [...results, ...judge(accepted, "data", dataReply)] }
      }
      // RFC 2920 §3.1: DATA was accepted though every RCPT failed; end the message empty.
      this.channel.write(accepted.length === 0 ? ".\r\n" : body)
      const final = yield* this.expect("data", this.options.timeouts.data)
      this.transactions++
      if (accepted.length === 0) return { recipients: results }
      this.needsReset = false
      return { recipients: [...results, ...judge(accepted, "data", final)] }
    }).pipe(
      // An interrupted transaction leaves replies owed on the wire: the next one would read them as its
      // own (a late 250 to DATA taken for the answer to RSET, and so on), so the session is done.
      Effect.onInterrupt(() => Effect.sync(() => this.broken = true))
    )
  }

  private mailParameters(envelope: Envelope, content: Uint8Array, size: number): Effect.Effect<string, SmtpError> {
    let parameters = ""
    if (this.extensions.has("SIZE")) parameters += ` SIZE=${size}`
    if (this.extensions.has("8BITMIME") && DataEncoding.has8bit(content)) parameters += " BODY=8BITMIME"
    if (nonAscii.test(envelope.from) || envelope.to.some((to) => nonAscii.test(to))) {
      if (!this.extensions.has("SMTPUTF8")) {
        return Effect.fail(
          new SmtpUnsupportedError({
            upstream: this.upstream,
            phase: "mail",
            extension: "SMTPUTF8",
            text: "an address is not ASCII and the server does not offer SMTPUTF8"
          })
        )
      }
      parameters += " SMTPUTF8"
    }
    return Effect.succeed(parameters)
  }

  // The server still answers the rest of a refused pipelined group; read those replies so the next
  // transaction on this session starts in step.
  private drainRefusedGroup(count: number): Effect.Effect<void, SmtpError> {
    return Effect.gen(this, function*() {
      for (let i = 0; i <= count; i++) {
        const reply = yield* this.expect("data", this.options.timeouts.command)
        if (reply.code === 354) {
          this.channel.write(".\r\n")
          yield* this.expect("data", this.options.timeouts.data)
        }
      }
    })
  }

  readonly release: Effect.Effect<void> = Effect.gen(this, function*() {
    if (this.isOpen) {
      yield* this.command("mail", "QUIT").pipe(Effect.ignore)
    }
    yield* Effect.promise(() => this.channel.destroy())
    yield* Metric.increment(this.metrics.connection.closed)
  })
}

const judge = (addresses: ReadonlyArray<string>, phase: "data", reply: SmtpReply): Array<RecipientResult> => {
  const verdict = classifyReply(reply, phase)
  return addresses.map((address) => ({ address, verdict, phase, reply: plain(reply) }))
}

/** EHLO reply lines after the first name the extensions: a keyword and its parameters (RFC 5321 §4.1.1.1). */
const parseExtensions = (lines: ReadonlyArray<string>): Map<string, string> => {
  const extensions = new Map<string, string>()
  for (const line of lines.slice(1)) {
    const [keyword = "", ...parameters] = line.slice(4).trim().split(/\s+/)
    if (keyword !== "") extensions.set(keyword.toUpperCase(), parameters.join(" "))
  }
  return extensions
}

const connectError = (options: SmtpOptions, cause: unknown): SmtpConnectionError => {
  const code = (cause as { code?: string } | undefined)?.code
  const text = cause instanceof Error ? cause.message : String(cause)
  if (code === "ECONNREFUSED") return new SmtpConnectionError({ upstream: options.name, phase: "connect", reason: "refused", text, cause })
  // Certificate checks fail with OpenSSL's codes (DEPTH_ZERO_SELF_SIGNED_CERT, ...), a name mismatch and
  // a broken handshake with Node's ERR_TLS_* and ERR_SSL_*; socket errors are Exxx.
  if (options.tls === "implicit" && code !== undefined && (!code.startsWith("E") || /^ERR_(TLS|SSL)_/.test(code))) {
    return new SmtpConnectionError({ upstream: options.name, phase: "tls", reason: "tls", text, cause })
  }
  return new SmtpConnectionError({ upstream: options.name, phase: "connect", reason: "socket", text, cause })
}

/**
 * Opens a session: connects, reads the greeting, says EHLO, upgrades to TLS and authenticates as the
 * options say. The session lives in the scope; closing the scope sends QUIT (when it is still healthy)
 * and closes the socket.
 */
export const open = (options: SmtpOptions): Effect.Effect<SmtpSession, SmtpError, Scope.Scope> => {
  const metrics = SmtpMetrics.forUpstream(options.name)
  return Effect.acquireRelease(
    // acquireRelease acquires uninterruptibly, and a timeout cannot stop an uninterruptible step: a
    // server that never greets would hold open() forever. Interrupting is safe, onError closes the socket.
    Effect.interruptible(Effect.suspend(() => {
      const channel = new Channel({
        host: options.host,
        port: options.port,
        secure: options.tls === "implicit",
        rejectUnauthorized: options.verifyCertificate,
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
        ...(options.servername !== undefined ? { servername: options.servername } : {})
      })
      const session = new Session(options, channel)
      return Effect.tryPromise({ try: () => channel.connect(), catch: (cause) => connectError(options, cause) }).pipe(
        Effect.timeoutFail({
          duration: options.timeouts.connect,
          onTimeout: () =>
            new SmtpTimeoutError({
              upstream: options.name,
              phase: "connect",
              timeoutMillis: Duration.toMillis(options.timeouts.connect)
            })
        }),
        Effect.zipRight(session.greet),
        Effect.onError(() => Effect.promise(() => channel.destroy())),
        Effect.tapBoth({
          onSuccess: () => Metric.increment(metrics.connection.opened),
          onFailure: () => Metric.increment(metrics.connection.failed)
        }),
        Effect.as(session)
      )
    })),
    (session) => (session as Session).release
  )
}
