import { HttpApiSchema, HttpServerResponse } from "@effect/platform"
import { Data, Schema } from "effect"
import { cap } from "./internal/json.js"

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  500: "Internal Server Error",
  503: "Service Unavailable"
}

/** One of several things wrong with a request, e.g. each refused recipient. */
export interface ProblemItem {
  readonly field: string
  readonly detail: string
}

/**
 * Every answer that is not a success: `detail` says what is wrong and `field` (a path into the
 * request body, like `to[2]` or `messages[3].subject`) says where. Rendered by `toResponse` as
 * RFC 9457 problem details (`application/problem+json`).
 */
export class Problem extends Data.TaggedError("Problem")<{
  readonly status: number
  readonly detail: string
  readonly field?: string | undefined
  readonly errors?: ReadonlyArray<ProblemItem> | undefined
  /** Seconds the client should wait before trying again (also sent as `Retry-After`). */
  readonly retryAfter?: number | undefined
  /** The message the problem is about: for a 409, the one an idempotency key was first used for. */
  readonly id?: string | undefined
}> {
  override get message() {
    return this.field === undefined ? this.detail : `${this.field}: ${this.detail}`
  }
}

export const badRequest = (detail: string, field?: string) => new Problem({ status: 400, detail, field })

export const unprocessable = (detail: string, field: string, errors?: ReadonlyArray<ProblemItem>) =>
  new Problem({ status: 422, detail, field, errors: errors !== undefined && errors.length > 1 ? errors : undefined })

export const notFound = (detail: string) => new Problem({ status: 404, detail })

/** An idempotency key repeated with another message: `id` names the one the key was first used for. */
export const conflict = (detail: string, field: string, id: string) => new Problem({ status: 409, detail, field, id })

export const unavailable = (detail: string, retryAfter: number) => new Problem({ status: 503, detail, retryAfter })

const Item = Schema.Struct({ field: Schema.String, detail: Schema.String })

/** The problem document as JSON. */
export const Document = Schema.Struct({
  type: Schema.String,
  title: Schema.String,
  status: Schema.Int,
  detail: Schema.String,
  field: Schema.optional(Schema.String),
  errors: Schema.optional(Schema.Array(Item)),
  retryAfter: Schema.optional(Schema.Int),
  id: Schema.optional(Schema.String)
}).annotations({ identifier: "Problem", description: "RFC 9457 problem details" })
export type Document = typeof Document.Type

// A detail says what is wrong in a sentence or two; what it quotes of the request is already cut
// short where it is worded (internal/errors.ts), and these bound whatever else a detail or a path
// repeats of the input (a header name of a megabyte, an address, a suppression's reason).
const maxDetail = 500
const maxField = 200

const capItem = (item: ProblemItem): ProblemItem => ({ field: cap(item.field, maxField), detail: cap(item.detail, maxDetail) })

export const toDocument = (problem: Problem): Document => ({
  // "about:blank": the status code says what kind of problem it is; `detail` and `field` say the rest.
  type: "about:blank",
  title: titles[problem.status] ?? "Error",
  status: problem.status,
  detail: cap(problem.detail, maxDetail),
  ...(problem.field !== undefined ? { field: cap(problem.field, maxField) } : {}),
  ...(problem.errors !== undefined ? { errors: problem.errors.map(capItem) } : {}),
  ...(problem.retryAfter !== undefined ? { retryAfter: problem.retryAfter } : {}),
  ...(problem.id !== undefined ? { id: problem.id } : {})
})

export const contentType = "application/problem+json"

/** The headers a problem's answer carries besides its Content-Type. */
export const headersOf = (problem: Problem): Record<string, string> => {
  const headers: Record<string, string> = {}
  if (problem.retryAfter !== undefined) headers["retry-after"] = String(problem.retryAfter)
  if (problem.status === 401) headers["www-authenticate"] = "Bearer"
  // The rest of a refused body is read and discarded, then the connection closed (internal/body.ts):
  // a client still sending learns it cannot reuse it.
  if (problem.status === 413) headers.connection = "close"
  // A body too slow to arrive: the rest of it is not waited for, nor the connection kept.
  if (problem.status === 408) headers.connection = "close"
  return headers
}

export const toResponse = (problem: Problem): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(toDocument(problem), { status: problem.status, contentType, headers: headersOf(problem) })

/**
 * A Problem with `status`, as an HttpApi error schema: it types the handlers' failures and describes
 * the answer in the OpenAPI document.
 */
export const schema = (status: number, description: string) =>
  Schema.transform(
    Document,
    Schema.declare((u): u is Problem => u instanceof Problem && u.status === status),
    {
      strict: true,
      decode: ({ detail, errors, field, id, retryAfter }) => new Problem({ status, detail, field, errors, retryAfter, id }),
      encode: toDocument
    }
  ).pipe(
    HttpApiSchema.withEncoding({ kind: "Json", contentType }),
    (s) => s.annotations(HttpApiSchema.annotations({ status, description }))
  )
