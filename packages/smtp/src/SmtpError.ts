import { Data } from "effect"

/** Where in an SMTP exchange something went wrong. */
export type Phase = "connect" | "greeting" | "ehlo" | "tls" | "auth" | "mail" | "rcpt" | "data"

/** The server answered, and the answer was not the one the phase needs. */
export class SmtpReplyError extends Data.TaggedError("SmtpReplyError")<{
  readonly upstream: string
  readonly phase: Phase
  readonly code: number
  readonly enhanced: string | undefined
  readonly text: string
}> {
  override get message() {
    return `${this.upstream}: ${this.phase} answered ${this.code}${this.enhanced ? ` ${this.enhanced}` : ""} ${this.text}`
  }
}

/**
 * The connection could not be made, went away under us, or carried something that is no SMTP reply
 * (`protocol`: a line without a reply code, an unasked-for reply, a line past any sane length).
 */
export class SmtpConnectionError extends Data.TaggedError("SmtpConnectionError")<{
  readonly upstream: string
  readonly phase: Phase
  readonly reason: "refused" | "dropped" | "tls" | "socket" | "protocol"
  readonly text: string
  readonly cause?: unknown
}> {
  override get message() {
    return `${this.upstream}: ${this.reason} during ${this.phase}: ${this.text}`
  }
}

/** No complete reply within the phase's timeout. */
export class SmtpTimeoutError extends Data.TaggedError("SmtpTimeoutError")<{
  readonly upstream: string
  readonly phase: Phase
  readonly timeoutMillis: number
}> {
  override get message() {
    return `${this.upstream}: no reply during ${this.phase} within ${this.timeoutMillis} ms`
  }
}

/** The server lacks an extension this message or this upstream's configuration requires. */
export class SmtpUnsupportedError extends Data.TaggedError("SmtpUnsupportedError")<{
  readonly upstream: string
  readonly phase: Phase
  readonly extension: "STARTTLS" | "SMTPUTF8" | "AUTH"
  readonly text: string
}> {
  override get message() {
    return `${this.upstream}: ${this.text}`
  }
}

/** An envelope address that cannot go into an SMTP command as it is (CR, LF, NUL, angle brackets). */
export class SmtpAddressError extends Data.TaggedError("SmtpAddressError")<{
  readonly upstream: string
  readonly phase: Phase
  readonly address: string
}> {
  override get message() {
    return `${this.upstream}: ${JSON.stringify(this.address)} cannot be sent in ${this.phase.toUpperCase()}`
  }
}

export type SmtpError =
  | SmtpReplyError
  | SmtpConnectionError
  | SmtpTimeoutError
  | SmtpUnsupportedError
  | SmtpAddressError
