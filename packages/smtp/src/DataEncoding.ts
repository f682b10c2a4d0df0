const CR = 0x0d
const LF = 0x0a
const DOT = 0x2e

/**
 * Turns message content into the bytes sent after DATA's 354 (RFC 5321 §4.5.2): every line break
 * (CRLF, bare LF or bare CR) becomes CRLF, every line that starts with "." gets one more ".", and the
 * message ends with CRLF "." CRLF. Bare CR and LF are normalized rather than passed on because a
 * server that reads them as line ends would otherwise see an end of data we did not send
 * (SMTP smuggling). Bytes are copied as they are, so 8-bit and UTF-8 content is safe.
 */
export const encode = (content: Uint8Array): Buffer => {
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
export const has8bit = (content: Uint8Array): boolean => {
  for (let i = 0; i < content.length; i++) if (content[i]! > 0x7f) return true
  return false
}
