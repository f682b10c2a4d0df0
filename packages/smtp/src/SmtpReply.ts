import type { Phase, SmtpError } from "./SmtpError.js"

/** One complete (possibly multi-line) SMTP reply. */
export interface SmtpReply {
  readonly code: number
  /** RFC 3463 enhanced status code, when the server sent one. */
  readonly enhanced: string | undefined
  readonly text: string
}

/** What a reply or an error means for the recipients it concerns. */
export type Verdict = "delivered" | "transient" | "permanent"

export interface Classification {
  readonly verdict: Exclude<Verdict, "delivered">
  /**
   * True when the upstream itself is at fault (unreachable, timing out, shutting down, misconfigured)
   * rather than the message: these count against the upstream's circuit breaker, and the message
   * should go to another upstream.
   */
  readonly upstreamFault: boolean
}

const enhancedPattern = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)/

/** Parses the lines of one reply, as received without their CRLF. */
export const parse = (lines: ReadonlyArray<string>): SmtpReply => {
  const code = Number(lines[lines.length - 1]!.slice(0, 3))
  let enhanced: string | undefined
  const texts = lines.map((line) => {
    const text = line.slice(4)
    const match = enhancedPattern.exec(text)
    if (match === null) return text
    enhanced ??= match[1]
    return text.slice(match[0].length)
  })
  return { code, enhanced, text: texts.join(" ").trim() }
}

/**
 * The one place replies are judged. The basic code decides (RFC 5321 §4.2.1); the enhanced code only
 * refines it where RFC 5321 tells clients to: 552 to RCPT means "too many recipients" and is to be
 * treated as temporary (§4.5.3.1.10), as is an x.5.3 enhanced code on RCPT.
 */
export const classifyReply = (reply: SmtpReply, phase: Phase): Verdict => {
  if (reply.code >= 200 && reply.code < 400) return "delivered"
  if (reply.code >= 400 && reply.code < 500) return "transient"
  if (phase === "rcpt" && (reply.code === 552 || reply.enhanced?.endsWith(".5.3") === true)) return "transient"
  return "permanent"
}

/** Phases before MAIL FROM concern the upstream alone; no message is judged by them. */
const sessionPhases: ReadonlySet<Phase> = new Set(["connect", "greeting", "ehlo", "tls", "auth"])

/** The one place errors are judged: whether to retry, and whom to blame. */
export const classifyError = (error: SmtpError): Classification => {
  switch (error._tag) {
    case "SmtpConnectionError":
    case "SmtpTimeoutError":
      return { verdict: "transient", upstreamFault: true }
    case "SmtpAddressError":
      return { verdict: "permanent", upstreamFault: false }
    case "SmtpUnsupportedError":
      // A server without SMTPUTF8 cannot take this message at all (RFC 6531 §3.2); a missing
      // STARTTLS or AUTH is the upstream's configuration, and another upstream may do.
      return error.extension === "SMTPUTF8"
        ? { verdict: "permanent", upstreamFault: false }
        : { verdict: "transient", upstreamFault: true }
    case "SmtpReplyError": {
      // 421: the service is closing the channel (RFC 5321 §3.8), whatever the phase.
      if (error.code === 421 || sessionPhases.has(error.phase)) return { verdict: "transient", upstreamFault: true }
      const verdict = classifyReply(error, error.phase)
      // A temporary refusal of MAIL FROM comes before any recipient or content: the upstream cannot
      // take a transaction now, and another one may (CONTRACT.md: "on any upstream that can take it").
      if (verdict === "transient" && error.phase === "mail") return { verdict, upstreamFault: true }
      return { verdict: verdict === "permanent" ? "permanent" : "transient", upstreamFault: false }
    }
  }
}

/**
 * The class label used in metrics: "2xx", "3xx", "4xx" or "5xx"; "other" for anything else, such as
 * the 0 a line that is no reply at all is read as (a broken or hostile server must not break counting).
 */
export const replyClass = (code: number): "2xx" | "3xx" | "4xx" | "5xx" | "other" =>
  code >= 200 && code < 300 ? "2xx" : code >= 300 && code < 400 ? "3xx" : code >= 400 && code < 500 ? "4xx" : code >= 500 && code < 600 ? "5xx" : "other"
