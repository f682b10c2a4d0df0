import type { AddressInfo } from "node:net"
import type { Scope } from "effect"
import { Effect } from "effect"
import type { SMTPServerOptions, SMTPServerSession } from "smtp-server"
import { SMTPServer } from "smtp-server"

/** One message as the sink received it: the bytes after DATA, with dot-stuffing undone. */
export interface ReceivedMessage {
  readonly from: string
  readonly to: ReadonlyArray<string>
  /** Empty when the sink only counts. */
  readonly data: Buffer
  readonly size: number
  /** Which connection it came over, counted from 1. */
  readonly connection: number
}

/** A reply the sink is told to give instead of accepting. */
export interface Refusal {
  readonly code: number
  readonly text?: string
}

export interface SinkOptions {
  readonly host?: string
  /** 0 (the default) picks a free port. */
  readonly port?: number
  /** Keep each message's bytes (default), or only count them, for long benchmark runs. */
  readonly record?: "full" | "count"
  /** PEM key and certificate: offer STARTTLS, or with `implicitTls`, speak TLS from the first byte. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer }
  readonly implicitTls?: boolean
  /** Require AUTH PLAIN or LOGIN with these credentials. */
  readonly auth?: { readonly user: string; readonly pass: string }
  /** Extensions not to advertise, e.g. ["PIPELINING", "SMTPUTF8"]. */
  readonly hide?: ReadonlyArray<"PIPELINING" | "8BITMIME" | "SMTPUTF8" | "ENHANCEDSTATUSCODES" | "STARTTLS" | "SIZE">
  /** Close a connection idle this long, with a 421 (smtp-server's socket timeout). */
  readonly idleTimeoutMs?: number
  /** Answer the greeting with this instead of 220, then close. */
  readonly greeting?: Refusal
  readonly onMailFrom?: (address: string) => Refusal | undefined
  /**
   * Decides each RCPT. By default an address whose local part ends in `+4xx` or `+5xx` (for example
   * `bounce+550@example.com`) is refused with that code, which makes failures easy to demonstrate.
   */
  readonly onRcptTo?: (address: string) => Refusal | undefined
  /** Wait this long before the final reply to DATA: a slow upstream. */
  readonly dataDelayMs?: number
  /** Decides the final reply to DATA, after the message has been read. */
  readonly onData?: (message: ReceivedMessage) => Refusal | undefined
}

export interface Sink {
  readonly host: string
  readonly port: number
  readonly messages: ReadonlyArray<ReceivedMessage>
  /** Messages accepted so far (also counted when `record` is "count"). */
  readonly received: number
  readonly connections: { readonly open: number; readonly total: number; readonly peak: number }
}

const codeInAddress = /\+([45]\d\d)@/

export const defaultRcpt = (address: string): Refusal | undefined => {
  const match = codeInAddress.exec(address)
  return match === null ? undefined : { code: Number(match[1]), text: `refused as the address asks (${match[1]})` }
}

const refuse = (refusal: Refusal): Error =>
  Object.assign(new Error(refusal.text ?? `refused with ${refusal.code}`), { responseCode: refusal.code })

/** Starts a sink in the scope; closing the scope closes it and its connections. */
export const make = (options: SinkOptions = {}): Effect.Effect<Sink, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ sink: Sink; server: SMTPServer }, Error>((resume) => {
      const messages: Array<ReceivedMessage> = []
      const connections = { open: 0, total: 0, peak: 0 }
      let received = 0
      const connectionOf = new WeakMap<SMTPServerSession, number>()
      const hide = new Set(options.hide ?? [])
      const rcpt = options.onRcptTo ?? defaultRcpt

      const serverOptions: SMTPServerOptions = {
        secure: options.implicitTls === true,
        ...(options.tls !== undefined ? { key: options.tls.key, cert: options.tls.cert } : {}),
        hideSTARTTLS: options.tls === undefined || hide.has("STARTTLS"),
        hidePIPELINING: hide.has("PIPELINING"),
        hide8BITMIME: hide.has("8BITMIME"),
        hideSMTPUTF8: hide.has("SMTPUTF8"),
        hideENHANCEDSTATUSCODES: hide.has("ENHANCEDSTATUSCODES"),
        hideDSN: true,
        hideREQUIRETLS: true,
        ...(hide.has("SIZE") ? {} : { size: 64 * 1024 * 1024 }),
        authOptional: options.auth === undefined,
        authMethods: ["PLAIN", "LOGIN"],
        allowInsecureAuth: true,
        disableReverseLookup: true,
        logger: false,
        maxClients: 10_000,
        closeTimeout: 200,
        ...(options.idleTimeoutMs !== undefined ? { socketTimeout: options.idleTimeoutMs } : {}),
        onConnect(session, callback) {
          connections.total++
          connections.open++
          connections.peak = Math.max(connections.peak, connections.open)
          connectionOf.set(session, connections.total)
          callback(options.greeting ? refuse(options.greeting) : null)
        },
        onClose() {
          connections.open--
        },
        onAuth(auth, _session, callback) {
          const ok = options.auth !== undefined && auth.username === options.auth.user &&
            auth.password === options.auth.pass
          if (ok) callback(null, { user: auth.username })
          else callback(Object.assign(new Error("Invalid username or password"), { responseCode: 535 }))
        },
        onMailFrom(address, _session, callback) {
          const refusal = options.onMailFrom?.(address.address)
          callback(refusal ? refuse(refusal) : null)
        },
        onRcptTo(address, _session, callback) {
          const refusal = rcpt(address.address)
          callback(refusal ? refuse(refusal) : null)
        },
        onData(stream, session, callback) {
          const chunks: Array<Buffer> = []
          let size = 0
          stream.on("data", (chunk: Buffer) => {
            size += chunk.length
            if (options.record !== "count") chunks.push(chunk)
          })
          stream.on("end", () => {
            const message: ReceivedMessage = {
              from: session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address,
              to: session.envelope.rcptTo.map((r) => r.address),
              data: Buffer.concat(chunks),
              size,
              connection: connectionOf.get(session) ?? 0
            }
            const answer = () => {
              const refusal = options.onData?.(message)
              if (refusal) return callback(refuse(refusal))
              received++
              if (options.record !== "count") messages.push(message)
              callback(null)
            }
            if (options.dataDelayMs === undefined) answer()
            else setTimeout(answer, options.dataDelayMs)
          })
        }
      }
      const server = new SMTPServer(serverOptions)
      server.on("error", () => {}) // a client that vanishes mid-command is not the sink's problem
      const listener = server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
        const address = listener.address() as AddressInfo
        resume(Effect.succeed({
          server,
          sink: {
            host: address.address,
            port: address.port,
            messages,
            get received() {
              return received
            },
            connections
          }
        }))
      })
      listener.once("error", (error) => resume(Effect.fail(error)))
    }),
    ({ server }) => Effect.async<void>((resume) => server.close(() => resume(Effect.void)))
  ).pipe(Effect.map(({ sink }) => sink))
