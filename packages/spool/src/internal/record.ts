import type { Status } from "@sluice/engine"
import { Codec, MessageSchema, statuses } from "@sluice/engine"
import { Either, ParseResult, Schema } from "effect"
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

/** A record literal with every field of `Stored` written out (see `complete`). */
export type Complete = { readonly [K in keyof Required<Stored>]: Stored[K] }

/**
 * A record with every field present, in one order, optional ones as undefined. V8 gives objects of
 * one shape fast properties; a record missing some (as msgpack or a literal leaves it) that a spread
 * then fills in becomes a dictionary: ~2 KB and ~5 µs per settlement instead of ~0.2 KB and ~0.2 µs,
 * most of it garbage that lives long enough to be promoted. The mapped type makes a field added to
 * `Stored` a compile error here until it is listed.
 */
export const complete = (r: Stored): Stored => {
  const listed: Complete = {
    id: r.id,
    status: r.status,
    attempts: r.attempts,
    stream: r.stream,
    submittedAt: r.submittedAt,
    updatedAt: r.updatedAt,
    upstream: r.upstream,
    lastReply: r.lastReply,
    recipients: r.recipients,
    nextAttemptAt: r.nextAttemptAt,
    suspended: r.suspended,
    from: r.from,
    to: r.to,
    idempotencyKey: r.idempotencyKey,
    dueAt: r.dueAt
  }
  return listed
}

// Each record carries the run of the process that wrote it. What this run wrote it reads back as it
// wrote it: a Schema check per message taken and settled cost more than the rest of the spool's work.
// A record of an earlier run (a restart, a crash) is checked, as anything else read from disk is.
const run = randomBytes(6).toString("base64")
const codec: Codec.Codec<Stored> = Codec.make(Stored, (value) => (value as { run?: unknown } | null)?.run === run)
const validate = Schema.decodeUnknownEither(Stored)

/**
 * Where a message's content is. A message's bytes travel with its record (one LMDB entry to write,
 * read and drop per message, not two); spools written before kept them apart, in `contents`, and a
 * record of theirs keeps them there until its message is final.
 */
export type Content = Buffer | "apart" | undefined

export interface Entry {
  readonly record: Stored
  /** The content: inline (a view of the bytes read), `apart` in `contents`, or none (final). */
  readonly content: Content
}

// The layout: a marker byte, where the content is, the record's length (u32 LE), the record (msgpack),
// then the content to the end. The marker is the one byte msgpack never uses, so a record of the first
// layout (a bare msgpack map) is told apart by its first byte and still read. The place byte's
// `positional` bit says the record is a msgpack array of `fields`' values and the run, in that order:
// a third of the map's size, and packed and read about three times as fast (no keys to write, look up
// or add one by one). Records without the bit (a map) are still read.
const marker = 0xc1
const none = 0
const inline = 1
const apart = 2
const positional = 0x10
const header = 6

/** The order of a positional record's values; the run follows them. Append only: records on disk use it. */
const fields = [
  "id",
  "status",
  "attempts",
  "stream",
  "submittedAt",
  "updatedAt",
  "upstream",
  "lastReply",
  "recipients",
  "nextAttemptAt",
  "suspended",
  "from",
  "to",
  "idempotencyKey",
  "dueAt"
] as const satisfies ReadonlyArray<keyof Stored>

const toValues = (r: Stored): Array<unknown> => {
  const values = new Array<unknown>(fields.length + 1)
  for (let i = 0; i < fields.length; i++) values[i] = r[fields[i]!]
  values[fields.length] = run
  return values
}

/** The record of a positional layout's values: as written when this run wrote it, else checked. */
const fromValues = (values: unknown): Either.Either<Stored, string> => {
  if (!Array.isArray(values) || values.length !== fields.length + 1) {
    return Either.left(`not a spool record (expected ${fields.length + 1} values)`)
  }
  // Written out (in `fields`' order) so that every record has one shape; checked below when not ours.
  const v = values as unknown as ReadonlyArray<never>
  const record: Complete = {
    id: v[0],
    status: v[1],
    attempts: v[2],
    stream: v[3],
    submittedAt: v[4],
    updatedAt: v[5],
    upstream: v[6],
    lastReply: v[7],
    recipients: v[8],
    nextAttemptAt: v[9],
    suspended: v[10],
    from: v[11],
    to: v[12],
    idempotencyKey: v[13],
    dueAt: v[14]
  }
  if (values[fields.length] === run) return Either.right(record)
  return Either.map(
    Either.mapLeft(validate(record), (error) => ParseResult.TreeFormatter.formatErrorSync(error)),
    complete
  )
}

export const encode = (record: Stored, content: Content): Buffer => {
  const meta = Codec.packWhole(toValues(record))
  const extra = Buffer.isBuffer(content) ? content.byteLength : 0
  const bytes = Buffer.allocUnsafe(header + meta.byteLength + extra)
  bytes[0] = marker
  bytes[1] = positional | (content === undefined ? none : content === "apart" ? apart : inline)
  bytes.writeUInt32LE(meta.byteLength, 2)
  meta.copy(bytes, header)
  if (Buffer.isBuffer(content)) content.copy(bytes, header + meta.byteLength)
  return bytes
}

const unpacked = (meta: Buffer): Either.Either<unknown, string> => {
  try {
    return Either.right(Codec.unpack(meta))
  } catch (error) {
    return Either.left(`not msgpack: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/** The record in `bytes` and where its content is, or why it cannot be read. */
export const decode = (bytes: Buffer): Either.Either<Entry, string> => {
  if (bytes[0] !== marker) return Either.map(codec.decode(bytes), (record) => ({ record: complete(record), content: "apart" as const }))
  const place = bytes[1]! & ~positional
  const end = header + (bytes.length >= header ? bytes.readUInt32LE(2) : Infinity)
  if (end > bytes.length || (place !== none && place !== inline && place !== apart)) {
    return Either.left(`not a spool record (layout byte ${bytes[1]}, ${bytes.length} bytes)`)
  }
  const meta = bytes.subarray(header, end)
  const record = (bytes[1]! & positional) !== 0
    ? Either.flatMap(unpacked(meta), fromValues)
    : Either.map(codec.decode(meta), complete)
  return Either.map(record, (record) => ({
    record,
    content: place === inline ? bytes.subarray(end) : place === apart ? "apart" as const : undefined
  }))
}

/** Encodes anything else the spool keeps (quarantined records, expiry lists). */
export const { pack, unpack } = Codec
