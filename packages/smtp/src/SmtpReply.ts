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

const isDigit = (c: number) => c >= 48 && c <= 57
// What the regular expression \s matches in a reply's (ASCII) text.
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13) || c === 160

/**
 * The length of the RFC 3463 enhanced code at the start of `text` — class (2, 4 or 5), subject and
 * detail of 1 to 3 digits each, dot-separated, then white space or the end — or 0 when there is none.
 * Read by hand: this runs for every reply, and a regular expression's match is an array each time.
 */
const enhancedLength = (text: string): number => {
  const c = text.charCodeAt(0)
  if ((c !== 50 && c !== 52 && c !== 53) || text.charCodeAt(1) !== 46) return 0
  let i = 2
  for (let part = 0; part < 2; part++) {
    const start = i
    while (i - start < 4 && isDigit(text.charCodeAt(i))) i++
    if (i === start || i - start > 3) return 0
    if (part === 0) {
      if (text.charCodeAt(i) !== 46) return 0
      i++
    }
  }
  return i === text.length || isSpace(text.charCodeAt(i)) ? i : 0
}

const skipSpace = (text: string, i: number): number => {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++
  return i
}

/** The code of a reply line: its first three digits (NaN if they are not). */
const codeOf = (line: string): number => {
  const a = line.charCodeAt(0)
  const b = line.charCodeAt(1)
  const c = line.charCodeAt(2)
  return isDigit(a) && isDigit(b) && isDigit(c) ? (a - 48) * 100 + (b - 48) * 10 + (c - 48) : Number(line.slice(0, 3))
}

/** Parses the lines of one reply, as received without their CRLF. */
export const parse = (lines: ReadonlyArray<string>): SmtpReply => {
  const last = lines[lines.length - 1]!
  if (lines.length === 1) return parseLine(last)
  let enhanced: string | undefined
  const texts = lines.map((line) => {
    const text = line.slice(4)
    const length = enhancedLength(text)
    if (length === 0) return text
    enhanced ??= text.slice(0, length)
    return text.slice(skipSpace(text, length))
  })
  return { code: codeOf(last), enhanced, text: texts.join(" ").trim() }
}

/** Parses a reply of one line, as received without its CRLF (most replies are). */
export const parseLine = (line: string): SmtpReply => {
  const text = line.slice(4)
  const length = enhancedLength(text)
  return length === 0
    ? { code: codeOf(line), enhanced: undefined, text: text.trim() }
    : { code: codeOf(line), enhanced: text.slice(0, length), text: text.slice(length).trim() }
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
