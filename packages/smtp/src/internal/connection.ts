import type { Either } from "effect"
import { Either as E } from "effect"
import * as DataEncoding from "../DataEncoding.js"
import type { Phase, SmtpError } from "../SmtpError.js"
import { SmtpConnectionError, SmtpReplyError, SmtpTimeoutError, SmtpUnsupportedError } from "../SmtpError.js"
import type * as SmtpMetrics from "../SmtpMetrics.js"
import type { RecipientResult, SendResult } from "../SmtpSession.js"
import type { SmtpReply } from "../SmtpReply.js"
import { classifyReply, parse, parseLine } from "../SmtpReply.js"
import type { Delivery } from "./envelope.js"
import { checkAddresses, needsUtf8 } from "./envelope.js"
import type { Established } from "./handshake.js"
import { printable } from "./handshake.js"
import type { Handle, TimerClock, Timers } from "./timers.js"
import { maxDelay } from "./timers.js"
import type { WireEvents } from "./wire.js"
import type { Wire } from "./wire.js"

/** What a connection does, fixed when it is made. Times in milliseconds; Infinity: no limit. */
export interface Settings {
  readonly upstream: string
  readonly commandMillis: number
  readonly dataMillis: number
  /** How long the connection may sit idle before it says QUIT. */
  readonly idleMillis: number
  /** Transactions it starts before it stops pulling and closes. */
  readonly maxTransactions: number
  /** Stop taking work after a refused RSET or MAIL (a pool's rule: that session is not reused). */
  readonly retireOnRefusedMail: boolean
}

/** Whoever gives a connection its work and hears how it went: a pool, or one session's queue. */
export interface Owner<D extends Delivery> {
  /** The next transaction to send now, or undefined. */
  readonly next: () => D | undefined
  /** One transaction's end, exactly once per delivery taken from `next`. */
  readonly done: (delivery: D, outcome: Either.Either<SendResult, SmtpError>, reused: boolean) => void
  /** The socket is gone; after every `done` of its transactions. */
  readonly closed: (connection: Connection<D>) => void
}

/**
 * Where a transaction is: the reply it is owed next. RFC 5321 §3.3: RSET (when the last transaction
 * did not end with the final reply to a body), MAIL, one RCPT per recipient, DATA; "body" once the
 * message and its end have been written and its final reply is owed (§4.1.1.4).
 */
type Stage = "rset" | "mail" | "rcpt" | "data" | "body"

const phaseOf: Record<Stage, Phase> = { rset: "mail", mail: "mail", rcpt: "rcpt", data: "data", body: "data" }

const CRLF = "\r\n"
// RFC 2920 §3.1: DATA answered 354 although every RCPT failed; an empty message ends it.
const endOfEmptyData = ".\r\n"

class Transaction<D extends Delivery> {
  stage: Stage
  /** RCPT replies read so far. */
  rcpt = 0
  readonly accepted: Array<string> = []
  readonly refused: Array<RecipientResult> = []
  /** The owner has been told (a refused MAIL): the replies still owed are read and dropped. */
  settled = false

  constructor(
    readonly delivery: D,
    readonly reused: boolean,
    readonly reset: boolean,
    readonly mail: string,
    /** What goes after DATA's 354, then `end` (see DataEncoding.endOf): the content itself when it can. */
    public body: Uint8Array | undefined,
    readonly end: string
  ) {
    this.stage = reset ? "rset" : "mail"
  }
}

const toReply = (line: string, more: ReadonlyArray<string> | undefined): SmtpReply =>
  more === undefined ? parseLine(line) : parse([...more, line])

/**
 * One SMTP connection after its set-up, as a state machine in plain JavaScript (the model is undici's
 * HTTP/1 client): the protocol state is in the fields below, replies arrive from the Wire's parser as
 * the bytes do, and a transaction ends in `owner.done` — no Effect, promise or timer per reply.
 *
 * With PIPELINING (RFC 2920) a transaction's commands leave as one group, and the connection pulls
 * its next transaction as soon as DATA is answered 354: the body, its end and the next group leave
 * in one write (§3), so at most one transaction awaits its final reply (`first`, stage "body") while
 * at most one more is at its envelope (`second`). Replies come back in order (§3), so each belongs to
 * `first`. Without PIPELINING it is lockstep: one command, one reply (RFC 5321 §4.1.1).
 *
 * One timer per connection: the deadline for the next owed reply (command timeout, or the data
 * timeout while a body's final reply is owed, RFC 5321 §4.5.3.2.6) or for idleness, moved on every
 * reply; the timer is re-armed only when a deadline comes sooner than the armed one, so a busy
 * connection arms it about once per command timeout, not once per reply.
 */
export class Connection<D extends Delivery> implements WireEvents {
  state: "open" | "quitting" | "closed" = "open"
  /** Takes no more work, and says QUIT when the last transaction is done. */
  retiring = false
  /** Transactions started here; the ones after the first are reuses of the session. */
  started = 0
  /** Transactions whose body got its final reply. */
  completed = 0
  first: Transaction<D> | undefined = undefined
  second: Transaction<D> | undefined = undefined
  readonly extensions: ReadonlyMap<string, string>
  readonly isSecure: boolean
  private readonly wire: Wire
  private readonly pipelining: boolean
  private readonly size: boolean
  private readonly eightBitMime: boolean
  private readonly smtpUtf8: boolean
  /** The next transaction starts with RSET: the last one left an envelope on the server. */
  private needsReset = false
  private pulling = false
  private closeCounted = false
  /** The clock the deadline and the armed timer are on (see Timers). */
  private clock: TimerClock
  private deadline = Infinity
  private due = Infinity
  private timer: Handle | undefined = undefined

  constructor(
    established: Established,
    private readonly settings: Settings,
    private readonly owner: Owner<D>,
    private readonly metrics: SmtpMetrics.UpstreamMetrics,
    private readonly timers: Timers
  ) {
    this.wire = established.wire
    this.extensions = established.extensions
    this.isSecure = established.isSecure
    this.pipelining = this.extensions.has("PIPELINING")
    this.size = this.extensions.has("SIZE")
    this.eightBitMime = this.extensions.has("8BITMIME")
    this.smtpUtf8 = this.extensions.has("SMTPUTF8")
    this.clock = timers.reply
    this.wire.events = this
    if (this.settings.maxTransactions <= 0) this.retiring = true
  }

  get isOpen(): boolean {
    return this.state === "open"
  }

  /** Whether it may start another transaction now (RFC 2920: behind one that awaits its final reply). */
  get canTake(): boolean {
    if (this.state !== "open" || this.retiring || this.pulling) return false
    const first = this.first
    return first === undefined || (this.pipelining && this.second === undefined && first.stage === "body")
  }

  /**
   * Starts with a delivery already taken from the owner (the one a new connection was opened for),
   * or, with none (a probe's connection), pulls what there is or idles.
   */
  begin(delivery: D | undefined): void {
    if (delivery === undefined || !this.start(delivery)) this.whenDone()
  }

  /**
   * Pulls from the owner until one transaction started or the owner has none (false then).
   * Deliveries that end at once (an unsafe address) are done and the next is pulled.
   */
  take(): boolean {
    this.pulling = true
    try {
      for (;;) {
        const delivery = this.owner.next()
        if (delivery === undefined) return false
        if (this.start(delivery) || this.state !== "open") return true
      }
    } finally {
      this.pulling = false
    }
  }

  /** Stops taking work; says QUIT now when idle, else after the transactions in flight. */
  retire(): void {
    this.retiring = true
    if (this.state === "open" && this.first === undefined) this.quit()
  }

  /** Closes at once; every transaction in flight ends with a dropped connection. */
  abort(text: string): void {
    this.fail((tx) => new SmtpConnectionError({ upstream: this.settings.upstream, phase: phaseOf[tx.stage], reason: "dropped", text }))
  }

  /** The delivery is one of this connection's transactions in flight. */
  carries(delivery: D): boolean {
    return this.first?.delivery === delivery || this.second?.delivery === delivery
  }

  private start(delivery: D): boolean {
    const upstream = this.settings.upstream
    const reused = this.started > 0
    const invalid = checkAddresses(upstream, delivery)
    if (invalid !== undefined) {
      this.owner.done(delivery, E.left(invalid), reused)
      return false
    }
    let mail = `MAIL FROM:<${delivery.from}>`
    const utf8 = needsUtf8(delivery)
    if (utf8 && !this.smtpUtf8) {
      const error = new SmtpUnsupportedError({
        upstream,
        phase: "mail",
        extension: "SMTPUTF8",
        text: "an address is not ASCII and the server does not offer SMTPUTF8"
      })
      this.owner.done(delivery, E.left(error), reused)
      return false
    }
    // RFC 5321 §4.5.2: content already in CRLF without dot lines goes as it is, followed by its end;
    // other content is encoded (line ends made CRLF, dots stuffed) with its end.
    const content = delivery.content
    const end = DataEncoding.endOf(content)
    const body = end === undefined ? DataEncoding.encode(content) : content
    // RFC 1870 SIZE, RFC 6152 BODY=8BITMIME for 8-bit content only, RFC 6531 SMTPUTF8.
    if (this.size) mail += ` SIZE=${body.length + (end === undefined ? 0 : end.length)}`
    if (this.eightBitMime && DataEncoding.has8bit(delivery.content)) mail += " BODY=8BITMIME"
    if (utf8) mail += " SMTPUTF8"

    this.started++
    if (reused) this.metrics.connection.reused.inc()
    if (this.started >= this.settings.maxTransactions) this.retiring = true
    const tx = new Transaction(delivery, reused, this.needsReset, mail, body, end ?? "")
    // Until this one's body is on its way, a transaction that ends early leaves its envelope behind.
    this.needsReset = true
    if (this.first === undefined) {
      this.first = tx
      this.expectReply(this.settings.commandMillis)
    } else {
      this.second = tx
    }
    if (this.pipelining) {
      // RFC 2920 §3: RSET, MAIL, every RCPT and DATA as one group; DATA is last in it.
      let group = tx.reset ? `RSET${CRLF}${mail}${CRLF}` : `${mail}${CRLF}`
      for (const to of delivery.to) group += `RCPT TO:<${to}>${CRLF}`
      this.wire.write(`${group}DATA${CRLF}`)
    } else {
      this.wire.write(tx.reset ? `RSET${CRLF}` : `${mail}${CRLF}`)
    }
    return true
  }

  onReply(code: number, line: string, more: ReadonlyArray<string> | undefined): void {
    if (this.state !== "open") {
      // RFC 5321 §4.1.1.10: QUIT's answer (221) ends the session; the socket need not wait for the
      // server to close its side. Anything after we closed is dropped.
      if (this.state === "quitting") this.closeNow()
      return
    }
    const tx = this.first
    if (tx === undefined || code === 0) {
      // RFC 5321 §3.8: a server may say 421 and close at any time. Any other reply nobody asked for,
      // or a line that is no reply, means the two sides no longer agree on which reply answers which
      // command: nothing more read here can be trusted.
      const text = tx === undefined ? `a reply nobody asked for: ${printable(line)}` : `not an SMTP reply: ${printable(line)}`
      if (tx === undefined && code === 421) return this.closeNow()
      return this.fail((t) => new SmtpConnectionError({ upstream: this.settings.upstream, phase: phaseOf[t.stage], reason: "protocol", text }))
    }
    switch (tx.stage) {
      case "rset":
        return this.onRset(tx, code, line, more)
      case "mail":
        return this.onMail(tx, code, line, more)
      case "rcpt":
        return this.onRcpt(tx, code, line, more)
      case "data":
        return this.onData(tx, code, line, more)
      case "body":
        return this.onBody(tx, code, line, more)
    }
  }

  private onRset(tx: Transaction<D>, code: number, line: string, more: ReadonlyArray<string> | undefined): void {
    this.expectReply(this.settings.commandMillis)
    tx.stage = "mail"
    if (code === 250) {
      if (!this.pipelining) this.wire.write(`${tx.mail}${CRLF}`)
      return
    }
    this.refusedMail(tx, code, line, more)
  }

  private onMail(tx: Transaction<D>, code: number, line: string, more: ReadonlyArray<string> | undefined): void {
    this.expectReply(this.settings.commandMillis)
    const to = tx.delivery.to
    tx.stage = to.length > 0 ? "rcpt" : "data"
    if (tx.settled || code < 400) {
      if (this.pipelining) return
      if (to.length > 0) this.wire.write(`RCPT TO:<${to[0]}>${CRLF}`)
      else this.lockstepData(tx)
      return
    }
    this.refusedMail(tx, code, line, more)
  }

  /**
   * RSET or MAIL refused: the transaction ends with the refusal. Pipelined, the rest of its group is
   * still answered (RFC 2920 §3.1): it stays first, settled, until those replies have been read.
   */
  private refusedMail(tx: Transaction<D>, code: number, line: string, more: ReadonlyArray<string> | undefined): void {
    const error = new SmtpReplyError({ upstream: this.settings.upstream, phase: "mail", ...toReply(line, more), code })
    tx.settled = true
    if (this.settings.retireOnRefusedMail) this.retiring = true
    if (!this.pipelining) this.advance()
    this.owner.done(tx.delivery, E.left(error), tx.reused)
    if (!this.pipelining) this.whenDone()
  }

  private onRcpt(tx: Transaction<D>, code: number, line: string, more: ReadonlyArray<string> | undefined): void {
    this.expectReply(this.settings.commandMillis)
    const to = tx.delivery.to
    const address = to[tx.rcpt++]!
    if (!tx.settled) {
      if (code < 400) {
        tx.accepted.push(address)
      } else {
        const reply = toReply(line, more)
        const verdict = classifyReply(reply, "rcpt")
        if (verdict === "delivered") tx.accepted.push(address)
        else tx.refused.push({ address, verdict, phase: "rcpt", reply })
      }
    }
    if (tx.rcpt < to.length) {
      if (!this.pipelining) this.wire.write(`RCPT TO:<${to[tx.rcpt]}>${CRLF}`)
      return
    }
    tx.stage = "data"
    if (!this.pipelining) this.lockstepData(tx)
  }

  /**
   * Lockstep, after the last RCPT: DATA, or no DATA at all when no recipient was accepted (the
   * envelope then stays on the server, so the next transaction starts with RSET).
   */
  private lockstepData(tx: Transaction<D>): void {
    if (tx.accepted.length > 0) return this.wire.write(`DATA${CRLF}`)
    this.advance()
    this.owner.done(tx.delivery, E.right({ recipients: tx.refused }), tx.reused)
    this.whenDone()
  }

  private onData(tx: Transaction<D>, code: number, line: string, more: ReadonlyArray<string> | undefined): void {
    if (code === 354) {
      if (tx.settled) {
        // DATA accepted after MAIL was refused: a broken server, and whatever we send now could be
        // delivered as a message. Only closing the connection ends the transaction without one.
        return this.abort(`DATA was answered 354 after MAIL was refused: ${printable(line)}`)
      }
      // RFC 5321 §4.5.2 dot-stuffed body and its end; RFC 2920 §3.1 an empty message when no RCPT
      // was accepted. The transaction ends with the final reply to this, whatever it is, so the
      // next one needs no RSET — except after an empty message, which ends nothing we sent.
      tx.stage = "body"
      if (tx.accepted.length > 0) {
        this.wire.write(tx.body!)
        if (tx.end.length > 0) this.wire.write(tx.end)
      } else {
        this.wire.write(endOfEmptyData)
      }
      tx.body = undefined
      this.needsReset = tx.accepted.length === 0
      this.expectReply(this.settings.dataMillis)
      // RFC 2920 §3: the next transaction's group rides in the same write as this body's end.
      if (this.pipelining && this.canTake) this.take()
      return
    }
    // DATA refused: the transaction is over, its envelope perhaps still on the server (RSET next).
    this.advance()
    if (!tx.settled) {
      const reply = toReply(line, more)
      this.owner.done(tx.delivery, E.right({ recipients: [...tx.refused, ...judge(tx.accepted, reply)] }), tx.reused)
    }
    this.whenDone()
  }

  private onBody(tx: Transaction<D>, _code: number, line: string, more: ReadonlyArray<string> | undefined): void {
    this.advance()
    this.completed++
    const recipients = tx.accepted.length === 0
      ? tx.refused
      : tx.refused.length === 0
      ? judge(tx.accepted, toReply(line, more))
      : [...tx.refused, ...judge(tx.accepted, toReply(line, more))]
    this.owner.done(tx.delivery, E.right({ recipients }), tx.reused)
    this.whenDone()
  }

  /** The first transaction is over: the second (if any) is owed the next reply. */
  private advance(): void {
    const next = this.second
    this.first = next
    this.second = undefined
    if (next !== undefined) this.expectReply(next.stage === "body" ? this.settings.dataMillis : this.settings.commandMillis)
  }

  /** After a transaction ended: the next one, QUIT when retiring, or idle. */
  private whenDone(): void {
    if (this.state !== "open" || this.first !== undefined) return
    if (this.retiring) return this.quit()
    if (this.canTake) this.take()
    if (this.state === "open" && this.first === undefined) this.expectIdle()
  }

  /** RFC 5321 §4.1.1.10: QUIT, then the server closes; we half-close after it and wait, bounded. */
  private quit(): void {
    this.state = "quitting"
    this.countClosed()
    this.wire.write(`QUIT${CRLF}`)
    this.wire.end()
    this.expectReply(this.settings.commandMillis)
  }

  /** The server said 421 while nothing was owed (RFC 5321 §3.8): it is closing; so do we. */
  private closeNow(): void {
    this.state = "closed"
    this.clearTimer()
    this.countClosed()
    this.wire.destroy()
  }

  /**
   * The connection is done for: every transaction in flight ends with `error(tx)`, the socket is
   * destroyed, and nothing else on other connections is touched.
   */
  private fail(error: (tx: Transaction<D>) => SmtpError): void {
    if (this.state === "closed") return
    const wasOpen = this.state === "open"
    const inFlight = [this.first, this.second]
    this.first = this.second = undefined
    this.state = "closed"
    this.clearTimer()
    this.countClosed()
    this.wire.destroy()
    if (!wasOpen) return
    for (const tx of inFlight) {
      if (tx !== undefined && !tx.settled) this.owner.done(tx.delivery, E.left(error(tx)), tx.reused)
    }
  }

  onClosed(text: string, cause: unknown): void {
    if (this.state !== "closed") {
      this.fail((tx) =>
        new SmtpConnectionError({
          upstream: this.settings.upstream,
          phase: phaseOf[tx.stage],
          reason: "dropped",
          text,
          ...(cause !== undefined ? { cause } : {})
        })
      )
    }
    this.owner.closed(this)
  }

  private countClosed(): void {
    if (this.closeCounted) return
    this.closeCounted = true
    this.metrics.connection.closed.inc()
  }

  // The one timer. A reply is owed within `millis` from now, on the real clock.
  private expectReply(millis: number): void {
    this.expect(this.timers.reply, millis)
  }

  // Idle: QUIT after idleTimeout without work, on the Effect clock.
  private expectIdle(): void {
    this.expect(this.timers.idle, this.settings.idleMillis)
  }

  private expect(clock: TimerClock, millis: number): void {
    if (clock !== this.clock) {
      // Only on a test clock are idle and reply deadlines on different clocks.
      this.clearTimer()
      this.clock = clock
    }
    if (millis === Infinity) {
      this.deadline = Infinity
      return
    }
    const deadline = clock.now() + millis
    this.deadline = deadline
    if (deadline < this.due) this.arm(millis)
  }

  private arm(millis: number): void {
    if (this.timer !== undefined) this.clock.clear(this.timer)
    const delay = Math.min(Math.max(millis, 1), maxDelay)
    this.due = this.clock.now() + delay
    this.timer = this.clock.set(delay, this.onTimer)
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clear(this.timer)
    this.timer = undefined
    this.due = Infinity
    this.deadline = Infinity
  }

  private readonly onTimer = (): void => {
    this.timer = undefined
    this.due = Infinity
    if (this.state === "closed" || this.deadline === Infinity) return
    const left = this.deadline - this.clock.now()
    if (left > 0) return this.arm(left)
    if (this.state === "quitting") return this.closeNow()
    const first = this.first
    if (first === undefined) return this.quit() // idle for idleTimeout
    // RFC 5321 §4.5.3.2: no reply in time; the head's own timeout, and the same for the one behind it.
    this.fail((tx) =>
      new SmtpTimeoutError({
        upstream: this.settings.upstream,
        phase: phaseOf[tx.stage],
        timeoutMillis: tx.stage === "body" ? this.settings.dataMillis : this.settings.commandMillis
      })
    )
  }
}

const judge = (addresses: ReadonlyArray<string>, reply: SmtpReply): Array<RecipientResult> => {
  const verdict = classifyReply(reply, "data")
  return addresses.map((address) => ({ address, verdict, phase: "data", reply }))
}
