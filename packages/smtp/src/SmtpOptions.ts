import { hostname } from "node:os"
import { Duration } from "effect"

/** How to reach and talk to one upstream SMTP server. */
export interface SmtpOptions {
  /** The upstream's name, carried by every error and metric. */
  readonly name: string
  readonly host: string
  readonly port: number
  /**
   * `none`: plain text. `starttls`: upgrade when the server offers it. `required`: upgrade or fail.
   * `implicit`: TLS from the first byte (port 465 style).
   */
  readonly tls: "none" | "starttls" | "required" | "implicit"
  /** Verify the server's certificate (default true). Turn off only for servers you control. */
  readonly verifyCertificate: boolean
  /** Extra trusted CA certificates (PEM), for private relays. */
  readonly ca?: string | Buffer | undefined
  /** TLS server name to verify against, when it differs from `host`. */
  readonly servername?: string | undefined
  readonly auth?: { readonly user: string; readonly pass: string } | undefined
  /** The name we give in EHLO/HELO. */
  readonly clientName: string
  readonly timeouts: {
    readonly connect: Duration.Duration
    readonly greeting: Duration.Duration
    readonly command: Duration.Duration
    /** From the end of the message to the server's final reply (RFC 5321 §4.5.3.2.6 suggests 10 min). */
    readonly data: Duration.Duration
  }
}

/** Limits of the per-upstream session cache. */
export interface SmtpPoolOptions extends SmtpOptions {
  readonly maxConnections: number
  readonly maxMessagesPerConnection: number
  /** A cached session unused for this long is closed. */
  readonly idleTimeout: Duration.Duration
}

// RFC 5321 §4.1.1.1: an FQDN, or an address literal when the host has no proper name.
const defaultClientName = (): string => {
  const name = hostname()
  return name.includes(".") ? name : "[127.0.0.1]"
}

export type SmtpPoolInput =
  & Pick<SmtpOptions, "host" | "port">
  & Partial<Omit<SmtpPoolOptions, "timeouts">>
  & { readonly timeouts?: Partial<Record<keyof SmtpOptions["timeouts"], Duration.DurationInput>> }

/** Fills in the defaults: plain text, certificates verified, 30 s timeouts, 10 minutes for DATA. */
export const make = (input: SmtpPoolInput): SmtpPoolOptions => ({
  name: `${input.host}:${input.port}`,
  tls: "none",
  verifyCertificate: true,
  clientName: defaultClientName(),
  maxConnections: 10,
  maxMessagesPerConnection: 1000,
  ...input,
  idleTimeout: Duration.decode(input.idleTimeout ?? "30 seconds"),
  timeouts: {
    connect: Duration.decode(input.timeouts?.connect ?? "30 seconds"),
    greeting: Duration.decode(input.timeouts?.greeting ?? "30 seconds"),
    command: Duration.decode(input.timeouts?.command ?? "30 seconds"),
    data: Duration.decode(input.timeouts?.data ?? "10 minutes")
  }
})
