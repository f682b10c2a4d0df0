import mimeFuncs from "nodemailer/lib/mime-funcs/index.js"

// RFC 5322 §2.1.1: a line is at most 998 characters, CRLF excluded, and SMTP (RFC 5321 §4.5.3.1.6)
// carries no longer text line. Strict MTAs refuse a message with a longer one, so none goes out in a
// header: what Sluice composes is folded (RFC 5322 §2.2.3) or encoded (RFC 2047), a raw message with
// one is refused, never rewritten.
export const maxLine = 998

/** The custom headers Sluice writes itself (lowercased), with why one given among `headers` is refused. */
export const reserved: ReadonlyMap<string, string> = new Map([
  ["from", "is written from `from`; give the sender there"],
  ["to", "is written from `to`; give the recipients there"],
  [
    "cc",
    "is not sent: the recipients are `to` alone, so a Cc header would name addresses that never get the message " +
    "(put them in `to`, or send a `raw` message with the headers you want)"
  ],
  ["bcc", "is not sent: every recipient is in `to`, and the envelope alone carries them (RFC 5322 §3.6.3)"],
  ["mime-version", "is written by Sluice, which builds the MIME structure from text and html (or send `raw`)"],
  ["content-type", "is written by Sluice, which builds the MIME structure from text and html (or send `raw`)"],
  ["content-transfer-encoding", "is written by Sluice, which encodes text and html itself (or send `raw`)"],
  ["x-sluice-id", "is written by Sluice: it carries the message's id, by which bounce reports and complaints find it"]
])

/**
 * Fields whose value is free text (RFC 5322 §3.6.5 Subject and Comments, and the X- fields, which carry
 * no registered structure): one too long to fold can be written as encoded words instead (RFC 2047
 * §5 (1)), which readers decode to the same text. Any other field has a structure (ids, addresses,
 * dates, URLs) that encoded words would break: one that cannot be folded is refused.
 */
export const isUnstructured = (name: string): boolean => {
  const lower = name.toLowerCase()
  return lower === "subject" || lower === "comments" || lower.startsWith("x-")
}

/**
 * True when `value` folded after `name: ` keeps every line within 998 octets: folding happens at
 * whitespace only, so it is the longest run without any (in UTF-8 octets) that decides.
 */
export const canFold = (name: string, value: string): boolean => {
  // Fast answer for the usual short value: even at 3 octets a character it fits on one line.
  const room = maxLine - name.length - 2
  if (value.length * 3 <= room) return true
  let run = 0
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x20 || c === 0x09) run = 0
    // Octets in UTF-8: a surrogate pair's two halves make four.
    else if ((run += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdfff ? 2 : 3) > room) return false
  }
  return true
}

/** An unstructured value as it can be folded: as it is when it can, else as encoded words. */
export const foldable = (name: string, value: string): string =>
  canFold(name, value) ? value : mimeFuncs.encodeWord(value, "Q", 52)

/** A header line longer than 998 octets: the name of the field it belongs to, and its length. */
export interface LongLine {
  readonly name: string
  readonly octets: number
}

const octets = (text: string, start: number, end: number) => {
  // Most lines are short enough that even all-non-ASCII they would fit.
  if ((end - start) * 3 <= maxLine) return end - start
  return Buffer.byteLength(text.slice(start, end))
}

/**
 * The first line longer than 998 octets in the header section of `message` (up to its first empty
 * line; all of it when it has none), line ends being CRLF, LF or CR; undefined when there is none.
 * A continuation line is named for the field it continues.
 */
export const longHeaderLine = (message: string): LongLine | undefined => {
  // Where the current field's name lies: cut out only for the answer (this runs for every raw message).
  let nameStart = 0
  let nameEnd = 0
  let start = 0
  while (start < message.length) {
    let end = start
    while (end < message.length) {
      const c = message.charCodeAt(end)
      if (c === 0x0d || c === 0x0a) break
      end++
    }
    if (end === start) return undefined
    const first = message.charCodeAt(start)
    if (first !== 0x20 && first !== 0x09) {
      const colon = message.indexOf(":", start)
      nameStart = start
      nameEnd = colon === -1 || colon > end ? Math.min(end, start + 76) : colon
    }
    const length = octets(message, start, end)
    if (length > maxLine) return { name: message.slice(nameStart, nameEnd), octets: length }
    start = message.charCodeAt(end) === 0x0d && message.charCodeAt(end + 1) === 0x0a ? end + 2 : end + 1
  }
  return undefined
}
