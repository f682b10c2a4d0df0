import type { EventEmitter } from "node:events"
import { Writable } from "node:stream"
import type { ConnectionOptions } from "node:tls"
import { SMTPClient } from "smtp-client"
import { Effect } from "effect"
import type { SmtpReply } from "../SmtpReply.js"
import { parse } from "../SmtpReply.js"

/** The part of smtp-client (and the smtp-channel it extends) that the transport uses. */
interface Client extends EventEmitter {
  connect(options: { timeout?: number }): Promise<string>
  write(data: string | Buffer, options?: { timeout?: number }): Promise<string>
  negotiateTLS(options: ConnectionOptions & { timeout?: number }): Promise<void>
  close(options?: { timeout?: number }): Promise<void>
}

/**
 * smtp-client with its send-side logger turned off: that logger decodes every byte written as UTF-8
 * and splits it into lines, only to emit events nobody listens to, which costs as much as the write
 * itself for large messages.
 */
class QuietClient extends (SMTPClient as unknown as new(options: object) => Client) {
  _createOnSendStream() {
    return new Writable({ write: (_chunk, _encoding, done) => done() })
  }
}

export type Closed = { readonly _tag: "Closed"; readonly text: string }

/** A reply with the lines it came in, which EHLO's extension list needs. */
export interface Received extends SmtpReply {
  readonly lines: ReadonlyArray<string>
}

/**
 * One SMTP connection: smtp-client writes commands and splits the server's bytes into lines; this
 * class gathers the lines into replies and hands them out in order, so several pipelined commands
 * (RFC 2920) can be answered one after the other.
 */
export class Channel {
  private readonly client: Client
  private lines: Array<string> = []
  private readonly replies: Array<Received> = []
  private waiter: ((result: Received | Closed) => void) | undefined
  private closedBy: Closed | undefined

  constructor(options: ConnectionOptions & { readonly host: string; readonly port: number; readonly secure: boolean }) {
    this.client = new QuietClient({ ...options, timeout: 0 })
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
      this.client.once("connect", () => resolve())
      // The promise settles on the greeting, which is read as a reply instead; it rejects before
      // "connect" only when the socket could not be made.
      this.client.connect({ timeout: 0 }).catch((error: Error) => {
        this.onClosed(error.message)
        reject(error)
      })
    })
  }

  write(data: string | Buffer): void {
    // smtp-client's promise settles on the first reply line, which is read through "reply" events.
    this.client.write(data).catch(() => {})
  }

  /** The next complete reply, in the order they arrive. */
  readonly next: Effect.Effect<Received, Closed> = Effect.async<Received, Closed>((resume) => {
    const queued = this.replies.shift()
    if (queued !== undefined) return resume(Effect.succeed(queued))
    if (this.closedBy !== undefined) return resume(Effect.fail(this.closedBy))
    this.waiter = (result) => resume("code" in result ? Effect.succeed(result) : Effect.fail(result))
    return Effect.sync(() => {
      this.waiter = undefined
    })
  })

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
