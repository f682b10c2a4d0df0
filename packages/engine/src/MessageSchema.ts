import { Schema } from "effect"
import { categories } from "./Bounce.js"
import { recipientStates, statuses } from "./Message.js"
import { Suspension } from "./Suspensions.js"

// The message model: these schemas are the types (Message.ts derives them with `.Type`), and stores
// that read messages back from outside the process (a broker, Redis) decode with them: what comes
// back is decoded, not trusted. JSON drops undefined fields, so an absent `enhanced` decodes as
// undefined.

/** Optional, and undefined when given as such (exactOptionalPropertyTypes). */
const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.UndefinedOr(schema))

export const Reply = Schema.Struct({
  code: Schema.Number,
  enhanced: Schema.optionalWith(Schema.UndefinedOr(Schema.String), { default: () => undefined }),
  text: Schema.String
})

export const Recipient = Schema.Struct({
  address: Schema.String,
  status: Schema.Literal(...recipientStates),
  /** Its own last reply. */
  reply: optional(Reply),
  /** Why it bounced, was deferred or failed (Bounce.ts). */
  category: optional(Schema.Literal(...categories))
})

/** A message ready to be queued: the envelope and the exact bytes to send. */
export const NewMessage = Schema.Struct({
  /** Minted by the engine at submit (Message-ID and X-Sluice-Id carry it, for later reports). */
  id: Schema.String,
  from: Schema.String,
  to: Schema.Array(Schema.String),
  content: Schema.Uint8ArrayFromSelf,
  stream: Schema.String,
  idempotencyKey: optional(Schema.String),
  /**
   * With an idempotency key: what the message was made of (Idempotency.ts), kept with the key so that
   * the key repeated with another message is told from a retry of the same one.
   */
  fingerprint: optional(Schema.String)
})

/** A message in the queue, as a worker gets it. */
export const Queued = Schema.Struct({
  ...NewMessage.fields,
  /** Epoch milliseconds of acceptance. */
  submittedAt: Schema.Number,
  /** Delivery attempts made so far. */
  attempts: Schema.Number,
  recipients: Schema.Array(Recipient),
  /** The upstream of the last attempt, which deferred it: its retry goes to another when one can take it. */
  lastUpstream: optional(Schema.String)
})

/** What `GET /v1/messages/{id}` answers. */
export const Record = Schema.Struct({
  id: Schema.String,
  status: Schema.Literal(...statuses),
  attempts: Schema.Number,
  stream: Schema.String,
  submittedAt: Schema.Number,
  updatedAt: Schema.Number,
  upstream: optional(Schema.String),
  lastReply: optional(Reply),
  recipients: Schema.Array(Recipient),
  /** When a deferred message is due for its next attempt (epoch ms). */
  nextAttemptAt: optional(Schema.Number),
  /** Not final, and waiting on this suspension (of its stream, a recipient's domain, or every upstream). */
  suspended: optional(Suspension)
})
