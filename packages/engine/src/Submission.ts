import { Data, Effect, ParseResult, Schema } from "effect"
import { Address } from "./Address.js"
import { compose } from "./Compose.js"
import type { NewMessage } from "./Message.js"

/** No CR, LF or NUL: a header value with them could inject headers of its own. */
const HeaderText = Schema.String.pipe(
  Schema.filter((value) => !/[\r\n\0]/.test(value) || "must not contain CR, LF or NUL", { identifier: "HeaderText" })
)
// RFC 5322 §2.2: printable ASCII except ":".
const HeaderName = Schema.String.pipe(Schema.pattern(/^[!-9;-~]{1,76}$/, { identifier: "HeaderName" }))

export const maxRecipients = 1000

/** A message as submitted (CONTRACT.md): parts to compose, or a whole `raw` message. */
export const SubmitMessage = Schema.Struct({
  from: Address,
  to: Schema.Array(Address).pipe(Schema.minItems(1), Schema.maxItems(maxRecipients)),
  subject: Schema.optional(HeaderText),
  text: Schema.optional(Schema.String),
  html: Schema.optional(Schema.String),
  headers: Schema.optional(Schema.Record({ key: HeaderName, value: HeaderText })),
  raw: Schema.optional(Schema.String.pipe(Schema.minLength(1))),
  template: Schema.optional(Schema.Struct({ id: Schema.NonEmptyString, vars: Schema.optional(Schema.Unknown) })),
  stream: Schema.optional(Schema.NonEmptyString),
  idempotencyKey: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256)))
})
export type SubmitMessage = Schema.Schema.Encoded<typeof SubmitMessage>

/** A submitted message that cannot be accepted; `field` is the path of what is wrong. */
export class InvalidMessage extends Data.TaggedError("InvalidMessage")<{
  readonly field: string
  readonly reason: string
}> {
  override get message() {
    return `${this.field || "message"}: ${this.reason}`
  }
}

const pathOf = (path: ReadonlyArray<PropertyKey>) =>
  path.map((key, i) => typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`).join("")

/** Decodes, checks and composes one message into what the queue stores. */
export const prepare = (
  input: unknown,
  streams: ReadonlySet<string>,
  defaultStream: string,
  id: string
): Effect.Effect<NewMessage, InvalidMessage> =>
  Effect.gen(function*() {
    const message = yield* Schema.decodeUnknown(SubmitMessage, { onExcessProperty: "error" })(input).pipe(
      Effect.mapError((error) => {
        const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
        return new InvalidMessage({ field: pathOf(issue?.path ?? []), reason: issue?.message ?? "is invalid" })
      })
    )
    const stream = message.stream ?? defaultStream
    if (!streams.has(stream)) {
      return yield* new InvalidMessage({ field: "stream", reason: `"${stream}" is not a configured stream (${[...streams].join(", ")})` })
    }
    if (message.template !== undefined) {
      return yield* new InvalidMessage({ field: "template", reason: "templates are not available in this engine" })
    }
    const hasParts = message.subject !== undefined || message.text !== undefined || message.html !== undefined
    if (message.raw !== undefined && (hasParts || message.headers !== undefined)) {
      return yield* new InvalidMessage({ field: "raw", reason: "give either raw or subject/text/html/headers, not both" })
    }
    if (message.raw === undefined && !hasParts) {
      return yield* new InvalidMessage({ field: "text", reason: "a message needs raw, or at least one of subject, text and html" })
    }
    const content = message.raw !== undefined ? Buffer.from(message.raw, "utf8") : yield* compose({ ...message, id })
    return {
      id,
      from: message.from,
      to: message.to,
      content,
      stream,
      ...(message.idempotencyKey !== undefined ? { idempotencyKey: message.idempotencyKey } : {})
    }
  })
