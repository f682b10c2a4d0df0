import type { MessageRecord, Reply, SubmitError, Submitted } from "@sluice/engine"
import { Address, maxRecipients, Sluice } from "@sluice/engine"
import { Effect, Either, Schema } from "effect"
import * as Api from "../Api.js"
import * as Problem from "../Problem.js"
import type { Refused } from "../Recipients.js"
import { Recipients } from "../Recipients.js"
import { Templates } from "../Templates.js"
import { depthProblem, problemOfParse } from "./errors.js"

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

// How long a client should wait when the queue cannot take messages: it drains in seconds.
const retryAfterFull = 2
const retryAfterError = 5
// A full disk takes deliveries, compaction or an operator to make room: longer.
const retryAfterOutOfSpace = 30

/** What the engine says about a message or a batch, as the problem the client gets. */
export const problemOf = (error: SubmitError, prefix = ""): Problem.Problem => {
  switch (error._tag) {
    case "InvalidMessage":
      return Problem.badRequest(error.reason, `${prefix}${error.field}` || undefined)
    case "IdempotencyConflict":
      return Problem.conflict(error.message, `${prefix}idempotencyKey`, error.firstId)
    case "QueueFull":
      return Problem.unavailable(error.message, retryAfterFull)
    case "QueueError":
      return error.outOfSpace === true
        ? Problem.unavailable(`the spool's disk is full; try again later: ${error.message}`, retryAfterOutOfSpace)
        : Problem.unavailable(`the queue is unavailable: ${error.message}`, retryAfterError)
  }
}

/**
 * Turns `template: {id, vars}` into subject/text/html. The engine refuses `template`: rendering is
 * this adapter's, with the Templates service.
 */
const render = (message: Record<string, unknown>, prefix: string) =>
  Effect.gen(function*() {
    const { template, ...rest } = message
    if (template === undefined) return message
    if (!isRecord(template) || typeof template.id !== "string" || template.id === "") {
      return yield* Problem.badRequest("must be an object with a non-empty string id: {\"id\": ..., \"vars\": {...}}", `${prefix}template`)
    }
    const unexpected = Object.keys(template).find((key) => key !== "id" && key !== "vars")
    if (unexpected !== undefined) return yield* Problem.badRequest("is unexpected", `${prefix}template.${unexpected}`)
    const mixed = ["subject", "text", "html", "raw"].find((key) => rest[key] !== undefined)
    if (mixed !== undefined) {
      return yield* Problem.badRequest(`give either template or ${mixed}, not both`, `${prefix}${mixed}`)
    }
    const id = template.id
    const templates = yield* Templates
    const rendered = yield* templates.render(id, template.vars ?? {}).pipe(
      Effect.mapError((error) =>
        error._tag === "TemplateNotFound"
          ? Problem.unprocessable(
            `${error.message}; store it first with PUT /v1/templates/${encodeURIComponent(id)}`,
            `${prefix}template.id`
          )
          : Problem.unprocessable(error.message, `${prefix}template`)
      )
    )
    return { ...rest, ...rendered }
  })

/**
 * The 422 for a message some of whose recipients `refused` names (address → why), each refused
 * recipient named by its place in `to`; undefined when none is.
 */
export const refusalOf = (
  to: ReadonlyArray<unknown>,
  refused: ReadonlyMap<string, string>,
  prefix: string
): Problem.Problem | undefined => {
  const errors: Array<Problem.ProblemItem> = []
  for (let i = 0; i < to.length; i++) {
    const address = to[i]
    const reason = typeof address === "string" ? refused.get(address) : undefined
    if (reason !== undefined) errors.push({ field: `${prefix}to[${i}]`, detail: reason })
  }
  const [first] = errors
  if (first === undefined) return undefined
  return Problem.unprocessable(
    errors.length === 1 ? first.detail : `${errors.length} recipients are refused; the first: ${first.detail}`,
    first.field,
    errors
  )
}

/** Each refused address with why, as `refusalOf` takes them. */
export const reasonsOf = (refused: ReadonlyArray<Refused>): ReadonlyMap<string, string> =>
  new Map(refused.map((r) => [r.address, r.reason]))

/**
 * Refuses recipients that are suppressed (or, with `recipients.checkDomains`, whose domain does not
 * exist). Addresses with bad syntax are left to the engine, which names them the same way.
 */
const checkRecipients = (message: Record<string, unknown>, prefix: string) =>
  Effect.gen(function*() {
    const to = message.to
    // Too many recipients is the engine's 400, said before any address is looked up.
    if (!Array.isArray(to) || to.length > maxRecipients) return
    const candidates = new Set<string>()
    for (const address of to) {
      if (typeof address === "string" && Address.problem(address) === undefined) candidates.add(address)
    }
    if (candidates.size === 0) return
    const recipients = yield* Recipients
    const refused = yield* recipients.check([...candidates])
    if (refused.length === 0) return
    const problem = refusalOf(to, reasonsOf(refused), prefix)
    if (problem !== undefined) return yield* problem
  })

/** One submitted message made ready for the engine: its template rendered, its recipients checked. */
const resolve = (input: unknown, prefix: string) =>
  Effect.gen(function*() {
    if (!isRecord(input)) {
      return yield* Problem.badRequest("a message must be a JSON object", prefix.slice(0, -1) || undefined)
    }
    const message = yield* render(input, prefix)
    yield* checkRecipients(message, prefix)
    return message
  })

export const submit = (input: unknown) =>
  Effect.gen(function*() {
    const tooDeep = depthProblem(input)
    if (tooDeep !== undefined) return yield* tooDeep
    const message = yield* resolve(input, "")
    const sluice = yield* Sluice
    const { id } = yield* sluice.submit(message).pipe(Effect.mapError((error) => problemOf(error)))
    return { id, status: "queued" as const }
  })

export type BatchResult = { readonly id: string; readonly status: "queued" } | { readonly error: Problem.Document }

// Only the shape of a batch: each message is judged alone, later.
const BatchShape = Schema.Struct({
  messages: Schema.Array(Schema.Unknown).pipe(Schema.minItems(1), Schema.maxItems(Api.maxBatch))
})

/**
 * A batch's body (`{"messages": [...]}`, unknown fields refused): each message judged alone, those
 * refused here or by the engine get their problem in place, the rest are queued together. Only a
 * queue that cannot take the batch fails it as a whole.
 */
export const submitBatch = (body: unknown) =>
  Effect.suspend(() => {
    const tooDeep = depthProblem(body)
    return tooDeep !== undefined
      ? Effect.fail(tooDeep)
      : Effect.mapError(Schema.decodeUnknown(BatchShape, { onExcessProperty: "error" })(body), problemOfParse)
  }).pipe(
    Effect.flatMap(({ messages }) => submitEach(messages)),
    Effect.map((results) => ({ results }))
  )

const submitEach = (inputs: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const resolved = yield* Effect.forEach(
      inputs,
      (input, i) => Effect.either(resolve(input, `messages[${i}].`)),
      { concurrency: 16 }
    )
    const valid = resolved.flatMap((r) => Either.isRight(r) ? [r.right] : [])
    const sluice = yield* Sluice
    const submitted = valid.length === 0 ? [] : yield* sluice.submitBatch(valid).pipe(
      Effect.mapError((error) => problemOf(error))
    )
    let next = 0
    return resolved.map((r, i): BatchResult => {
      if (Either.isLeft(r)) return { error: Problem.toDocument(r.left) }
      const result: Either.Either<Submitted, SubmitError> = submitted[next++]!
      return Either.isRight(result)
        ? { id: result.right.id, status: "queued" }
        : { error: Problem.toDocument(problemOf(result.left, `messages[${i}].`)) }
    })
  })

const replyOf = (reply: Reply | undefined) =>
  reply === undefined ? null : { code: reply.code, enhanced: reply.enhanced ?? null, text: reply.text }

const iso = (epochMs: number) => new Date(epochMs).toISOString()

/** A message record as GET /v1/messages/{id} answers it. */
export const statusOf = (record: MessageRecord) => ({
  id: record.id,
  status: record.status,
  attempts: record.attempts,
  upstream: record.upstream ?? null,
  lastReply: replyOf(record.lastReply),
  recipients: record.recipients.map((r) => ({
    address: r.address,
    status: r.status,
    reply: replyOf(r.reply),
    ...(r.category === undefined ? {} : { category: r.category })
  })),
  stream: record.stream,
  submittedAt: iso(record.submittedAt),
  updatedAt: iso(record.updatedAt),
  ...(record.nextAttemptAt !== undefined && record.status === "deferred" ? { nextAttemptAt: iso(record.nextAttemptAt) } : {})
})
