import type { AddressInfo, Socket } from "node:net"
import { createServer } from "node:net"
import type { Scope } from "effect"
import { Effect } from "effect"

/** The ways an upstream misbehaves in the fault suite. */
export type Fault =
  | "hang after connect"
  | "hang mid-DATA"
  | "close mid-DATA"
  | "421 always"
  | "451 at MAIL"
  | "451 at RCPT"
  | "451 after DATA"
  | "garbage greeting"
  | "garbage mid-transaction"
  | "TLS handshake failure"
  | "1 byte at a time"

export interface FaultyUpstream {
  readonly host: string
  readonly port: number
  /** Connections accepted. */
  readonly connections: () => number
  /** MAIL commands it saw: transactions begun on it. */
  readonly transactions: () => number
}

/**
 * An SMTP server that speaks just well enough to fail in one way, on loopback. It never accepts a
 * message: whatever reaches a healthy upstream beside it got there by failover or retry.
 */
export const make = (fault: Fault): Effect.Effect<FaultyUpstream, never, Scope.Scope> =>
  Effect.gen(function*() {
    let connections = 0
    let transactions = 0
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      connections++
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      socket.on("error", () => {})
      serve(socket, fault, () => transactions++)
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    const { address, port } = server.address() as AddressInfo
    return { host: address, port, connections: () => connections, transactions: () => transactions }
  })

const ehlo = "250-faulty\r\n250-PIPELINING\r\n250 8BITMIME\r\n"

const serve = (socket: Socket, fault: Fault, onMail: () => void) => {
  const say = (text: string) => {
    if (!socket.destroyed) socket.write(text)
  }
  switch (fault) {
    case "hang after connect":
      return
    case "421 always":
      say("421 4.3.2 too busy, come back later\r\n")
      return void socket.end()
    case "garbage greeting":
      return say("\x00\xffHELLO garbage\r\n")
    case "TLS handshake failure":
      // The client expects TLS from the first byte (implicit TLS); this is not a TLS record.
      return say("220 plain text where TLS was expected\r\n")
    case "1 byte at a time": {
      // The greeting dribbles out a byte per 100 ms: no reply completes within the timeouts.
      const greeting = Buffer.from("220 slow.example ESMTP at one byte at a time\r\n")
      let at = 0
      const timer = setInterval(() => {
        if (socket.destroyed || at >= greeting.length) return clearInterval(timer)
        socket.write(greeting.subarray(at, ++at))
      }, 100)
      socket.on("close", () => clearInterval(timer))
      return
    }
  }
  say("220 faulty.example ESMTP\r\n")
  let inData = false
  let recipients = 0
  let buffered = ""
  socket.setEncoding("latin1")
  socket.on("data", (chunk: string) => {
    buffered += chunk
    for (;;) {
      if (inData) {
        if (fault === "close mid-DATA") return void socket.destroy()
        const end = buffered.indexOf("\r\n.\r\n")
        if (end < 0) return
        buffered = buffered.slice(end + 5)
        inData = false
        if (fault === "hang mid-DATA") return
        say("451 4.3.0 could not store the message, try later\r\n")
        continue
      }
      const eol = buffered.indexOf("\r\n")
      if (eol < 0) return
      const line = buffered.slice(0, eol)
      buffered = buffered.slice(eol + 2)
      const verb = line.slice(0, 4).toUpperCase()
      if (verb === "EHLO" || verb === "HELO") say(ehlo)
      else if (verb === "MAIL") {
        onMail()
        recipients = 0
        say(fault === "451 at MAIL" ? "451 4.3.0 not now\r\n" : fault === "garbage mid-transaction" ? "??? what\r\n" : "250 ok\r\n")
      } else if (verb === "RCPT") {
        if (fault === "451 at RCPT") say("451 4.2.0 try later\r\n")
        else {
          recipients++
          say("250 ok\r\n")
        }
      } else if (verb === "DATA") {
        // RFC 2920 §3.1: a pipelined DATA after every RCPT failed is refused, not answered with 354.
        if (recipients === 0) say("554 5.5.1 no valid recipients\r\n")
        else {
          inData = true
          say("354 go on\r\n")
        }
      } else if (verb === "RSET" || verb === "NOOP") say("250 ok\r\n")
      else if (verb === "QUIT") {
        say("221 bye\r\n")
        return void socket.end()
      } else say("502 5.5.2 unknown command\r\n")
    }
  })
}
