import type { SubmitError, SubmitMessage, Submitted } from "@sluice/engine"
import { decodeMessage, Sluice } from "@sluice/engine"
import { Effect, Either, Schema } from "effect"
import * as Api from "../Api.js"
import * as Problem from "../Problem.js"
import { depthProblem, problemOf, problemOfParse } from "./errors.js"

/**
 * The edge of `POST /v1/messages` and `/v1/messages/batch` on the HttpApi app (and the fast path's
 * fallback): the body decoded with the engine's `SubmitMessage`, handed to `Sluice.submit`, which
 * renders, checks, composes and queues; its errors worded as problems.
 */

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** One message of a body decoded, or its problem; `prefix` is where it is in the body. */
const decode = (input: unknown, prefix: string): Either.Either<SubmitMessage, Problem.Problem> => {
  if (!isRecord(input)) return Either.left(Problem.badRequest("a message must be a JSON object", prefix.slice(0, -1) || undefined))
  return Either.mapLeft(decodeMessage(input), (error) => problemOf(error, prefix))
}

export const queued = (submitted: Submitted) => ({ id: submitted.id, status: "queued" as const })

export const submit = (body: unknown) =>
  Effect.gen(function*() {
    const tooDeep = depthProblem(body)
    if (tooDeep !== undefined) return yield* tooDeep
    const message = yield* decode(body, "")
    const sluice = yield* Sluice
    return queued(yield* sluice.submit(message).pipe(Effect.mapError((error) => problemOf(error))))
  })

export type BatchResult = { readonly id: string; readonly status: "queued" } | { readonly error: Problem.Document }

/** The answer of a batch: each message's id, or its problem in its place. */
export const batchResults = (
  outcomes: ReadonlyArray<Either.Either<Submitted, SubmitError | Problem.Problem>>
): ReadonlyArray<BatchResult> =>
  outcomes.map((outcome, i) => {
    if (Either.isRight(outcome)) return queued(outcome.right)
    const error = outcome.left
    return { error: Problem.toDocument(error instanceof Problem.Problem ? error : problemOf(error, `messages[${i}].`)) }
  })

// Only the shape of a batch: each message is judged alone, later.
const BatchShape = Schema.Struct({
  messages: Schema.Array(Schema.Unknown).pipe(Schema.minItems(1), Schema.maxItems(Api.maxBatch))
})

/**
 * A batch's body (`{"messages": [...]}`, unknown fields refused): each message decoded alone, those
 * refused here or by the engine get their problem in place, the rest go to the engine together.
 * Only a queue that cannot take the batch fails it as a whole.
 */
export const submitBatch = (body: unknown) =>
  Effect.gen(function*() {
    const tooDeep = depthProblem(body)
    if (tooDeep !== undefined) return yield* tooDeep
    const { messages } = yield* Effect.mapError(Schema.decodeUnknown(BatchShape, { onExcessProperty: "error" })(body), problemOfParse)
    const decoded = messages.map((input, i) => decode(input, `messages[${i}].`))
    const valid = decoded.flatMap((d) => Either.isRight(d) ? [d.right] : [])
    const sluice = yield* Sluice
    const submitted = valid.length === 0 ? [] : yield* sluice.submitBatch(valid).pipe(Effect.mapError((error) => problemOf(error)))
    let next = 0
    return { results: batchResults(decoded.map((d) => Either.isLeft(d) ? Either.left(d.left) : submitted[next++]!)) }
  })
