import type { HttpApp } from "@effect/platform"
import { HttpApiError, HttpServerError, HttpServerRequest } from "@effect/platform"
import type { RecipientsRefused, SubmitError } from "@sluice/engine"
import { pathOf } from "@sluice/engine"
import { Cause, Effect, Option, ParseResult } from "effect"
import * as Problem from "../Problem.js"
import { maxDepth, preview, tooDeep } from "./json.js"

/** A refused value as Schema's messages show it ("actual ..."): its `preview`, never the whole of it. */
class Echo {
  constructor(readonly value: unknown) {}
  toString() {
    return preview(this.value)
  }
}

/** The issue with every value a message would show replaced by its Echo. */
const withEchoes = (issue: ParseResult.ParseIssue): ParseResult.ParseIssue => {
  switch (issue._tag) {
    case "Type":
      return issue.message === undefined ? new ParseResult.Type(issue.ast, new Echo(issue.actual)) : issue
    case "Pointer":
      return new ParseResult.Pointer(issue.path, issue.actual, withEchoes(issue.issue))
    case "Refinement":
      return new ParseResult.Refinement(issue.ast, issue.actual, issue.kind, withEchoes(issue.issue))
    case "Transformation":
      return new ParseResult.Transformation(issue.ast, issue.actual, issue.kind, withEchoes(issue.issue))
    case "Composite": {
      const issues = Array.isArray(issue.issues)
        ? issue.issues.map(withEchoes) as unknown as readonly [ParseResult.ParseIssue, ...Array<ParseResult.ParseIssue>]
        : withEchoes(issue.issues as ParseResult.ParseIssue)
      return new ParseResult.Composite(issue.ast, issue.actual, issues, issue.output)
    }
    default:
      return issue
  }
}

/**
 * A 400 naming where `body` nests too deep to be decoded, or undefined: checked before any Schema
 * decode of a body, whose recursion (and its messages') such a body would overflow.
 */
export const depthProblem = (body: unknown): Problem.Problem | undefined => {
  const path = tooDeep(body)
  if (path === undefined) return undefined
  return Problem.badRequest(
    `is nested more than ${maxDepth} levels deep; JSON in a request may nest at most ${maxDepth} levels`,
    pathOf(path)
  )
}

/** The first thing wrong with a decoded input, as a 400 naming its path; what it shows of the input is short. */
export const problemOfParse = (error: ParseResult.ParseError): Problem.Problem => {
  const [issue] = ParseResult.ArrayFormatter.formatIssueSync(withEchoes(error.issue))
  return Problem.badRequest(issue?.message ?? "is invalid", pathOf(issue?.path ?? []) || undefined)
}

/** What a failure nobody foresaw is answered: the details go to the log, not to the client. */
export const unexpected = new Problem.Problem({ status: 500, detail: "an unexpected failure; the server log has the details" })

/** Logs a failure nobody foresaw, with the request it failed. */
export const logUnexpected = (cause: Cause.Cause<unknown>, method: string, url: string) =>
  Effect.logError("http request failed", cause).pipe(Effect.annotateLogs({ method, url }))

const toProblem = (error: unknown, request: HttpServerRequest.HttpServerRequest): Problem.Problem | undefined => {
  if (error instanceof Problem.Problem) return error
  if (error instanceof HttpApiError.HttpApiDecodeError) {
    const [issue] = error.issues
    return Problem.badRequest(issue?.message ?? error.message, issue?.path.join(".") || undefined)
  }
  if (HttpServerError.isServerError(error) && error._tag === "RouteNotFound") {
    return Problem.notFound(`there is no ${request.method} ${request.url.split("?")[0]} (see /openapi.json)`)
  }
  return undefined
}

/**
 * Every error answer as problem+json, rendered in this one place: the handlers' problems (with
 * their `Retry-After`), the router's "no such route", and unexpected failures, which are logged and
 * answered 500 without internals.
 */
export const renderProblems = (app: HttpApp.Default): HttpApp.Default =>
  Effect.catchAllCause(app, (cause) =>
    Effect.gen(function*() {
      if (Cause.isInterruptedOnly(cause)) return yield* Effect.failCause(cause)
      const request = yield* HttpServerRequest.HttpServerRequest
      const failure = Cause.failureOption(cause)
      const problem = Option.isSome(failure) && !Cause.isDie(cause) ? toProblem(failure.value, request) : undefined
      if (problem !== undefined) return Problem.toResponse(problem)
      yield* logUnexpected(cause, request.method, request.url)
      return Problem.toResponse(unexpected)
    }))

// How long a client should wait when the queue cannot take messages: it drains in seconds.
const retryAfterFull = 2
const retryAfterError = 5
// A full disk takes deliveries, compaction or an operator to make room: longer.
const retryAfterOutOfSpace = 30

/** The 422 for a message some of whose recipients are refused, each named by its place in `to`. */
export const refusalOf = (error: RecipientsRefused, prefix = ""): Problem.Problem => {
  const errors: Array<Problem.ProblemItem> = error.refused.map((r) => ({ field: `${prefix}to[${r.index}]`, detail: r.reason }))
  const first = errors[0]!
  return Problem.unprocessable(
    errors.length === 1 ? first.detail : `${errors.length} recipients are refused; the first: ${first.detail}`,
    first.field,
    errors
  )
}

/** What the engine says about a message or a batch, as the problem the client gets; `prefix` is where the message is. */
export const problemOf = (error: SubmitError, prefix = ""): Problem.Problem => {
  switch (error._tag) {
    case "InvalidMessage":
      return Problem.badRequest(error.reason, `${prefix}${error.field}` || undefined)
    case "TemplateNotFound":
      return Problem.unprocessable(
        `${error.message}; store it first with PUT /v1/templates/${encodeURIComponent(error.id)}`,
        `${prefix}template.id`
      )
    case "TemplateInvalid":
      return Problem.unprocessable(error.message, `${prefix}template`)
    case "RecipientsRefused":
      return refusalOf(error, prefix)
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
