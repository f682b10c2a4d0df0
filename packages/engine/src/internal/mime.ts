import { randomBytes, randomUUID } from "node:crypto"
import base64 from "nodemailer/lib/base64/index.js"
import mimeFuncs from "nodemailer/lib/mime-funcs/index.js"
import qp from "nodemailer/lib/qp/index.js"
import type { Parts } from "../Compose.js"
import * as Headers from "./headers.js"

/** The header that carries the engine's message id in what it composes. */
export const idHeader = "X-Sluice-Id"

// Headers whose value has a structure (addresses, MIME parameters, message ids) that MailComposer
// knows how to encode; with one of these among the custom headers, the message goes to MailComposer.
const structured = new Set([
  "from", "to", "cc", "bcc", "reply-to", "sender", "subject", "mime-version", "content-type",
  "content-transfer-encoding", "content-disposition", "references", "in-reply-to", "list-unsubscribe"
])

const isAscii = (value: string) => {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7e) return false
  }
  return true
}

/**
 * True when `compose` below builds this message. Everything else (non-ASCII addresses, structured
 * custom headers, non-ASCII custom header values) is left to MailComposer, which knows those rules.
 */
export const canCompose = (parts: Parts): boolean =>
  isAscii(parts.from) && parts.to.every(isAscii) &&
  (parts.headers === undefined ||
    Object.entries(parts.headers).every(([name, value]) => !structured.has(name.toLowerCase()) && isAscii(name) && isAscii(value)))

// Every line end CRLF; LF alone (the common case) by a plain search, twice as fast as the expression.
const crlf = (text: string) => text.includes("\r") ? text.replace(/\r?\n|\r/g, "\r\n") : text.replaceAll("\n", "\r\n")

const unsafe7bit = /[^\t\r\n\x20-\x7e]/
const unsafe7bitAll = /[^\t\r\n\x20-\x7e]/g

/** True when a line (CRLF-separated) is longer than SMTP may carry (998 octets). */
const hasLongLine = (text: string) => {
  if (text.length <= 998) return false
  let start = 0
  for (let end = text.indexOf("\r\n"); end !== -1; end = text.indexOf("\r\n", start)) {
    if (end - start > 998) return true
    start = end + 2
  }
  return text.length - start > 998
}

/** 7bit for ASCII with lines SMTP can carry, else quoted-printable (base64 when mostly non-Latin). */
const body = (contentType: string, text: string): { headers: string; content: string } => {
  const normalized = crlf(text)
  const encoding = !unsafe7bit.test(normalized) && !hasLongLine(normalized)
    ? "7bit"
    : (normalized.match(unsafe7bitAll)?.length ?? 0) * 2 > normalized.length
    ? "base64"
    : "quoted-printable"
  const content = encoding === "7bit"
    ? normalized
    : encoding === "base64"
    ? base64.wrap(base64.encode(Buffer.from(normalized, "utf8")), 76)
    : qp.wrap(qp.encode(normalized), 76)
  return {
    headers: `Content-Type: ${contentType}; charset=utf-8\r\nContent-Transfer-Encoding: ${encoding}\r\n`,
    content: content.endsWith("\r\n") ? content : content + "\r\n"
  }
}

/** The Message-ID Sluice sets: its id at the sender's domain. */
export const messageIdOf = (parts: Pick<Parts, "from">, id: string): string => `<${id}@${parts.from.slice(parts.from.lastIndexOf("@") + 1)}>`

export const hasHeader = (parts: Parts, name: string): boolean =>
  Object.keys(parts.headers ?? {}).some((own) => own.toLowerCase() === name)

/**
 * The headers as given, with the engine's X-Sluice-Id in place of any the sender brought: reports are
 * matched by it, so it is never the sender's to set.
 */
export const ownHeaders = (parts: Parts): Record<string, string> | undefined => {
  const id = idHeader.toLowerCase()
  const given = parts.headers === undefined
    ? []
    : Object.entries(parts.headers).filter(([name]) => name.toLowerCase() !== id)
  if (parts.id !== undefined) given.push([idHeader, parts.id])
  return given.length === 0 ? undefined : Object.fromEntries(given)
}

/**
 * The Subject as it is written: encoded words for what is not ASCII (RFC 2047), and all of it encoded
 * when a run without whitespace is too long to fold (headers.ts).
 */
export const subjectOf = (subject: string): string =>
  !Headers.canFold("Subject", subject)
    ? mimeFuncs.encodeWord(subject, "Q", 52)
    : isAscii(subject)
    ? subject
    : mimeFuncs.encodeWords(subject, "Q", 52)

// foldLines leaves a line shorter than 76 characters as it is.
const header = (name: string, value: string) => {
  const line = `${name}: ${value}`
  return (line.length < 76 ? line : mimeFuncs.foldLines(line, 76)) + "\r\n"
}

// RFC 5322 date-time, as MailComposer writes it; the same for every message of a second.
let dateSecond = NaN
let dateText = ""
const date = (at: Date) => {
  const second = Math.floor(at.getTime() / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateText = at.toUTCString().replace(/GMT/, "+0000")
  }
  return dateText
}

const hasId = 1
const hasDate = 2

/** Whether the field at [start, end) of `raw` is `name` (lower case), in any case. */
const named = (raw: string, start: number, end: number, name: string): boolean => {
  if (end - start !== name.length) return false
  for (let i = 0; i < name.length; i++) {
    const c = raw.charCodeAt(start + i)
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== name.charCodeAt(i)) return false
  }
  return true
}

/**
 * Which of Message-ID and Date (`hasId`, `hasDate`) the header of a raw message has, read up to its
 * first empty line. Read in place, without a string per line: this runs for every raw message.
 */
const rawHeaderFields = (raw: string): number => {
  let found = 0
  let start = 0
  while (start < raw.length) {
    const newline = raw.indexOf("\n", start)
    const end = newline === -1 ? raw.length : newline
    const lineEnd = end > start && raw.charCodeAt(end - 1) === 13 ? end - 1 : end
    if (lineEnd === start) break
    const first = raw.charCodeAt(start)
    const colon = raw.indexOf(":", start)
    // A line that goes on (space or tab first) belongs to the field before it.
    if (first !== 32 && first !== 9 && colon > start && colon < lineEnd) {
      let nameEnd = colon
      while (nameEnd > start && (raw.charCodeAt(nameEnd - 1) === 32 || raw.charCodeAt(nameEnd - 1) === 9)) nameEnd--
      if (named(raw, start, nameEnd, "message-id")) found |= hasId
      else if (named(raw, start, nameEnd, "date")) found |= hasDate
    }
    start = end + 1
  }
  return found
}

/**
 * A raw message with the Message-ID (the engine's id at the sender's domain, as composed messages
 * have) and Date (now: acceptance) it lacks, put first, in the message's own line ends; one that has
 * both is returned as it is.
 */
export const completeRaw = (raw: string, from: string, id: string, now?: Date): string => {
  const found = rawHeaderFields(raw)
  if (found === (hasId | hasDate)) return raw
  const newline = raw.indexOf("\n")
  const eol = newline > 0 && raw[newline - 1] === "\r" ? "\r\n" : newline === -1 ? "\r\n" : "\n"
  return ((found & hasId) !== 0 ? "" : `Message-ID: ${messageIdOf({ from }, id)}${eol}`) +
    ((found & hasDate) !== 0 ? "" : `Date: ${date(now ?? new Date())}${eol}`) + raw
}

// One random part per process and a counter: unique boundaries without a random draw per message.
const boundaryBase = `--_sluice-${randomBytes(8).toString("hex")}-`
let boundaryCount = 0

/**
 * The message as RFC 5322 bytes, built at once from nodemailer's own encoders (encoded words, folding,
 * quoted-printable, base64): MailComposer's stream pipeline costs several times more per message.
 * Only for messages `canCompose` accepts.
 */
export const compose = (parts: Parts, now: Date = new Date()): Buffer => {
  const own = parts.headers === undefined ? undefined : new Set(Object.keys(parts.headers).map((name) => name.toLowerCase()))
  let head = ""
  if (own === undefined) {
    if (parts.id !== undefined) head += header(idHeader, parts.id)
  } else {
    for (const [name, value] of Object.entries(ownHeaders(parts) ?? {})) {
      head += header(name, Headers.isUnstructured(name) ? Headers.foldable(name, value) : value)
    }
  }
  head += header("From", parts.from)
  head += header("To", parts.to.join(", "))
  if (parts.subject !== undefined) head += header("Subject", subjectOf(parts.subject))
  if (own?.has("message-id") !== true) head += `Message-ID: ${messageIdOf(parts, parts.id ?? randomUUID())}\r\n`
  if (own?.has("date") !== true) head += `Date: ${date(now)}\r\n`
  head += "MIME-Version: 1.0\r\n"

  const bodies = [
    ...(parts.text !== undefined ? [body("text/plain", parts.text)] : []),
    ...(parts.html !== undefined ? [body("text/html", parts.html)] : [])
  ]
  if (bodies.length === 0) return ascii(head + "Content-Type: text/plain; charset=utf-8\r\n\r\n")
  if (bodies.length === 1) return ascii(head + bodies[0]!.headers + "\r\n" + bodies[0]!.content)
  const boundary = boundaryBase + (++boundaryCount)
  let message = head + `Content-Type: multipart/alternative;\r\n boundary="${boundary}"\r\n\r\n`
  for (const part of bodies) message += `--${boundary}\r\n${part.headers}\r\n${part.content}`
  return ascii(message + `--${boundary}--\r\n`)
}

// What `compose` builds is ASCII throughout: `canCompose` admits only ASCII addresses, header names
// and values, a subject that is not is an encoded word, and a body is 7bit only when it is ASCII
// (quoted-printable and base64 are). Latin-1 gives the bytes UTF-8 would, without transcoding.
const ascii = (message: string) => Buffer.from(message, "latin1")
