import type { HttpServerRequest } from "@effect/platform"
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Recipients, Templates } from "@sluice/content"
import type { Feedback, MessageRecord, QueueAction, Reply } from "@sluice/engine"
import { Address, Config, Sluice, Suspensions } from "@sluice/engine"
import { Clock, Duration, Effect, Layer, Metric, Option, ParseResult, Schema } from "effect"
import * as Api from "../Api.js"
import type { ApiKey } from "../HttpConfig.js"
import * as HttpMetrics from "../HttpMetrics.js"
import * as Problem from "../Problem.js"
import * as Reload from "../Reload.js"
import type { Limits } from "./body.js"
import { readJson, readRaw } from "./body.js"
import { depthProblem, problemOf, problemOfParse } from "./errors.js"
import * as auth from "./auth.js"
import * as consolePage from "./console.js"
import { submit, submitBatch } from "./messages.js"
import * as prometheus from "./prometheus.js"

/** Reads the body and decodes it with `schema`; unknown fields are refused, not ignored. */
const decodeBody = <A, I>(request: HttpServerRequest.HttpServerRequest, schema: Schema.Schema<A, I>, limits: Limits) =>
  readJson(request, limits).pipe(
    Effect.filterOrElse((body) => depthProblem(body) === undefined, (body) => Effect.fail(depthProblem(body)!)),
    Effect.flatMap(Schema.decodeUnknown(schema, { onExcessProperty: "error" })),
    Effect.mapError((error) => ParseResult.isParseError(error) ? problemOfParse(error) : error)
  )

const replyOf = (reply: Reply | undefined) =>
  reply === undefined ? null : { code: reply.code, enhanced: reply.enhanced ?? null, text: reply.text }

const iso = (epochMs: number) => new Date(epochMs).toISOString()

/** A message record as GET /v1/messages/{id} answers it. */
const statusOf = (record: MessageRecord) => ({
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
  ...(record.nextAttemptAt !== undefined && record.status === "deferred" ? { nextAttemptAt: iso(record.nextAttemptAt) } : {}),
  ...(record.suspended === undefined ? {} : { suspended: suspensionOf(record.suspended) })
})

const suspensionOf = (s: Suspensions.Suspension) => ({
  id: s.id,
  scope: s.scope,
  target: s.target,
  ...(s.reason === undefined ? {} : { reason: s.reason }),
  createdAt: iso(s.createdAt),
  ...(s.until === undefined ? {} : { until: iso(s.until) })
})

/** A stream or upstream the filter names must be configured: a typo is a 400, not an empty page. */
const known = (query: { readonly stream?: string | undefined; readonly upstream?: string | undefined }) =>
  Effect.flatMap(Sluice, (sluice) => {
    const { streams, upstreams } = sluice.targets
    if (query.stream !== undefined && !streams.includes(query.stream)) {
      return Problem.badRequest(`"${query.stream}" is not a configured stream (${streams.join(", ")})`, "stream")
    }
    if (query.upstream !== undefined && !upstreams.includes(query.upstream)) {
      return Problem.badRequest(`"${query.upstream}" is not a configured upstream (${upstreams.join(", ")})`, "upstream")
    }
    return Effect.void
  })

/** The filters of a retry or purge, checked as GET /v1/messages checks them; without one, `all: true` must say so. */
const filterOf = (body: typeof Api.RetryRequest.Type) =>
  Effect.gen(function*() {
    yield* known(body)
    const { all: _all, dryRun: _dryRun, ...given } = body
    if (Object.keys(given).filter((k) => k !== "action" && k !== "reason").length === 0 && body.all !== true) {
      return yield* Problem.badRequest("name at least one filter (status, stream, domain, upstream, olderThan), or all: true for every queued message", "all")
    }
    const olderThan = body.olderThan === undefined ? undefined : yield* Schema.decodeUnknown(Config.DurationFromInput)(body.olderThan).pipe(
      Effect.mapError(() => Problem.badRequest(`"${body.olderThan}" is not a duration (e.g. "90 minutes")`, "olderThan"))
    )
    return {
      status: body.status,
      stream: body.stream,
      domain: body.domain,
      upstream: body.upstream,
      olderThan: olderThan === undefined ? undefined : Duration.toMillis(olderThan)
    }
  })

/** Does an operator's action and logs it with who asked, what, and what came of it. */
const actOn = (request: HttpServerRequest.HttpServerRequest, apiKeys: ReadonlyArray<ApiKey> | undefined, body: typeof Api.RetryRequest.Type, action: QueueAction) =>
  Effect.gen(function*() {
    const filter = yield* filterOf(body)
    const sluice = yield* Sluice
    const dryRun = body.dryRun === true
    const done = yield* sluice.act(filter, action, { dryRun }).pipe(
      Effect.mapError((error) => error._tag === "QueueActionUnsupported" ? new Problem.Problem({ status: 409, detail: error.message }) : problemOf(error))
    )
    yield* Effect.logInfo(dryRun ? "queue action counted" : "queue action").pipe(Effect.annotateLogs({
      action: action._tag,
      filter: JSON.stringify(filter),
      by: auth.caller(apiKeys, request.headers.authorization),
      matched: done.matched,
      acted: done.acted
    }))
    return { ...done, dryRun }
  })

const messages = (limits: Limits, apiKeys?: ReadonlyArray<ApiKey>) =>
  HttpApiBuilder.group(Api.SluiceApi, "messages", (handlers) =>
    handlers
      .handleRaw("submit", ({ request }) => readJson(request, limits).pipe(Effect.flatMap(submit)))
      .handleRaw("submitBatch", ({ request }) => readJson(request, limits).pipe(Effect.flatMap(submitBatch)))
      .handleRaw("list", ({ request }) =>
        Effect.gen(function*() {
          // Read from the URL here, not by HttpApi: an unknown parameter is refused by name, not ignored.
          const params = Object.fromEntries(new URL(request.url, "http://localhost").searchParams)
          const query = yield* Schema.decodeUnknown(Api.MessageQuery, { onExcessProperty: "error" })(params).pipe(
            Effect.mapError(problemOfParse)
          )
          const sluice = yield* Sluice
          yield* known(query)
          const olderThan = query.olderThan === undefined ? undefined : yield* Schema.decodeUnknown(Config.DurationFromInput)(query.olderThan).pipe(
            Effect.mapError(() => Problem.badRequest(`"${query.olderThan}" is not a duration (e.g. "90 minutes")`, "olderThan"))
          )
          const page = yield* sluice.list({
            status: query.status,
            stream: query.stream,
            domain: query.domain,
            upstream: query.upstream,
            olderThan: olderThan === undefined ? undefined : Duration.toMillis(olderThan)
          }, { cursor: query.cursor, limit: query.limit ?? 100 }).pipe(Effect.mapError(problemOf))
          return { messages: page.messages.map(statusOf), ...(page.cursor === undefined ? {} : { cursor: page.cursor }) }
        }))
      .handleRaw("retry", ({ request }) =>
        Effect.flatMap(decodeBody(request, Api.RetryRequest, limits), (body) => actOn(request, apiKeys, body, { _tag: "retry" })))
      .handleRaw("purge", ({ request }) =>
        Effect.flatMap(decodeBody(request, Api.PurgeRequest, limits), (body) =>
          actOn(request, apiKeys, body, body.action === "delete" ? { _tag: "delete" } : { _tag: "bounce", reason: body.reason ?? "purged by an operator" })))
      .handle("failures", () =>
        Effect.map(Sluice, (sluice) => ({
          failures: sluice.failures().map((f) => ({
            id: f.id,
            status: f.status,
            at: iso(f.at),
            upstream: f.upstream,
            stream: f.stream,
            attempt: f.attempt,
            reply: replyOf(f.reply),
            reason: f.reason,
            recipients: f.recipients.map((r) => ({ address: r.address, status: r.status, reply: replyOf(r.reply) }))
          }))
        })))
      .handle("queue", () =>
        Effect.gen(function*() {
          const summary = yield* Effect.flatMap(Sluice, (sluice) => sluice.inspect).pipe(Effect.mapError(problemOf))
          const now = yield* Clock.currentTimeMillis
          return {
            ...summary,
            oldestSubmittedAt: summary.oldestSubmittedAt === undefined ? null : iso(summary.oldestSubmittedAt),
            oldestAgeSeconds: summary.oldestSubmittedAt === undefined ? null : Math.max(0, (now - summary.oldestSubmittedAt) / 1000),
            nextAttemptAt: summary.nextAttemptAt === undefined ? null : iso(summary.nextAttemptAt)
          }
        }))
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

const templates = (limits: Limits) =>
  HttpApiBuilder.group(Api.SluiceApi, "templates", (handlers) =>
    handlers.handleRaw("put", ({ path, request }) =>
      Effect.gen(function*() {
        const source = yield* decodeBody(request, Api.TemplateSource, limits)
        const templates = yield* Templates.Templates
        return yield* templates.put(path.id, source).pipe(
          Effect.mapError((error) =>
            error._tag === "TemplateTooLarge"
              ? new Problem.Problem({ status: 413, detail: error.message })
              : Problem.badRequest(error.message, error.field === "template" ? undefined : error.field)
          )
        )
      })))

const suppressions = (limits: Limits) =>
  HttpApiBuilder.group(Api.SluiceApi, "suppressions", (handlers) =>
    handlers
      .handleRaw("suppress", ({ request }) =>
        Effect.gen(function*() {
          const { address, reason } = yield* decodeBody(request, Api.Suppression, limits)
          const recipients = yield* Recipients.Recipients
          yield* recipients.suppress(address, reason).pipe(
            Effect.mapError((error) => Problem.badRequest(error.message, "address"))
          )
          return { address, suppressed: true as const }
        }))
      .handle("unsuppress", ({ path }) =>
        Effect.gen(function*() {
          const recipients = yield* Recipients.Recipients
          const was = yield* recipients.unsuppress(path.address).pipe(
            Effect.mapError((error) => Problem.badRequest(error.message, "address"))
          )
          if (!was) return yield* Problem.notFound(`"${path.address}" is not suppressed`)
        }))
  )

const suspensions = (limits: Limits) =>
  HttpApiBuilder.group(Api.SluiceApi, "suspensions", (handlers) =>
    handlers
      .handleRaw("suspend", ({ request }) =>
        Effect.gen(function*() {
          const input = yield* decodeBody(request, Api.NewSuspension, limits)
          const service = yield* Suspensions.Suspensions
          const suspension = yield* service.add(input).pipe(Effect.mapError((error) => Problem.badRequest(error.reason, error.field)))
          yield* Effect.logInfo("suspended").pipe(Effect.annotateLogs({ suspension: suspension.id, scope: suspension.scope, target: suspension.target }))
          return HttpServerResponse.unsafeJson(suspensionOf(suspension), { status: 201 })
        }))
      .handle("suspensions", () =>
        Effect.map(Suspensions.Suspensions, (service) => service.list).pipe(
          Effect.flatten,
          Effect.map((list) => ({ suspensions: list.map(suspensionOf) }))
        ))
      .handle("resume", ({ path }) =>
        Effect.gen(function*() {
          const service = yield* Suspensions.Suspensions
          if (!(yield* service.remove(path.id))) return yield* Problem.notFound(`no suspension with id "${path.id}"`)
          yield* Effect.logInfo("resumed").pipe(Effect.annotateLogs({ suspension: path.id }))
        }))
  )

const admin = (apiKeys?: ReadonlyArray<ApiKey>) =>
  HttpApiBuilder.group(Api.SluiceApi, "admin", (handlers) =>
    handlers.handleRaw("reload", ({ request }) =>
      Effect.gen(function*() {
        const reload = yield* Effect.serviceOption(Reload.Reload)
        if (Option.isNone(reload)) {
          return yield* new Problem.Problem({ status: 409, detail: "this server was not started from a configuration file it can read again" })
        }
        return yield* reload.value.reload(auth.caller(apiKeys, request.headers.authorization)).pipe(
          Effect.mapError((refused) =>
            new Problem.Problem({
              status: 400,
              detail: refused.message,
              field: refused.issues[0]?.path,
              errors: refused.issues.map((issue) => ({ field: issue.path, detail: issue.message }))
            })
          )
        )
      })))

const complaints = (limits: Limits) =>
  HttpApiBuilder.group(Api.SluiceApi, "complaints", (handlers) =>
    handlers.handleRaw("complain", ({ request }) =>
      Effect.gen(function*() {
        const { address, id } = yield* decodeBody(request, Api.Complaint, limits)
        const problem = address === undefined ? undefined : Address.problem(address)
        if (problem !== undefined) return yield* Problem.badRequest(`"${address}" ${problem}`, "address")
        const sluice = yield* Sluice
        // The engine counts it, publishes it, logs it and suppresses the complainer.
        const recorded = yield* sluice.complain(id, address).pipe(Effect.mapError((error) => problemOf(error)))
        if (Option.isNone(recorded)) return yield* Problem.notFound(`no message with id "${id}"`)
        yield* Metric.increment(HttpMetrics.complaints)
        const { note, suppressed } = recorded.value
        return { id, status: "recorded" as const, address: recorded.value.address ?? null, suppressed, ...(note === undefined ? {} : { note }) }
      })))

const jsonType = /^application\/(?:[\w.+-]+\+)?json$/

/**
 * The report a POST /v1/feedback carries: the body itself (message/rfc822, text/plain), a
 * multipart/report's body under a head rebuilt from the request's Content-Type (its boundary), or
 * the `report` of a JSON body. `field` is where it was, for the problem if it is no report.
 */
const readReport = (request: HttpServerRequest.HttpServerRequest, limits: Limits) =>
  Effect.gen(function*() {
    const header = request.headers["content-type"]
    const type = (header ?? "").split(";")[0]!.trim().toLowerCase()
    if (jsonType.test(type)) {
      const { report } = yield* decodeBody(request, Api.FeedbackReport, limits)
      return { bytes: Buffer.from(report, "utf8"), field: "report" }
    }
    if (!(Api.reportTypes as ReadonlyArray<string>).includes(type)) {
      return yield* new Problem.Problem({
        status: 415,
        detail: `${header === undefined ? "the request has no Content-Type" : `Content-Type "${header}" is not a report`}; send the report as ${
          Api.reportTypes.join(", ")
        }, or as JSON {"report": "..."}`
      })
    }
    const body = yield* readRaw(request, limits)
    if (body.length === 0) return yield* Problem.badRequest("the body is empty; expected a report")
    const head = type === "multipart/report" ? `Content-Type: ${header}\r\nMIME-Version: 1.0\r\n\r\n` : ""
    return { bytes: head === "" ? body : Buffer.concat([Buffer.from(head, "latin1"), body]), field: undefined }
  })

/** A FeedbackResult as the answer: absent fields left out. */
const feedbackAnswer = (result: Feedback.FeedbackResult) => ({
  kind: result.kind,
  matched: result.matched,
  ...(result.id === undefined ? {} : { id: result.id }),
  ...(result.status === undefined ? {} : { status: result.status }),
  ...(result.feedbackType === undefined ? {} : { feedbackType: result.feedbackType }),
  recipients: result.recipients.map((r) => ({
    address: r.address,
    ...(r.action === undefined ? {} : { action: r.action }),
    ...(r.status === undefined ? {} : { status: r.status }),
    ...(r.category === undefined ? {} : { category: r.category }),
    applied: r.applied,
    suppressed: r.suppressed
  })),
  ...(result.note === undefined ? {} : { note: result.note })
})

const feedback = (limits: Limits) =>
  HttpApiBuilder.group(Api.SluiceApi, "feedback", (handlers) =>
    handlers.handleRaw("feedback", ({ request }) =>
      Effect.gen(function*() {
        const { bytes, field } = yield* readReport(request, limits)
        const sluice = yield* Sluice
        const result = yield* sluice.feedback(bytes).pipe(Effect.mapError((error) =>
          error._tag === "InvalidReport" ? Problem.badRequest(error.message, field) : problemOf(error)
        ))
        return feedbackAnswer(result)
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
      .handleRaw("console", () => Effect.succeed(HttpServerResponse.text(consolePage.page, { contentType: "text/html; charset=utf-8" })))
      .handleRaw("metrics", () =>
        scrape.pipe(
          Effect.map((text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))
        ))
  }))

/** The handlers of every endpoint of `SluiceApi`. */
export const layer = (limits: Limits, apiKeys?: ReadonlyArray<ApiKey>) =>
  Layer.mergeAll(
    messages(limits, apiKeys),
    templates(limits),
    suppressions(limits),
    suspensions(limits),
    admin(apiKeys),
    complaints(limits),
    feedback(limits),
    operations
  )
