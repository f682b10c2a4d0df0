import { randomBytes } from "node:crypto"

// 32 random bits per process, then a counter: ids from one process increase (a store that keeps them
// in a B-tree appends, and gives messages back in acceptance order), and several processes can mint
// them without talking to each other.
const processPart = randomBytes(4).toString("hex")
let counter = randomBytes(4).readUInt32BE(0)

/**
 * Message ids sort by acceptance time (a millisecond timestamp first, base 36), then by order within
 * the process: 9 base-36 characters and 16 hex digits.
 */
export const messageId = (now: number): string => {
  counter = (counter + 1) >>> 0
  return `${now.toString(36).padStart(9, "0")}${processPart}${counter.toString(16).padStart(8, "0")}`
}
