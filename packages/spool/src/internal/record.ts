import type { Status } from "@sluice/engine"
import { Codec, MessageSchema, statuses } from "@sluice/engine"
import { Schema } from "effect"
import { randomBytes } from "node:crypto"

/** Every status of the engine's list but `delivering`: that one is the scheduler's, never stored. */
const StoredStatus = Schema.Literal(...statuses).pipe(
  Schema.filter((status): status is Exclude<Status, "delivering"> => status !== "delivering", {
    message: () => "\"delivering\" is never stored"
  })
)

/**
 * What the spool keeps per message, beside its content: the envelope, where it stands, and when it
 * is due. It is read back from disk, so it is decoded, not trusted.
 */
export const Stored = Schema.Struct({
  // The engine's record (MessageSchema: a recipient's states and categories are listed once, there;
  // records written before `partial` and `category` existed are a subset, and still decode) ...
  ...MessageSchema.Record.fields,
  status: StoredStatus,
  // ... and the envelope and place in the due index beside it.
  from: MessageSchema.Queued.fields.from,
  to: MessageSchema.Queued.fields.to,
  idempotencyKey: MessageSchema.Queued.fields.idempotencyKey,
  /** When it is ready to be taken (epoch ms); the key of its place in the due index. */
  dueAt: Schema.Number
})
export type Stored = Schema.Schema.Type<typeof Stored>

// Each record carries the run of the process that wrote it. What this run wrote it reads back as it
// wrote it: a Schema check per message taken and settled cost more than the rest of the spool's work.
// A record of an earlier run (a restart, a crash) is checked, as anything else read from disk is.
const run = randomBytes(6).toString("base64")
const codec: Codec.Codec<Stored> = Codec.make(Stored, (value) => (value as { run?: unknown } | null)?.run === run)

export const encode = (record: Stored): Buffer => codec.encode({ ...record, run } as Stored)

/** The record in `bytes`, or why it cannot be read. */
export const decode = codec.decode

/** Encodes anything else the spool keeps (quarantined records). */
export const { pack, unpack } = Codec
