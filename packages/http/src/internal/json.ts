/**
 * What a request's JSON may be, beyond being JSON, and how much of it a problem document repeats.
 * Parsing is iterative, but nearly everything after it recurses (Schema's decoding and its messages,
 * structured clone into a template worker): 100,000 nested arrays overflowed the stack and were
 * answered 500. And a problem that echoes the input it refuses answered 5 MB for a batch of 1,001.
 */

/** How deep a request's JSON may nest: a message is 3 levels, a batch 5; template vars get the rest. */
export const maxDepth = 64

/** How much of a refused value a problem document repeats. */
export const maxEcho = 200

/** `text` as it is, or its first `max` characters and how many more there were. */
export const cap = (text: string, max = maxEcho): string =>
  text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`

/**
 * The path to the first value nested deeper than `limit` levels, or undefined: a walk with its own
 * stack, so that a value too deep for recursion is measured without recursion.
 */
export const tooDeep = (root: unknown, limit = maxDepth): ReadonlyArray<string | number> | undefined => {
  if (typeof root !== "object" || root === null) return undefined
  // The containers from the root to the one being walked, each one's keys (undefined: an array) and
  // the position of the child being walked.
  const containers: Array<object> = [root]
  const keys: Array<ReadonlyArray<string> | undefined> = [Array.isArray(root) ? undefined : Object.keys(root)]
  const positions: Array<number> = [0]
  while (containers.length > 0) {
    const top = containers.length - 1
    const container = containers[top]!
    const names = keys[top]
    const i = positions[top]!
    if (i >= (names === undefined ? (container as Array<unknown>).length : names.length)) {
      containers.pop()
      keys.pop()
      positions.pop()
      continue
    }
    positions[top] = i + 1
    const child = names === undefined ? (container as Array<unknown>)[i] : (container as Record<string, unknown>)[names[i]!]
    if (typeof child !== "object" || child === null) continue
    if (containers.length >= limit) {
      return containers.map((_, level) => {
        const at = positions[level]! - 1
        return keys[level]?.[at] ?? at
      })
    }
    containers.push(child)
    keys.push(Array.isArray(child) ? undefined : Object.keys(child))
    positions.push(0)
  }
  return undefined
}

/**
 * A short JSON-like rendering of `value` for a message (`Expected string, actual {"a":[1,2…`): at
 * most `max` characters, read no further than that, nested values past three levels elided.
 */
export const preview = (value: unknown, max = maxEcho): string => {
  let out = ""
  // False once there is enough: everything after stops.
  const write = (text: string) => {
    out += text
    return out.length <= max
  }
  const go = (v: unknown, depth: number): boolean => {
    if (typeof v === "string") return write(JSON.stringify(v.length > max ? v.slice(0, max) : v))
    if (typeof v !== "object" || v === null) return write(String(v))
    if (depth >= 3) return write(Array.isArray(v) ? "[…]" : "{…}")
    if (Array.isArray(v)) {
      if (!write("[")) return false
      for (let i = 0; i < v.length; i++) {
        if ((i > 0 && !write(",")) || !go(v[i], depth + 1)) return false
      }
      return write("]")
    }
    if (!write("{")) return false
    let first = true
    for (const key in v) {
      if ((!first && !write(",")) || !write(`${JSON.stringify(key.length > max ? key.slice(0, max) : key)}:`)) return false
      first = false
      if (!go((v as Record<string, unknown>)[key], depth + 1)) return false
    }
    return write("}")
  }
  return go(value, 0) ? out : `${out.slice(0, max)}…`
}
