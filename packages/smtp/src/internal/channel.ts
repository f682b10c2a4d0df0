import type { EventEmitter } from "node:events"
import type { Socket } from "node:net"
import type { ConnectionOptions, TLSSocket } from "node:tls"
import { SMTPClient } from "smtp-client"
import { Effect } from "effect"
import type { SmtpReply } from "../SmtpReply.js"
import { parse } from "../SmtpReply.js"

/** The part of smtp-client (and the smtp-channel it extends) that the transport uses. */
interface Client extends EventEmitter {
  /** The connected socket (the TLS one after STARTTLS); null before connect and after close. */
  readonly _socket: Socket | TLSSocket | null
  connect(options: { timeout?: number }): Promise<string>
  negotiateTLS(options: ConnectionOptions & { timeout?: number }): Promise<void>
  close(options?: { timeout?: number }): Promise<void>
}

export type Closed = { readonly _tag: "Closed"; readonly text: string }
export type TimedOut = { readonly _tag: "TimedOut" }
const timedOut: TimedOut = { _tag: "TimedOut" }

/** A reply with the lines it came in, which EHLO's extension list needs. */
export interface Received extends SmtpReply {
  readonly lines: ReadonlyArray<string>
}

/**
 * One SMTP connection: smtp-client connects, upgrades to TLS and splits the server's bytes into
 * lines (commands go straight to its socket); this class gathers the lines into replies and hands
 * them out in order, so several pipelined commands (RFC 2920) can be answered one after the other.
 */
export class Channel {
  private readonly client: Client
  private lines: Array<string> = []
  private readonly replies: Array<Received> = []
  private waiter: ((result: Received | Closed) => void) | undefined
  private closedBy: Closed | undefined

  constructor(options: ConnectionOptions & { readonly host: string; readonly port: number; readonly secure: boolean }) {
    this.client = new (SMTPClient as unknown as new(options: object) => Client)({ ...options, timeout: 0 })
    this.client.on("reply", (line: string) => this.onLine(line))
    this.client.on("close", () => this.onClosed("connection closed by the server"))
    this.client.on("error", (error: Error) => this.onClosed(error.message))
  }

  get isOpen(): boolean {
    return this.closedBy === undefined
  }

  /** Resolves once the socket (and, for implicit TLS, the handshake) is up; the greeting is the first reply. */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.once("connect", () => {
        // Nagle's algorithm holds a write back while an earlier one is unacknowledged, and the
        // server delays its ACK: a stall of up to 40 ms per message on exchanges this short.
        this.client._socket?.setNoDelay(true)
        resolve()
      })
      // The promise settles on the greeting, which is read as a reply instead; it rejects before
      // "connect" only when the socket could not be made.
      this.client.connect({ timeout: 0 }).catch((error: Error) => {
        this.onClosed(error.message)
        reject(error)
      })
    })
  }

  /**
   * Straight to the socket: smtp-client's own write wraps each call in a stream, a promise, a timer
   * and three listeners, which cost more than the write itself at thousands of messages a second;
   * replies are read through "reply" events anyway. A write on a closed socket is dropped: the
   * reply it would have had is answered with Closed.
   */
  write(data: string | Buffer): void {
    this.client._socket?.write(data)
  }

  /**
   * The next complete reply, in the order they arrive, or TimedOut when none comes within
   * `timeoutMillis`. The timer is a plain one, not Effect.timeout: that forks a fiber per reply,
   * four per message, which showed as a third of the transport's CPU time.
   */
  next(timeoutMillis: number): Effect.Effect<Received, Closed | TimedOut> {
    return Effect.async<Received, Closed | TimedOut>((resume) => {
      const queued = this.replies.shift()
      if (queued !== undefined) return resume(Effect.succeed(queued))
      if (this.closedBy !== undefined) return resume(Effect.fail(this.closedBy))
      const timer = setTimeout(() => {
        this.waiter = undefined
        resume(Effect.fail(timedOut))
      }, timeoutMillis)
      this.waiter = (result) => {
        clearTimeout(timer)
        resume("code" in result ? Effect.succeed(result) : Effect.fail(result))
      }
      return Effect.sync(() => {
        clearTimeout(timer)
        this.waiter = undefined
      })
    })
  }

  upgradeToTls(options: ConnectionOptions): Promise<void> {
    return this.client.negotiateTLS({ ...options, timeout: 0 })
  }

  /** Closes the socket at once; replies still owed are answered with Closed. */
  destroy(): Promise<void> {
    this.onClosed("connection closed by the client")
    return this.client.close().catch(() => {})
  }

  private onLine(line: string) {
    this.lines.push(line)
    // RFC 5321 §4.2.1: a reply's last line has a space (or nothing) after the code.
    if (line.length > 3 && line[3] === "-") return
    const reply: Received = { ...parse(this.lines), lines: this.lines }
    this.lines = []
    const waiter = this.waiter
    if (waiter === undefined) {
      this.replies.push(reply)
    } else {
      this.waiter = undefined
      waiter(reply)
    }
  }

  private onClosed(text: string) {
    if (this.closedBy !== undefined) return
    this.closedBy = { _tag: "Closed", text }
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.(this.closedBy)
  }
}
