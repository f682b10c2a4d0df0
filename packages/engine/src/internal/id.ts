import { randomBytes } from "node:crypto"

/**
 * Message ids sort by acceptance time (a millisecond timestamp first) and carry 64 random bits, so
 * several processes can mint them without talking to each other.
 */
export const messageId = (now: number): string =>
  `${now.toString(36).padStart(9, "0")}${randomBytes(8).toString("hex")}`
