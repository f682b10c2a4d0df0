import type { Scope } from "effect"
import { Duration, Effect, Either } from "effect"
import type { Owner } from "./internal/connection.js"
import { Connection } from "./internal/connection.js"
import type { Delivery } from "./internal/envelope.js"
import * as Handshake from "./internal/handshake.js"
import type { Timers } from "./internal/timers.js"
import * as Timer from "./internal/timers.js"
import type { SmtpError } from "./SmtpError.js"
import { SmtpConnectionError } from "./SmtpError.js"
import * as SmtpMetrics from "./SmtpMetrics.js"
import type { SmtpOptions } from "./SmtpOptions.js"
import type { SmtpReply, Verdict } from "./SmtpReply.js"

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
  /** Transactions completed on this session (a body sent and its final reply read). */
  readonly transactions: number
  /**
   * One mail transaction. Fails only when the session itself failed (dropped, timed out, MAIL refused);
   * recipients refused at RCPT or DATA are results, one per recipient. Sends made before the last one
   * ended are queued, and pipelined as the pool does. Interrupting a send that is on the wire closes
   * the session: its replies are still owed, and the next transaction would read them as its own.
   */
  readonly send: (envelope: Envelope, content: Uint8Array) => Effect.Effect<SendResult, SmtpError>
}

interface Pending extends Delivery {
  readonly resume: (outcome: Effect.Effect<SendResult, SmtpError>) => void
  cancelled: boolean
}

/** One connection with a queue of its own as its source: the SmtpSession face of a Connection. */
class Session implements SmtpSession, Owner<Pending> {
  readonly upstream: string
  private readonly connection: Connection<Pending>
  private readonly queue: Array<Pending> = []
  private socketClosed = false
  private readonly whenClosed: Array<() => void> = []

  constructor(options: SmtpOptions, established: Handshake.Established, metrics: SmtpMetrics.UpstreamMetrics, timers: Timers) {
    this.upstream = options.name
    this.connection = new Connection(established, {
      upstream: options.name,
      commandMillis: Duration.toMillis(options.timeouts.command),
      dataMillis: Duration.toMillis(options.timeouts.data),
      idleMillis: Infinity,
      maxTransactions: Infinity,
      retireOnRefusedMail: false
    }, this, metrics, timers)
  }

  get extensions() {
    return this.connection.extensions
  }
  get isSecure() {
    return this.connection.isSecure
  }
  get isOpen() {
    return this.connection.isOpen
  }
  get transactions() {
    return this.connection.completed
  }

  readonly next = (): Pending | undefined => this.queue.shift()

  readonly done = (pending: Pending, outcome: Either.Either<SendResult, SmtpError>): void => {
    if (!pending.cancelled) pending.resume(outcome)
  }

  readonly closed = (): void => {
    this.socketClosed = true
    for (const pending of this.queue.splice(0)) pending.resume(Either.left(this.dropped()))
    for (const resume of this.whenClosed.splice(0)) resume()
  }

  private dropped() {
    return new SmtpConnectionError({ upstream: this.upstream, phase: "mail", reason: "dropped", text: "the session is closed" })
  }

  send(envelope: Envelope, content: Uint8Array): Effect.Effect<SendResult, SmtpError> {
    return Effect.async<SendResult, SmtpError>((resume) => {
      if (!this.connection.isOpen) return resume(Either.left(this.dropped()))
      const pending: Pending = { from: envelope.from, to: envelope.to, content, cancelled: false, resume }
      this.queue.push(pending)
      if (this.connection.canTake) this.connection.take()
      return Effect.sync(() => {
        pending.cancelled = true
        const queued = this.queue.indexOf(pending)
        if (queued >= 0) this.queue.splice(queued, 1)
        else if (this.connection.carries(pending)) this.connection.abort("closed by the client: a transaction was interrupted")
      })
    })
  }

  /** QUIT after what is in flight (or at once when the session is broken), then the socket closes. */
  readonly close: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.socketClosed) return resume(Effect.void)
    this.whenClosed.push(() => resume(Effect.void))
    this.connection.retire()
  })
}

/**
 * Opens a session: connects, reads the greeting, says EHLO, upgrades to TLS and authenticates as the
 * options say. The session lives in the scope; closing the scope sends QUIT (when it is still healthy)
 * and closes the socket.
 */
export const open = (options: SmtpOptions): Effect.Effect<SmtpSession, SmtpError, Scope.Scope> =>
  Effect.acquireRelease(
    // acquireRelease acquires uninterruptibly, and a timeout cannot stop an uninterruptible step: a
    // server that never greets would hold open() forever. Interrupting is safe: the set-up destroys
    // its socket when it does not complete.
    Effect.interruptible(Effect.gen(function*() {
      const metrics = SmtpMetrics.forUpstream(options.name)
      const timers = yield* Timer.current
      const established = yield* Handshake.open(options, metrics)
      return new Session(options, established, metrics, timers)
    })),
    (session) => session.close
  )
