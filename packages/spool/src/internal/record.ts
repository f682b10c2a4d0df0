import type { Status } from "@sluice/engine"
import { MessageSchema, statuses } from "@sluice/engine"
import { Either, ParseResult, Schema } from "effect"
import { randomBytes } from "node:crypto"
import type { Options } from "msgpackr"
import { Packr } from "msgpackr"

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
  id: Schema.String,
  stream: Schema.String,
  from: Schema.String,
  to: Schema.Array(Schema.String),
  idempotencyKey: Schema.optional(Schema.String),
  submittedAt: Schema.Number,
  updatedAt: Schema.Number,
  /** When it is ready to be taken (epoch ms); the key of its place in the due index. */
  dueAt: Schema.Number,
  attempts: Schema.Number,
  status: StoredStatus,
  // The engine's schemas: a recipient's states and categories are listed once, there. Records written
  // before `partial` and `category` existed are a subset of these, and still decode.
  recipients: Schema.Array(MessageSchema.Recipient),
  upstream: Schema.optional(Schema.String),
  lastReply: Schema.optional(MessageSchema.Reply),
  nextAttemptAt: Schema.optional(Schema.Number)
})
export type Stored = Schema.Schema.Type<typeof Stored>

// Plain msgpack maps, self-describing: a record stays readable without shared structures, and
// absent optional fields take no space.
const packr = new Packr({ useRecords: false, skipValues: [undefined] } as Options & { skipValues: Array<unknown> })
const validate = Schema.decodeUnknownEither(Stored)

// Each record carries the run of the process that wrote it. What this run wrote it reads back as it
// wrote it: a Schema check per message taken and settled cost more than the rest of the spool's work.
// A record of an earlier run (a restart, a crash) is checked, as anything else read from disk is.
const run = randomBytes(6).toString("base64")

export const encode = (record: Stored): Buffer => packr.pack({ ...record, run })

/** The record in `bytes`, or why it cannot be read. */
export const decode = (bytes: Uint8Array): Either.Either<Stored, string> => {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (error) {
    return Either.left(`not msgpack: ${error instanceof Error ? error.message : String(error)}`)
  }
  if ((value as { run?: unknown } | null)?.run === run) return Either.right(value as Stored)
  return Either.mapLeft(validate(value), (error) => ParseResult.TreeFormatter.formatErrorSync(error))
}

/** Encodes anything else the spool keeps (quarantined records). */
export const pack = (value: unknown): Buffer => packr.pack(value)
export const unpack = (bytes: Uint8Array): unknown => packr.unpack(bytes)

