import type { Socket } from "node:net"
import type { TLSSocket } from "node:tls"
import type { ReplyHandler } from "./replyParser.js"
import { ReplyParser } from "./replyParser.js"

/** Whoever listens to a Wire: the set-up while the session is opened, then the connection. */
export interface WireEvents {
  /** One complete reply; `code` is 0 for a line that is no reply (see ReplyParser). */
  readonly onReply: (code: number, line: string, more: ReadonlyArray<string> | undefined) => void
  /** The socket is gone (closed by either side, reset, failed): once, after the last reply. */
  readonly onClosed: (text: string, cause: unknown) => void
}

const noop = () => {}

/**
 * Up to this size the parts of a write are copied into one buffer: a plain write of one buffer costs
 * less than a writev of several (each string part encoded on its own, an iovec each). Past it, a
 * large body is not copied for the few bytes of commands around it.
 */
const joinBelow = 64 * 1024

const sizeOf = (parts: ReadonlyArray<string | Uint8Array>): number => {
  let size = 0
  for (const part of parts) size += typeof part === "string" ? Buffer.byteLength(part) : part.byteLength
  return size
}

const join = (parts: ReadonlyArray<string | Uint8Array>): Buffer => {
  const out = Buffer.allocUnsafe(sizeOf(parts))
  let at = 0
  for (const part of parts) {
    if (typeof part === "string") {
      at += out.write(part, at)
    } else {
      out.set(part, at)
      at += part.byteLength
    }
  }
  return out
}

/**
 * One socket to an SMTP server, owned outright: its bytes go through our ReplyParser to whoever
 * listens, and writes made while a chunk of replies is being handled are held and leave together
 * when it has been handled — so the body answering a 354, its end and the next transaction's
 * commands go out in one write (RFC 2920 §3), whatever handled which reply.
 */
export class Wire implements ReplyHandler {
  socket: Socket | TLSSocket
  /** False once the socket closed or was destroyed: writes are dropped then. */
  isOpen = true
  private readonly parser = new ReplyParser(this)
  private held: Array<string | Uint8Array> | undefined = undefined
  private reading = false
  private endAfterWrite = false
  private closedText: string | undefined = undefined
  private closedCause: unknown = undefined

  constructor(
    socket: Socket | TLSSocket,
    public events: WireEvents,
    private readonly countReply: (code: number) => void
  ) {
    this.socket = socket
    this.attach(socket)
  }

  /** Listens to `socket` (the TLS one after STARTTLS) as text: replies are UTF-8 (RFC 6531). */
  attach(socket: Socket | TLSSocket): void {
    this.socket = socket
    socket.setEncoding("utf8")
    socket.on("data", this.onData)
    socket.on("end", this.onEnd)
    socket.on("error", this.onError)
    socket.on("close", this.onClose)
  }

  /** Stops listening to the current socket, which is about to be wrapped in TLS. */
  detach(): Socket | TLSSocket {
    const socket = this.socket
    socket.removeListener("data", this.onData)
    socket.removeListener("end", this.onEnd)
    socket.removeListener("error", this.onError)
    socket.removeListener("close", this.onClose)
    // The TLS socket reports the failures from now on; an error left on the plain one must not throw.
    socket.on("error", noop)
    return socket
  }

  write(data: string | Uint8Array): void {
    if (!this.isOpen) return
    if (!this.reading) return void this.socket.write(data)
    const held = this.held ??= []
    const last = held.length - 1
    // Commands following commands (a body's end, the next group) join into one string.
    if (typeof data === "string" && last >= 0 && typeof held[last] === "string") held[last] += data
    else held.push(data)
  }

  /** Half-closes after what was written (QUIT): the server's answer can still be read. */
  end(): void {
    if (!this.isOpen) return
    if (this.reading) this.endAfterWrite = true
    else this.socket.end()
  }

  /** Closes at once; `onClosed` still follows, when the socket is gone. */
  destroy(): void {
    this.isOpen = false
    this.parser.stopped = true
    this.held = undefined
    this.socket.destroy()
  }

  onReply(code: number, line: string, more: ReadonlyArray<string> | undefined): void {
    this.countReply(code)
    this.events.onReply(code, line, more)
  }

  onOverflow(): void {
    this.events.onReply(0, "(a line or reply longer than any SMTP server sends)", undefined)
  }

  private readonly onData = (chunk: string): void => {
    this.reading = true
    try {
      this.parser.feed(chunk)
    } finally {
      this.reading = false
      this.flush()
    }
  }

  private flush(): void {
    const held = this.held
    if (held !== undefined) {
      this.held = undefined
      if (this.isOpen) {
        if (held.length === 1) {
          this.socket.write(held[0]!)
        } else if (sizeOf(held) <= joinBelow) {
          this.socket.write(join(held))
        } else {
          // One writev: the parts leave in one system call, and on loopback in one segment.
          this.socket.cork()
          for (const part of held) this.socket.write(part)
          this.socket.uncork()
        }
      }
    }
    if (this.endAfterWrite) {
      this.endAfterWrite = false
      if (this.isOpen) this.socket.end()
    }
  }

  private readonly onEnd = (): void => {
    this.closedText ??= "connection closed by the server"
  }

  private readonly onError = (error: Error): void => {
    if (this.closedText === undefined) {
      this.closedText = error.message
      this.closedCause = error
    }
  }

  private readonly onClose = (): void => {
    this.isOpen = false
    this.parser.stopped = true
    this.events.onClosed(this.closedText ?? "connection closed", this.closedCause)
  }
}
