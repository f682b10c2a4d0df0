import { Data } from "effect"
import { createHash } from "node:crypto"
import type { NewMessage } from "./Message.js"

// A repeated idempotency key is a client retrying what it sent before, or a bug of the client's sending
// another message under a key it already used. The first gets the first id back; the second must not
// be dropped silently: each queue keeps a fingerprint of what the key was first used for, and tells
// the two apart with `sameMessage`.

/** The key was first used for another message: this one was not queued. */
export class IdempotencyConflict extends Data.TaggedError("IdempotencyConflict")<{
  readonly idempotencyKey: string
  /** The id of the message the key was first used for. */
  readonly firstId: string
}> {
  override get message() {
    return `idempotencyKey "${this.idempotencyKey}" was used for another message (${this.firstId}); ` +
      "a repeated key must come with the same message, or use a new key"
  }
}

const hash = (parts: ReadonlyArray<unknown>, content?: Uint8Array) => {
  const h = createHash("sha256").update(JSON.stringify(parts))
  if (content !== undefined) h.update(content)
  return h.digest("base64url").slice(0, 22)
}

/**
 * The fingerprint of a message as submitted: its envelope, stream and what its content was made of
 * (parts or raw), not the composed bytes, which differ per submit (Message-ID, Date).
 */
export const ofSubmitted = (fields: ReadonlyArray<unknown>): string => hash(fields)

/** The fingerprint a queue keeps with a key: the one the submit gave, else one of the stored bytes. */
export const fingerprintOf = (message: NewMessage): string =>
  message.fingerprint ?? hash([message.from, message.to, message.stream], message.content)

/**
 * Whether a message with `fingerprint` repeats the one a key was first used for. A key stored before
 * fingerprints were kept has none, and is taken to be the same message, as it always was.
 */
export const sameMessage = (first: string | undefined, fingerprint: string): boolean =>
  first === undefined || first === fingerprint

/** Whom an idempotency key belongs to: the first message's id, and its fingerprint when one was kept. */
export interface Holder {
  readonly id: string
  readonly fingerprint: string | undefined
}

/** A holder as one string, for stores that keep a key's owner as text: the id, a space, the fingerprint. */
export const encodeHolder = (holder: Holder): string =>
  holder.fingerprint === undefined ? holder.id : `${holder.id} ${holder.fingerprint}`

/** `encodeHolder`'s string read back; a key stored before fingerprints were kept holds the id alone. */
export const decodeHolder = (value: string): Holder => {
  const space = value.indexOf(" ")
  return space === -1 ? { id: value, fingerprint: undefined } : { id: value.slice(0, space), fingerprint: value.slice(space + 1) }
}
