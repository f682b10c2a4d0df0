import * as Net from "node:net"
import * as Tls from "node:tls"
import type { ConnectionOptions } from "node:tls"
import { Duration, Effect } from "effect"
import type { Phase, SmtpError } from "../SmtpError.js"
import { SmtpConnectionError, SmtpReplyError, SmtpTimeoutError, SmtpUnsupportedError } from "../SmtpError.js"
import type * as SmtpMetrics from "../SmtpMetrics.js"
import type { SmtpOptions } from "../SmtpOptions.js"
import type { SmtpReply } from "../SmtpReply.js"
import { parse } from "../SmtpReply.js"
import { maxDelay } from "./timers.js"
import type { WireEvents } from "./wire.js"
import { Wire } from "./wire.js"

/** A session that is connected, greeted, and as configured secured and authenticated. */
export interface Established {
  readonly wire: Wire
  /** EHLO keywords (upper case) and their parameters. */
  readonly extensions: ReadonlyMap<string, string>
  readonly isSecure: boolean
}

/** A reply with the lines it came in, which EHLO's extension list needs. */
interface Received extends SmtpReply {
  readonly lines: ReadonlyArray<string>
}

type Next = { readonly _tag: "Reply"; readonly reply: Received } | { readonly _tag: "Garbage"; readonly line: string } | {
  readonly _tag: "Closed"
  readonly text: string
}

/**
 * Opens a session: connects, reads the greeting, says EHLO (or HELO), upgrades to TLS and
 * authenticates as the options say. This runs once per connection, so it is Effect code that reads
 * top-down; the transactions that follow run in the Connection state machine on the same Wire.
 * A failure or an interruption destroys the socket.
 */
export const open = (options: SmtpOptions, metrics: SmtpMetrics.UpstreamMetrics): Effect.Effect<Established, SmtpError> =>
  Effect.suspend(() => {
    const setup = new Setup(options, metrics)
    return setup.connect().pipe(
      Effect.zipRight(setup.greet),
      Effect.onError(() => Effect.sync(() => setup.wire?.destroy())),
      Effect.tapBoth({
        onSuccess: () => Effect.sync(() => metrics.connection.opened.inc()),
        onFailure: () => Effect.sync(() => metrics.connection.failed.inc())
      }),
      Effect.map(() => ({ wire: setup.wire!, extensions: setup.extensions, isSecure: setup.isSecure }))
    )
  })

class Setup implements WireEvents {
  readonly upstream: string
  wire: Wire | undefined = undefined
  extensions: Map<string, string> = new Map()
  isSecure: boolean
  private readonly replies: Array<Next> = []
  private waiter: ((next: Next) => void) | undefined = undefined
  private closed: Next | undefined = undefined

  constructor(readonly options: SmtpOptions, private readonly metrics: SmtpMetrics.UpstreamMetrics) {
    this.upstream = options.name
    this.isSecure = options.tls === "implicit"
  }

  onReply(code: number, line: string, more: ReadonlyArray<string> | undefined): void {
    const lines = more === undefined ? [line] : [...more, line]
    this.push(code === 0 ? { _tag: "Garbage", line } : { _tag: "Reply", reply: { ...parse(lines), code, lines } })
  }

  onClosed(text: string): void {
    this.closed ??= { _tag: "Closed", text }
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.(this.closed)
  }

  private push(next: Next): void {
    const waiter = this.waiter
    if (waiter === undefined) return void this.replies.push(next)
    this.waiter = undefined
    waiter(next)
  }

  private get tlsOptions(): ConnectionOptions {
    return {
      host: this.options.host,
      rejectUnauthorized: this.options.verifyCertificate,
      ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
      ...(this.options.servername !== undefined ? { servername: this.options.servername } : {})
    }
  }

  connect(): Effect.Effect<void, SmtpError> {
    const timeout = Duration.toMillis(this.options.timeouts.connect)
    const timedOut = () => new SmtpTimeoutError({ upstream: this.upstream, phase: "connect", timeoutMillis: timeout })
    return inRealTime<void>(timeout, timedOut, (resume) => {
      const implicit = this.options.tls === "implicit"
      const socket = implicit
        ? Tls.connect({ ...this.tlsOptions, port: this.options.port })
        : Net.connect({ host: this.options.host, port: this.options.port })
      const onError = (error: Error) => {
        socket.destroy()
        resume(Effect.fail(connectError(this.options, error)))
      }
      socket.once("error", onError)
      socket.once(implicit ? "secureConnect" : "connect", () => {
        socket.removeListener("error", onError)
        // Nagle's algorithm holds a write back while an earlier one is unacknowledged, and the server
        // delays its ACK: a stall of up to 40 ms on exchanges this short.
        socket.setNoDelay(true)
        this.wire = new Wire(socket, this, this.metrics.countReply)
        resume(Effect.void)
      })
      return () => socket.destroy()
    })
  }

  /** The next reply within `timeout`; a drop, a timeout or a line that is no reply fails the set-up. */
  private expect(phase: Phase, timeout: Duration.Duration): Effect.Effect<Received, SmtpError> {
    const millis = Duration.toMillis(timeout)
    return inRealTime<Next>(millis, () => new SmtpTimeoutError({ upstream: this.upstream, phase, timeoutMillis: millis }), (resume) => {
      const queued = this.replies.shift() ?? this.closed
      if (queued !== undefined) resume(Effect.succeed(queued))
      else this.waiter = (next) => resume(Effect.succeed(next))
      return () => {
        this.waiter = undefined
      }
    }).pipe(
      Effect.flatMap((next) => {
        switch (next._tag) {
          case "Reply":
            return Effect.succeed(next.reply)
          case "Closed":
            return Effect.fail(new SmtpConnectionError({ upstream: this.upstream, phase, reason: "dropped", text: next.text }))
          case "Garbage":
            return Effect.fail(
              new SmtpConnectionError({ upstream: this.upstream, phase, reason: "protocol", text: `not an SMTP reply: ${printable(next.line)}` })
            )
        }
      })
    )
  }

  private command(phase: Phase, line: string): Effect.Effect<Received, SmtpError> {
    return Effect.suspend(() => {
      this.wire!.write(`${line}\r\n`)
      return this.expect(phase, this.options.timeouts.command)
    })
  }

  private refused(phase: Phase, reply: SmtpReply) {
    return new SmtpReplyError({ upstream: this.upstream, phase, code: reply.code, enhanced: reply.enhanced, text: reply.text })
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
    yield* this.upgrade
    this.isSecure = true
    // RFC 3207 §4.2: forget what was learned before TLS, and ask again.
    yield* this.hello
  })

  /** RFC 3207 §4: the TLS handshake on the same connection, after the server's 220 to STARTTLS. */
  private get upgrade(): Effect.Effect<void, SmtpError> {
    const timeout = Duration.toMillis(this.options.timeouts.command)
    const timedOut = () => new SmtpTimeoutError({ upstream: this.upstream, phase: "tls", timeoutMillis: timeout })
    return inRealTime<void>(timeout, timedOut, (resume) => {
      const wire = this.wire!
      const secure = Tls.connect({ ...this.tlsOptions, socket: wire.detach() })
      wire.attach(secure)
      const onError = (cause: Error) =>
        resume(Effect.fail(new SmtpConnectionError({ upstream: this.upstream, phase: "tls", reason: "tls", text: cause.message, cause })))
      secure.once("error", onError)
      secure.once("secureConnect", () => {
        secure.removeListener("error", onError)
        resume(Effect.void)
      })
      // A set-up that fails destroys the wire, and with it this socket.
      return () => {}
    })
  }

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
}

/**
 * An asynchronous step with a limit in real time: the server answers in real time, so its replies are
 * waited for on Node's clock whatever Effect Clock the caller runs on (see Timers). `register` starts
 * the step, calls `resume` once, and returns its clean-up for a timeout or an interruption.
 */
const inRealTime = <A>(
  millis: number,
  onTimeout: () => SmtpError,
  register: (resume: (effect: Effect.Effect<A, SmtpError>) => void) => () => void
): Effect.Effect<A, SmtpError> =>
  Effect.async<A, SmtpError>((resume) => {
    let settled = false
    let timer: NodeJS.Timeout | undefined
    const finish = (effect: Effect.Effect<A, SmtpError>) => {
      if (settled) return
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      resume(effect)
    }
    const cleanUp = register(finish)
    if (!settled && millis !== Infinity) {
      timer = setTimeout(() => {
        cleanUp()
        finish(Effect.fail(onTimeout()))
      }, Math.min(millis, maxDelay))
    }
    return Effect.sync(() => {
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      cleanUp()
    })
  })

/** A line from the server as it may be shown in an error: controls escaped, at most 100 characters. */
export const printable = (line: string): string => JSON.stringify(line.length > 100 ? `${line.slice(0, 100)}…` : line)

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
