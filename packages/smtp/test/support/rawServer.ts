import * as Net from "node:net"
import type { AddressInfo } from "node:net"
import type { Scope } from "effect"
import { Effect } from "effect"

/**
 * Scripted SMTP servers on raw sockets, for the behaviours smtp-server will not produce on request:
 * silence, a socket destroyed mid-DATA, an EHLO refused, AUTH LOGIN only.
 */

/** One client connection, as the script sees it. */
export interface RawConnection {
  /** Counted from 1, per server. */
  readonly id: number
  /** Writes each line followed by CRLF. */
  readonly reply: (...lines: ReadonlyArray<string>) => void
  /** Writes the text as it is. */
  readonly write: (text: string) => void
  /** Reads the message after a 354: `onBody` gets the bytes up to (not including) CRLF "." CRLF. */
  readonly readData: (onBody: (body: Buffer) => void) => void
  readonly destroy: () => void
}

export interface Script {
  /** The first reply; `null` accepts the connection and never says a word. Default "220 raw ESMTP". */
  readonly greeting?: string | null
  /** Real milliseconds before the greeting (default 0). */
  readonly greetingDelayMillis?: number
  /** Called for each command line (without its CRLF) outside DATA. */
  readonly onCommand: (line: string, connection: RawConnection) => void
  /** Called with every chunk received while reading DATA, before it is looked at. */
  readonly onDataChunk?: (chunk: Buffer, received: number, connection: RawConnection) => void
  /** Called with every chunk as the socket delivered it (one TCP read), before it is looked at. */
  readonly onChunk?: (chunk: Buffer, connection: RawConnection) => void
}

export interface RawServer {
  readonly host: string
  readonly port: number
  /** Every command line received, in order, over all connections. */
  readonly commands: ReadonlyArray<string>
  /** Connections accepted so far. */
  readonly connections: () => number
  /** Connections not closed yet. */
  readonly open: () => number
}

const endOfData = Buffer.from("\r\n.\r\n")

/** Starts a scripted server on 127.0.0.1 in the scope; closing the scope destroys it and its sockets. */
export const make = (script: Script): Effect.Effect<RawServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: RawServer; net: Net.Server; sockets: Set<Net.Socket> }>((resume) => {
      const commands: Array<string> = []
      const sockets = new Set<Net.Socket>()
      let accepted = 0
      const net = Net.createServer((socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => {})
        let buffered = Buffer.alloc(0)
        let dataReceived = 0
        let dataMode: ((body: Buffer) => void) | undefined
        const connection: RawConnection = {
          id: ++accepted,
          reply: (...lines) => {
            if (!socket.destroyed) socket.write(lines.map((line) => `${line}\r\n`).join(""))
          },
          write: (text) => {
            if (!socket.destroyed) socket.write(text)
          },
          readData: (onBody) => {
            dataMode = onBody
            dataReceived = 0
            // A body that starts with the terminator's last three bytes is an empty message.
            buffered = Buffer.concat([Buffer.from("\r\n"), buffered])
            process()
          },
          destroy: () => socket.destroy()
        }
        const process = () => {
          while (!socket.destroyed) {
            if (dataMode !== undefined) {
              const end = buffered.indexOf(endOfData)
              if (end === -1) return
              const body = buffered.subarray(2, end + 2)
              buffered = buffered.subarray(end + endOfData.length)
              const onBody = dataMode
              dataMode = undefined
              onBody(body)
            } else {
              const end = buffered.indexOf("\r\n")
              if (end === -1) return
              const line = buffered.subarray(0, end).toString("latin1")
              buffered = buffered.subarray(end + 2)
              commands.push(line)
              script.onCommand(line, connection)
            }
          }
        }
        socket.on("data", (chunk: Buffer) => {
          script.onChunk?.(chunk, connection)
          if (dataMode !== undefined) {
            dataReceived += chunk.length
            script.onDataChunk?.(chunk, dataReceived, connection)
          }
          buffered = Buffer.concat([buffered, chunk])
          process()
        })
        const greeting = script.greeting === undefined ? "220 raw ESMTP" : script.greeting
        if (greeting !== null) {
          if (script.greetingDelayMillis === undefined) connection.reply(greeting)
          else setTimeout(() => connection.reply(greeting), script.greetingDelayMillis)
        }
      })
      net.listen(0, "127.0.0.1", () => {
        const { address, port } = net.address() as AddressInfo
        resume(Effect.succeed({
          net,
          sockets,
          server: { host: address, port, commands, connections: () => accepted, open: () => sockets.size }
        }))
      })
    }),
    ({ net, sockets }) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        net.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ server }) => server))

/** The verb of a command line, upper case. */
export const verb = (line: string): string => line.split(" ", 1)[0]!.toUpperCase()

/**
 * The ordinary answers of a small ESMTP server that accepts everything, for the commands a script
 * does not handle itself. `extensions` are the EHLO keywords after the first line.
 */
export const standard = (extensions: ReadonlyArray<string> = []) => (line: string, connection: RawConnection): void => {
  switch (verb(line)) {
    case "EHLO":
      return connection.reply(
        ...["raw.test", ...extensions].map((text, i, all) => `250${i === all.length - 1 ? " " : "-"}${text}`)
      )
    case "HELO":
      return connection.reply("250 raw.test")
    case "MAIL":
    case "RCPT":
    case "RSET":
    case "NOOP":
      return connection.reply("250 2.0.0 OK")
    case "DATA":
      connection.reply("354 go ahead")
      return connection.readData(() => connection.reply("250 2.0.0 queued"))
    case "QUIT":
      connection.reply("221 2.0.0 bye")
      return connection.destroy()
    default:
      return connection.reply("502 5.5.2 not implemented")
  }
}

/** A port with nothing listening on it: bound, noted, and closed again. */
export const closedPort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const net = Net.createServer()
  net.listen(0, "127.0.0.1", () => {
    const { port } = net.address() as AddressInfo
    net.close(() => resume(Effect.succeed(port)))
  })
})

/**
 * Replies that keep their order whatever their delays, as a server's do (RFC 2920 §3): `say(c, line,
 * ms)` answers after `ms` and after every reply said before it on that connection.
 */
export const ordered = () => {
  const last = new Map<number, Promise<void>>()
  return (connection: RawConnection, line: string, delayMillis = 0): void => {
    const before = last.get(connection.id) ?? Promise.resolve()
    const after = before
      .then(() => delayMillis > 0 ? new Promise<void>((resolve) => setTimeout(resolve, delayMillis)) : undefined)
      .then(() => connection.reply(line))
    last.set(connection.id, after)
  }
}
