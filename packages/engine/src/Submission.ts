import { Data, Effect, Either, ParseResult, Schema } from "effect"
import { Address } from "./Address.js"
import type { Parts } from "./Compose.js"
import { compose, composeNow } from "./Compose.js"
import * as Idempotency from "./Idempotency.js"
import { pathOf } from "./FieldPath.js"
import * as Headers from "./internal/headers.js"
import * as Mime from "./internal/mime.js"
import type { NewMessage } from "./Message.js"
import type { RecipientsShape } from "./Recipients.js"
import { RecipientsRefused } from "./Recipients.js"
import type { TemplateInvalid, TemplateNotFound, TemplatesShape } from "./Templates.js"

/** No CR, LF or NUL: a header value with them could inject headers of its own. */
const HeaderText = Schema.String.pipe(
  Schema.filter((value) => !/[\r\n\0]/.test(value) || "must not contain CR, LF or NUL", { identifier: "HeaderText" })
)
// RFC 5322 §2.2: printable ASCII except ":".
const HeaderName = Schema.String.pipe(Schema.pattern(/^[!-9;-~]{1,76}$/, { identifier: "HeaderName" }))

export const maxRecipients = 1000

const templateShape = "must be an object with a non-empty string id: {\"id\": ..., \"vars\": {...}}"

/** A template to render (`Templates`): said as one rule, at `template`, unless a key is unexpected (named where it is). */
const Template = Schema.Struct({ id: Schema.NonEmptyString, vars: Schema.optional(Schema.Unknown) }).annotations({
  message: (issue) => ({
    message: templateShape,
    override: !(issue._tag === "Composite" &&
      (Array.isArray(issue.issues) ? issue.issues : [issue.issues]).every((i: ParseResult.ParseIssue) =>
        i._tag === "Pointer" && i.issue._tag === "Unexpected"
      ))
  })
})

/** A message as submitted (CONTRACT.md): parts to compose, or a whole `raw` message. */
export const SubmitMessage = Schema.Struct({
  from: Address,
  to: Schema.Array(Address).pipe(Schema.minItems(1), Schema.maxItems(maxRecipients)),
  subject: Schema.optional(HeaderText),
  text: Schema.optional(Schema.String),
  html: Schema.optional(Schema.String),
  headers: Schema.optional(Schema.Record({ key: HeaderName, value: HeaderText })),
  raw: Schema.optional(Schema.String.pipe(Schema.minLength(1))),
  template: Schema.optional(Template),
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

const decodeEither = Schema.decodeUnknownEither(SubmitMessage, { onExcessProperty: "error" })

/**
 * Decodes an input with `SubmitMessage` (unknown fields refused); the first issue names its path.
 * For the edges (HTTP, `createEngine`): `Sluice.submit` takes what it gives and trusts it.
 */
export const decodeMessage = (input: unknown): Either.Either<SubmitMessage, InvalidMessage> =>
  Either.mapLeft(decodeEither(input), (error) => {
    const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
    return new InvalidMessage({ field: pathOf(issue?.path ?? []), reason: issue?.message ?? "is invalid" })
  })

/**
 * What the schema cannot say about a decoded (and rendered) message: its stream is configured, it is
 * raw or parts (not both, not neither). Its stream, or why it is refused.
 */
const check = (
  message: SubmitMessage,
  streams: ReadonlySet<string>,
  defaultStream: string
): Either.Either<string, InvalidMessage> => {
  const stream = message.stream ?? defaultStream
  if (!streams.has(stream)) {
    return Either.left(new InvalidMessage({ field: "stream", reason: `"${stream}" is not a configured stream (${[...streams].join(", ")})` }))
  }
  if (message.template !== undefined) {
    // `resolveEach` renders every template before this; one left means a caller skipped it.
    return Either.left(new InvalidMessage({ field: "template", reason: "was not rendered" }))
  }
  const hasParts = message.subject !== undefined || message.text !== undefined || message.html !== undefined
  if (message.raw !== undefined && (hasParts || message.headers !== undefined)) {
    return Either.left(new InvalidMessage({ field: "raw", reason: "give either raw or subject/text/html/headers, not both" }))
  }
  if (message.raw === undefined && !hasParts) {
    return Either.left(new InvalidMessage({ field: "text", reason: "a message needs raw, or at least one of subject, text and html" }))
  }
  const refused = message.raw !== undefined ? rawProblem(message.raw) : message.headers !== undefined ? headersProblem(message) : undefined
  return refused !== undefined ? Either.left(refused) : Either.right(stream)
}

/** A custom header Sluice writes itself, or one too long to go out folded (internal/headers.ts). */
const headersProblem = (message: SubmitMessage): InvalidMessage | undefined => {
  for (const name in message.headers) {
    const lower = name.toLowerCase()
    const reserved = Headers.reserved.get(lower)
    if (reserved !== undefined) return new InvalidMessage({ field: `headers.${name}`, reason: reserved })
    if (lower === "subject" && message.subject !== undefined) {
      return new InvalidMessage({ field: `headers.${name}`, reason: "is given twice, here and as `subject`; give it once, as `subject`" })
    }
    if (!Headers.isUnstructured(name) && !Headers.canFold(name, message.headers[name]!)) {
      return new InvalidMessage({
        field: `headers.${name}`,
        reason: `has a run of more than ${Headers.maxLine - name.length - 2} octets without whitespace, so its line cannot be folded ` +
          `within the ${Headers.maxLine} octets RFC 5322 §2.1.1 allows`
      })
    }
  }
  return undefined
}

/** A raw message goes out as it is: one with a header line SMTP may not carry is refused, not rewritten. */
const rawProblem = (raw: string): InvalidMessage | undefined => {
  const long = Headers.longHeaderLine(raw)
  if (long === undefined) return undefined
  return new InvalidMessage({
    field: "raw",
    reason: `has a header line of ${long.octets} octets (${JSON.stringify(long.name)}); RFC 5322 §2.1.1 allows ` +
      `${Headers.maxLine}: fold it (a line that goes on starts with a space or tab)`
  })
}

/**
 * What MailComposer composed, checked once more: a header line longer than SMTP carries is refused,
 * named by its field, rather than sent (a structure it writes on one line).
 */
const composedProblem = (message: SubmitMessage, content: Uint8Array): InvalidMessage | undefined => {
  const buffer = Buffer.isBuffer(content) ? content : Buffer.from(content.buffer, content.byteOffset, content.byteLength)
  const end = buffer.indexOf("\r\n\r\n")
  const long = Headers.longHeaderLine(buffer.toString("utf8", 0, end === -1 ? buffer.length : end))
  if (long === undefined) return undefined
  const lower = long.name.toLowerCase()
  const own = Object.keys(message.headers ?? {}).find((name) => name.toLowerCase() === lower)
  const field = own !== undefined ? `headers.${own}` : lower === "from" || lower === "to" || lower === "subject" ? lower : "headers"
  return new InvalidMessage({
    field,
    reason: `would go out as a header line of ${long.octets} octets (${JSON.stringify(long.name)}); ` +
      `RFC 5322 §2.1.1 allows ${Headers.maxLine}`
  })
}

// One literal, every field present: no spread of a second object per message.
const newMessage = (message: SubmitMessage, stream: string, id: string, content: Uint8Array): NewMessage => ({
  id,
  from: message.from,
  to: message.to,
  content,
  stream,
  idempotencyKey: message.idempotencyKey,
  // What the message is made of as submitted: the composed bytes differ per submit (Message-ID, Date).
  fingerprint: message.idempotencyKey === undefined ? undefined : Idempotency.ofSubmitted([
    message.from,
    message.to,
    stream,
    message.subject,
    message.text,
    message.html,
    message.headers === undefined ? undefined : Object.entries(message.headers),
    message.raw
  ])
})

const composed = (message: SubmitMessage, stream: string, id: string, content: Uint8Array) => {
  const problem = composedProblem(message, content)
  return problem === undefined ? Either.right(newMessage(message, stream, id, content)) : Either.left(problem)
}

/**
 * A decoded message checked and composed: at once when it is raw or of a shape `Compose` builds
 * directly, an Effect when MailComposer builds it.
 */
const prepareNow = (
  message: SubmitMessage,
  streams: ReadonlySet<string>,
  defaultStream: string,
  id: string
): Either.Either<NewMessage, InvalidMessage> | Effect.Effect<NewMessage, InvalidMessage> => {
  const checked = check(message, streams, defaultStream)
  if (Either.isLeft(checked)) return Either.left(checked.left)
  const stream = checked.right
  if (message.raw !== undefined) {
    return Either.right(newMessage(message, stream, id, Buffer.from(Mime.completeRaw(message.raw, message.from, id), "utf8")))
  }
  // The fields composing reads, as one literal (a spread of the whole message cost an object more).
  const parts: Parts = { from: message.from, to: message.to, subject: message.subject, text: message.text, html: message.html, headers: message.headers, id }
  const content = composeNow(parts)
  // What `Mime.compose` builds folds or encodes every header line by construction (and its tests say
  // so); MailComposer's is checked.
  return content !== undefined
    ? Either.right(newMessage(message, stream, id, content))
    : Effect.flatMap(compose(parts), (content) => composed(message, stream, id, content))
}

/**
 * Many messages, decoded (or why not), each checked and composed with the id `id()` gives: what runs
 * per message is a plain loop, and Effect only for the messages MailComposer builds.
 */
export const prepareEach = <E>(
  messages: ReadonlyArray<Either.Either<SubmitMessage, E>>,
  streams: ReadonlySet<string>,
  defaultStream: string,
  id: () => string
): Effect.Effect<ReadonlyArray<Either.Either<NewMessage, E | InvalidMessage>>> =>
  Effect.suspend(() => {
    let later = false
    const prepared = messages.map((message) => {
      if (Either.isLeft(message)) return Either.left(message.left)
      const now = prepareNow(message.right, streams, defaultStream, id())
      later ||= !Either.isEither(now)
      return now
    })
    if (!later) return Effect.succeed(prepared as ReadonlyArray<Either.Either<NewMessage, E | InvalidMessage>>)
    return Effect.forEach(prepared, (p) => Either.isEither(p) ? Effect.succeed(p) : Effect.either(p))
  })

/** Why a decoded message is refused before it is composed: a template that does not render, a recipient refused. */
export type Refusal = InvalidMessage | TemplateNotFound | TemplateInvalid | RecipientsRefused

const partsOfTemplate = ["subject", "text", "html", "raw"] as const

/** A message's `template` rendered into its subject, text and html; the result decoded again, as a submit is. */
const render = (
  message: SubmitMessage,
  template: NonNullable<SubmitMessage["template"]>,
  templates: TemplatesShape | undefined
): Effect.Effect<SubmitMessage, Refusal> => {
  if (templates === undefined) {
    return Effect.fail(
      new InvalidMessage({
        field: "template",
        reason: "templates are not available: this engine was built without a Templates service (@sluice/content provides one)"
      })
    )
  }
  const mixed = partsOfTemplate.find((key) => message[key] !== undefined)
  if (mixed !== undefined) return Effect.fail(new InvalidMessage({ field: mixed, reason: `give either template or ${mixed}, not both` }))
  const { template: _, ...rest } = message
  // What a template gives goes through the schema as a submit does (a subject with a line break).
  return Effect.flatMap(templates.render(template.id, template.vars ?? {}), (rendered) => decodeMessage({ ...rest, ...rendered }))
}

/**
 * Each message's template rendered and its recipients checked, as one lookup for all of them: a
 * message that passes goes on to `prepareEach`, one that does not keeps why in its place. Messages
 * without a template run no Effect of their own.
 */
export const resolveEach = (
  messages: ReadonlyArray<SubmitMessage>,
  templates: TemplatesShape | undefined,
  recipients: RecipientsShape | undefined
): Effect.Effect<ReadonlyArray<Either.Either<SubmitMessage, Refusal>>> =>
  Effect.gen(function*() {
    const rendered: ReadonlyArray<Either.Either<SubmitMessage, Refusal>> = messages.some((m) => m.template !== undefined)
      ? yield* Effect.forEach(
        messages,
        (m) => m.template === undefined ? Effect.succeed(Either.right(m)) : Effect.either(render(m, m.template, templates)),
        { concurrency: 16 }
      )
      : messages.map((m) => Either.right(m))
    if (recipients === undefined) return rendered
    const addresses = new Set<string>()
    for (const r of rendered) if (Either.isRight(r)) for (const address of r.right.to) addresses.add(address)
    if (addresses.size === 0) return rendered
    const refused = yield* recipients.check([...addresses])
    if (refused.length === 0) return rendered
    const reasons = new Map(refused.map((r) => [r.address, r.reason]))
    return rendered.map((r) => {
      if (Either.isLeft(r)) return r
      const mine = r.right.to.flatMap((address, index) => {
        const reason = reasons.get(address)
        return reason === undefined ? [] : [{ index, address, reason }]
      })
      return mine.length === 0 ? r : Either.left(new RecipientsRefused({ refused: mine }))
    })
  })
