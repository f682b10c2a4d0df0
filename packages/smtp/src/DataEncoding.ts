import { isAscii } from "node:buffer"

const CR = 0x0d
const LF = 0x0a
const DOT = 0x2e

const dotCrlf = Buffer.from(".\r\n")
const crlfDotCrlf = Buffer.from("\r\n.\r\n")

/**
 * Turns message content into the bytes sent after DATA's 354 (RFC 5321 §4.5.2): every line break
 * (CRLF, bare LF or bare CR) becomes CRLF, every line that starts with "." gets one more ".", and the
 * message ends with CRLF "." CRLF. Bare CR and LF are normalized rather than passed on because a
 * server that reads them as line ends would otherwise see an end of data we did not send
 * (SMTP smuggling). Bytes are copied as they are, so 8-bit and UTF-8 content is safe.
 */
export const encode = (content: Uint8Array): Buffer => {
  const end = endOf(content)
  // The common case (a message composed with CRLF): only its end is added, in one native copy.
  if (end !== undefined) return Buffer.concat([content, end.length === 3 ? dotCrlf : crlfDotCrlf])
  const size = encodedLength(content)
  const out = Buffer.allocUnsafe(size)
  let o = 0
  let lineStart = true
  for (let i = 0; i < content.length; i++) {
    const byte = content[i]!
    if (byte === CR || byte === LF) {
      if (byte === CR && content[i + 1] === LF) i++
      out[o++] = CR
      out[o++] = LF
      lineStart = true
    } else {
      if (lineStart && byte === DOT) out[o++] = DOT
      out[o++] = byte
      lineStart = false
    }
  }
  if (!lineStart) {
    out[o++] = CR
    out[o++] = LF
  }
  out[o++] = DOT
  out[o++] = CR
  out[o++] = LF
  return out
}

/**
 * For content that needs no change on the wire but its end (every line break already CRLF, no line
 * starting with "."), that end: "." CRLF, or CRLF "." CRLF when the content does not end with CRLF.
 * Undefined when the content needs `encode`. A sender can then write the content itself followed by
 * its end, `encode(content)` byte for byte, without copying the content.
 */
export const endOf = (content: Uint8Array): ".\r\n" | "\r\n.\r\n" | undefined => {
  if (!isCanonical(content)) return undefined
  const ended = content.length === 0 || (content[content.length - 2] === CR && content[content.length - 1] === LF)
  return ended ? ".\r\n" : "\r\n.\r\n"
}

/**
 * True when the content needs no change but its end: every CR is followed by LF, every LF follows a
 * CR, and no line starts with ".". Found with native searches for the line breaks, not a loop over
 * every byte (a tenth of the time for a message of short lines).
 */
const isCanonical = (content: Uint8Array): boolean => {
  if (content[0] === DOT) return false
  for (let lf = content.indexOf(LF); lf !== -1; lf = content.indexOf(LF, lf + 1)) {
    if (content[lf - 1] !== CR || content[lf + 1] === DOT) return false
  }
  for (let cr = content.indexOf(CR); cr !== -1; cr = content.indexOf(CR, cr + 1)) {
    if (content[cr + 1] !== LF) return false
  }
  return true
}

const encodedLength = (content: Uint8Array): number => {
  let size = 0
  let lineStart = true
  for (let i = 0; i < content.length; i++) {
    const byte = content[i]!
    if (byte === CR || byte === LF) {
      if (byte === CR && content[i + 1] === LF) i++
      size += 2
      lineStart = true
    } else {
      size += lineStart && byte === DOT ? 2 : 1
      lineStart = false
    }
  }
  return size + (lineStart ? 0 : 2) + 3
}

/** True when the content has bytes above 127, which calls for BODY=8BITMIME (RFC 6152). */
export const has8bit = (content: Uint8Array): boolean => !isAscii(content)
