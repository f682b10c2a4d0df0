import type { HttpServerRequest } from "@effect/platform"
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Sluice } from "@sluice/engine"
import { Effect, Layer, Metric, Option, ParseResult, Schema } from "effect"
import * as Api from "../Api.js"
import * as HttpMetrics from "../HttpMetrics.js"
import * as Problem from "../Problem.js"
import { Recipients } from "../Recipients.js"
import { Templates } from "../Templates.js"
import { readJson } from "./body.js"
import * as prometheus from "./prometheus.js"
import { problemOf, statusOf, submit, submitBatch } from "./submit.js"

const pathOf = (path: ReadonlyArray<PropertyKey>) =>
  path.map((key, i) => typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`).join("")

/** The first thing wrong with a decoded input, as a 400 naming its path. */
const problemOfParse = (error: ParseResult.ParseError): Problem.Problem => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  return Problem.badRequest(issue?.message ?? "is invalid", pathOf(issue?.path ?? []) || undefined)
}

/** Reads the body and decodes it with `schema`; unknown fields are refused, not ignored. */
const decodeBody = <A, I>(request: HttpServerRequest.HttpServerRequest, schema: Schema.Schema<A, I>, maxBodyBytes: number) =>
  readJson(request, maxBodyBytes).pipe(
    Effect.flatMap(Schema.decodeUnknown(schema, { onExcessProperty: "error" })),
    Effect.mapError((error) => ParseResult.isParseError(error) ? problemOfParse(error) : error)
  )

// Only the shape of a batch: each message is judged alone, later.
const BatchShape = Schema.Struct({
  messages: Schema.Array(Schema.Unknown).pipe(Schema.minItems(1), Schema.maxItems(Api.maxBatch))
})

const messages = (maxBodyBytes: number) =>
  HttpApiBuilder.group(Api.SluiceApi, "messages", (handlers) =>
    handlers
      .handleRaw("submit", ({ request }) => readJson(request, maxBodyBytes).pipe(Effect.flatMap(submit)))
      .handleRaw("submitBatch", ({ request }) =>
        decodeBody(request, BatchShape, maxBodyBytes).pipe(
          Effect.flatMap(({ messages }) => submitBatch(messages)),
          Effect.map((results) => ({ results }))
        ))
      .handle("status", ({ path }) =>
        Sluice.pipe(
          Effect.flatMap((sluice) => sluice.status(path.id)),
          Effect.mapError((error) => problemOf(error)),
          Effect.flatMap(Option.match({
            onNone: () => Problem.notFound(`no message with id "${path.id}"`),
            onSome: (record) => Effect.succeed(statusOf(record))
          }))
        ))
  )

const templates = (maxBodyBytes: number) =>
  HttpApiBuilder.group(Api.SluiceApi, "templates", (handlers) =>
    handlers.handleRaw("put", ({ path, request }) =>
      Effect.gen(function*() {
        const source = yield* decodeBody(request, Api.TemplateSource, maxBodyBytes)
        const templates = yield* Templates
        return yield* templates.put(path.id, source).pipe(
          Effect.mapError((error) => Problem.badRequest(error.message, error.field === "template" ? undefined : error.field))
        )
      })))

const suppressions = (maxBodyBytes: number) =>
  HttpApiBuilder.group(Api.SluiceApi, "suppressions", (handlers) =>
    handlers
      .handleRaw("suppress", ({ request }) =>
        Effect.gen(function*() {
          const { address, reason } = yield* decodeBody(request, Api.Suppression, maxBodyBytes)
          const recipients = yield* Recipients
          yield* recipients.suppress(address, reason).pipe(
            Effect.mapError((error) => Problem.badRequest(error.message, "address"))
          )
          return { address, suppressed: true as const }
        }))
      .handle("unsuppress", ({ path }) =>
        Effect.gen(function*() {
          const recipients = yield* Recipients
          const was = yield* recipients.unsuppress(path.address).pipe(
            Effect.mapError((error) => Problem.badRequest(error.message, "address"))
          )
          if (!was) return yield* Problem.notFound(`"${path.address}" is not suppressed`)
        }))
  )

const complaints = (maxBodyBytes: number) =>
  HttpApiBuilder.group(Api.SluiceApi, "complaints", (handlers) =>
    handlers.handleRaw("complain", ({ request }) =>
      Effect.gen(function*() {
        const { id } = yield* decodeBody(request, Api.Complaint, maxBodyBytes)
        const sluice = yield* Sluice
        const record = yield* sluice.status(id).pipe(Effect.mapError((error) => problemOf(error)))
        if (Option.isNone(record)) return yield* Problem.notFound(`no message with id "${id}"`)
        yield* Metric.increment(HttpMetrics.complaints)
        yield* Effect.logInfo("complaint").pipe(Effect.annotateLogs({
          messageId: id,
          status: record.value.status,
          upstream: record.value.upstream
        }))
        return { id, status: "recorded" as const }
      })))

const operations = HttpApiBuilder.group(Api.SluiceApi, "operations", (handlers) =>
  Effect.gen(function*() {
    const scrape = yield* prometheus.make
    return handlers
      .handle("health", () => Effect.succeed({ status: "ok" as const }))
      .handle("ready", () =>
        Sluice.pipe(
          Effect.flatMap((sluice) => sluice.ready),
          Effect.flatMap((ready) =>
            ready
              ? Effect.succeed({ status: "ready" as const })
              : new Problem.Problem({ status: 503, detail: "the queue is closed or no upstream can take mail" })
          )
        ))
      .handleRaw("metrics", () =>
        scrape.pipe(
          Effect.map((text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))
        ))
  }))

/** The handlers of every endpoint of `SluiceApi`. */
export const layer = (options: { readonly maxBodyBytes: number }) =>
  Layer.mergeAll(
    messages(options.maxBodyBytes),
    templates(options.maxBodyBytes),
    suppressions(options.maxBodyBytes),
    complaints(options.maxBodyBytes),
    operations
  )
