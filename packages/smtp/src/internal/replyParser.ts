/** Receives each complete reply from a ReplyParser. */
export interface ReplyHandler {
  /**
   * One complete reply (RFC 5321 §4.2): `code` is its three-digit code, or 0 when the line carries
   * none (garbage from a broken or hostile server); `line` is its last line, `more` the lines before
   * it when it had several (undefined for the usual one-line reply, so nothing is allocated for it).
   */
  readonly onReply: (code: number, line: string, more: ReadonlyArray<string> | undefined) => void
  /** More text without a line end, or more lines in one reply, than any server sends: no SMTP peer. */
  readonly onOverflow: () => void
}

const LF = "\n"
const CR = 13
const HYPHEN = 45
const SPACE = 32
const TAB = 9
const ZERO = 48

// RFC 5321 §4.5.3.1.5 allows 512 octets per reply line, §4.2.1 multi-line replies; these are far
// above what any server sends and only stop a peer that streams without end from filling the heap.
const maxPartial = 64 * 1024
const maxLines = 1_000

/**
 * A reply's code: three digits, the first 2–5 (RFC 5321 §4.2; 1yz is not used in SMTP), then a space,
 * the end of the line, or (leniently) a tab. Anything else is 0: not a reply.
 */
export const replyCode = (line: string): number => {
  const a = line.charCodeAt(0) - ZERO
  const b = line.charCodeAt(1) - ZERO
  const c = line.charCodeAt(2) - ZERO
  if (!(a >= 2 && a <= 5 && b >= 0 && b <= 9 && c >= 0 && c <= 9)) return 0
  if (line.length > 3) {
    const after = line.charCodeAt(3)
    if (after !== SPACE && after !== TAB) return 0
  }
  return a * 100 + b * 10 + c
}

/**
 * Splits what the server sends into lines and lines into replies, as the bytes arrive: a line ends
 * with CRLF (a bare LF is taken as a line end too), and "ddd-" continues a reply while "ddd " or "ddd"
 * ends it (RFC 5321 §4.2.1). Text, not bytes: the socket decodes UTF-8 (a reply may carry it, RFC 6531).
 */
export class ReplyParser {
  private partial = ""
  private more: Array<string> | undefined = undefined
  /** Set by the owner when it stops listening (the connection closed while a chunk was read). */
  stopped = false

  constructor(private readonly handler: ReplyHandler) {}

  feed(chunk: string): void {
    const text = this.partial.length === 0 ? chunk : this.partial + chunk
    let start = 0
    let end = text.indexOf(LF)
    while (end !== -1) {
      const lineEnd = end > start && text.charCodeAt(end - 1) === CR ? end - 1 : end
      this.line(text.slice(start, lineEnd))
      if (this.stopped) return
      start = end + 1
      end = text.indexOf(LF, start)
    }
    this.partial = start === 0 ? text : text.slice(start)
    if (this.partial.length > maxPartial) this.overflow()
  }

  private line(line: string): void {
    if (line.charCodeAt(3) === HYPHEN) {
      const more = this.more ??= []
      more.push(line)
      if (more.length > maxLines) this.overflow()
      return
    }
    const more = this.more
    this.more = undefined
    this.handler.onReply(replyCode(line), line, more)
  }

  private overflow(): void {
    this.partial = ""
    this.more = undefined
    this.stopped = true
    this.handler.onOverflow()
  }
}
