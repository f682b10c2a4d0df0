/** mulberry32: a small seeded generator, so a "random" message is the same on every run. */
export const seeded = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const lineBreaks = ["\r\n", "\n", "\r"] as const

/**
 * Thousands of lines: a third are ".", "..", ".x" or "." followed by 8-bit bytes; the rest random
 * printable and 8-bit bytes of up to 998 octets; the line breaks a mix of CRLF, LF and CR.
 */
export const dotHeavy = (seed: number, lines: number): Buffer => {
  const random = seeded(seed)
  const pick = (n: number) => Math.floor(random() * n)
  const parts: Array<Buffer> = []
  for (let i = 0; i < lines; i++) {
    const kind = pick(6)
    if (kind === 0) parts.push(Buffer.from("."))
    else if (kind === 1) parts.push(Buffer.from(".."))
    else if (kind === 2) parts.push(Buffer.from([0x2e, 0x80 + pick(128), 0x41 + pick(26)]))
    else {
      const line = Buffer.alloc(pick(999))
      for (let j = 0; j < line.length; j++) {
        // Bytes 0x20-0xff except DEL: no line breaks inside a line.
        let byte = 0x20 + pick(0xe0)
        if (byte === 0x7f) byte = 0x2e
        line[j] = byte
      }
      parts.push(line)
    }
    parts.push(Buffer.from(lineBreaks[pick(3)]!))
  }
  return Buffer.concat(parts)
}

/**
 * What the receiving server should hold for some content (an oracle written apart from
 * DataEncoding): every CRLF, LF or CR becomes CRLF, and content that does not end in a line break
 * gets one. Dot-stuffing is gone again once the server has read the message.
 */
export const normalized = (content: Uint8Array): Buffer => {
  const text = Buffer.from(content).toString("latin1").replace(/\r\n|\r|\n/g, "\r\n")
  return Buffer.from(text.length === 0 || text.endsWith("\r\n") ? text : `${text}\r\n`, "latin1")
}

/**
 * Where two byte strings first differ (-1 when they are equal): large Buffers compared with toEqual
 * are slow and print unreadably.
 */
export const firstDifference = (actual: Uint8Array, expected: Uint8Array): number => {
  const length = Math.min(actual.length, expected.length)
  for (let i = 0; i < length; i++) if (actual[i] !== expected[i]) return i
  return actual.length === expected.length ? -1 : length
}
