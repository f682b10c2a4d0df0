import { Schema } from "effect"
import { categories } from "./Bounce.js"
import { recipientStates, statuses } from "./Message.js"

// Schemas of the message types (Message.ts), for stores that read them back from outside the process
// (a broker, Redis): what comes back is decoded, not trusted. Their decoded types are assignable to
// the engine's, which the stores' signatures check. JSON drops undefined fields, so an absent
// `enhanced` decodes as undefined.

export const Reply = Schema.Struct({
  code: Schema.Number,
  enhanced: Schema.optionalWith(Schema.UndefinedOr(Schema.String), { default: () => undefined }),
  text: Schema.String
})

export const Recipient = Schema.Struct({
  address: Schema.String,
  status: Schema.Literal(...recipientStates),
  reply: Schema.optional(Reply),
  category: Schema.optional(Schema.Literal(...categories))
})

export const Record = Schema.Struct({
  id: Schema.String,
  status: Schema.Literal(...statuses),
  attempts: Schema.Number,
  stream: Schema.String,
  submittedAt: Schema.Number,
  updatedAt: Schema.Number,
  upstream: Schema.optional(Schema.String),
  lastReply: Schema.optional(Reply),
  recipients: Schema.Array(Recipient),
  nextAttemptAt: Schema.optional(Schema.Number)
})

export const Queued = Schema.Struct({
  id: Schema.String,
  from: Schema.String,
  to: Schema.Array(Schema.String),
  content: Schema.Uint8ArrayFromSelf,
  stream: Schema.String,
  idempotencyKey: Schema.optional(Schema.String),
  submittedAt: Schema.Number,
  attempts: Schema.Number,
  recipients: Schema.Array(Recipient),
  lastUpstream: Schema.optional(Schema.String)
})
