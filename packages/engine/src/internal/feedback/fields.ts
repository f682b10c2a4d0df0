/**
 * Header-like fields in blocks separated by blank lines: the body of a `message/delivery-status` part
 * (RFC 3464 §2.1: per-message fields, then one block per recipient), of a `message/feedback-report`
 * part (RFC 5965 §3.1), and the head of a returned message. Folded lines (RFC 5322 §2.2.3) are joined.
 * Everything is bounded: reports come from the outside and may be hostile.
 */

/** A block's fields by lowercased name, each with its values in order. */
export type Block = ReadonlyMap<string, ReadonlyArray<string>>

export interface Limits {
  /** Blocks read at most; the rest are counted, not parsed. */
  readonly maxBlocks: number
  /** Characters kept of one field's value (after unfolding). */
  readonly maxValueLength: number
  /** Distinct fields kept per block, and values kept per field. */
  readonly maxFields: number
}

export interface Blocks {
  readonly blocks: ReadonlyArray<Block>
  /** Blocks past `maxBlocks`, skipped. */
  readonly skipped: number
}

// RFC 5322 §3.6.8: a field name is printable ASCII but ":".
const fieldPattern = /^([!-9;-~]+)[ \t]*:(.*)$/

export const parse = (text: string, limits: Limits): Blocks => {
  const blocks: Array<Map<string, Array<string>>> = []
  let skipped = 0
  let current: Map<string, Array<string>> | undefined
  // The value being read (to append folded lines to), undefined after a dropped field.
  let values: Array<string> | undefined
  let start = 0
  while (start <= text.length) {
    let end = text.indexOf("\n", start)
    if (end < 0) end = text.length
    const line = text.slice(start, end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end)
    start = end + 1
    if (line.trim() === "") {
      current = undefined
      values = undefined
      continue
    }
    if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) {
      if (values !== undefined && values.length > 0) {
        const last = values.length - 1
        if (values[last]!.length < limits.maxValueLength) {
          values[last] = `${values[last]} ${line.trim()}`.slice(0, limits.maxValueLength)
        }
      }
      continue
    }
    if (current === undefined) {
      if (blocks.length >= limits.maxBlocks) {
        skipped++
        // Skip to the next blank line: this block is counted, not read.
        const blank = /\r?\n[ \t]*\r?\n/g
        blank.lastIndex = start - 1
        const next = blank.exec(text)
        start = next === null ? text.length + 1 : next.index + next[0].length
        continue
      }
      current = new Map()
      blocks.push(current)
    }
    const match = fieldPattern.exec(line)
    if (match === null) {
      values = undefined
      continue
    }
    const name = match[1]!.toLowerCase()
    let list = current.get(name)
    if (list === undefined) {
      if (current.size >= limits.maxFields) {
        values = undefined
        continue
      }
      current.set(name, list = [])
    }
    if (list.length >= limits.maxFields) {
      values = undefined
      continue
    }
    list.push(match[2]!.trim().slice(0, limits.maxValueLength))
    values = list
  }
  return { blocks, skipped }
}

/** The first value of `name` in `block`, if any and not empty. */
export const first = (block: Block, name: string): string | undefined => {
  const value = block.get(name)?.[0]
  return value === undefined || value === "" ? undefined : value
}

/** A value without its RFC 5322 comments ("failed (permanent)" → "failed"); one level of nesting is enough here. */
export const withoutComments = (value: string): string => value.replace(/\([^()]*\)/g, " ").replace(/\s+/g, " ").trim()

/**
 * The address of a `type; address` field (Final-Recipient, Original-Recipient: RFC 3464 §2.3.1-2),
 * without angle brackets; undefined for another type than rfc822 or utf-8 (RFC 6533), or no address.
 */
export const typedAddress = (value: string | undefined): string | undefined => {
  if (value === undefined) return undefined
  const semicolon = value.indexOf(";")
  const type = semicolon < 0 ? "rfc822" : value.slice(0, semicolon).trim().toLowerCase()
  if (type !== "rfc822" && type !== "utf-8") return undefined
  return bareAddress(semicolon < 0 ? value : value.slice(semicolon + 1))
}

/** `<a@b>` or `a@b` (or `Name <a@b>`) as `a@b`; undefined when there is no local@domain. */
export const bareAddress = (value: string): string | undefined => {
  const trimmed = withoutComments(value)
  const angle = /<([^<>]*)>/.exec(trimmed)
  const address = (angle === null ? trimmed : angle[1]!).trim()
  return /^[^\s@]+@[^\s@]+$/.test(address) ? address : undefined
}
