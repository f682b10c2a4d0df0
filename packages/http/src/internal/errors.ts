import type { HttpApp } from "@effect/platform"
import { HttpApiError, HttpServerError, HttpServerRequest } from "@effect/platform"
import type { ParseResult } from "effect"
import { Cause, Effect, Option } from "effect"
import { ArrayFormatter } from "effect/ParseResult"
import * as Problem from "../Problem.js"

const pathOf = (path: ReadonlyArray<PropertyKey>) =>
  path.map((key, i) => typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`).join("")

/** The first thing wrong with a decoded input, as a 400 naming its path. */
export const problemOfParse = (error: ParseResult.ParseError): Problem.Problem => {
  const [issue] = ArrayFormatter.formatErrorSync(error)
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
