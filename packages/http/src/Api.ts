import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "@effect/platform"
import { Bounce, Config, Inspection, recipientStates, statuses, SubmitMessage, Suspensions } from "@sluice/engine"
import { Schema } from "effect"
import * as Problem from "./Problem.js"

/** The most messages one batch may carry. */
export const maxBatch = 1000

const Id = Schema.String.annotations({ description: "The message id Sluice gave on submit" })

export const Submitted = Schema.Struct({ id: Id, status: Schema.Literal("queued") }).annotations({
  identifier: "Submitted"
})

export const Batch = Schema.Struct({
  messages: Schema.Array(SubmitMessage).pipe(Schema.minItems(1), Schema.maxItems(maxBatch))
}).annotations({ identifier: "Batch" })

export const BatchResults = Schema.Struct({
  results: Schema.Array(Schema.Union(Submitted, Schema.Struct({ error: Problem.Document }))).annotations({
    description: "One entry per submitted message, in order: its id, or why it was refused"
  })
}).annotations({ identifier: "BatchResults" })

const Reply = Schema.Struct({
  code: Schema.Int,
  enhanced: Schema.NullOr(Schema.String),
  text: Schema.String
}).annotations({ identifier: "Reply", description: "An SMTP reply" })

export const MessageStatus = Schema.Struct({
  id: Id,
  status: Schema.Literal(...statuses).annotations({
    description: "`partial` when the recipients ended differently: each one's own status is in `recipients`"
  }),
  attempts: Schema.Int,
  upstream: Schema.NullOr(Schema.String),
  lastReply: Schema.NullOr(Reply),
  recipients: Schema.Array(Schema.Struct({
    address: Schema.String,
    status: Schema.Literal(...recipientStates),
    reply: Schema.NullOr(Reply),
    category: Schema.optional(Schema.Literal(...Bounce.categories)).annotations({
      description: "Why it bounced, was deferred or failed"
    })
  })),
  stream: Schema.String,
  submittedAt: Schema.String.annotations({ description: "ISO 8601" }),
  updatedAt: Schema.String.annotations({ description: "ISO 8601" }),
  nextAttemptAt: Schema.optional(Schema.String.annotations({ description: "ISO 8601, while deferred" })),
  suspended: Schema.optional(Schema.suspend(() => SuspensionView).annotations({
    description: "Not final, and waiting on this suspension (its stream's, or a recipient's domain's)"
  }))
}).annotations({ identifier: "MessageStatus" })

const Counts = Schema.Record({ key: Schema.String, value: Schema.Int })

export const QueueSummary = Schema.Struct({
  total: Schema.Int.annotations({ description: "Messages accepted and not yet final" }),
  byStatus: Counts.annotations({ description: "queued, deferred, delivering" }),
  byStream: Counts,
  byUpstream: Counts.annotations({ description: "By the upstream a message is with or was last tried on" }),
  byDomain: Counts.annotations({ description: "By the domains of the recipients still waiting (a message counts once per domain)" }),
  oldestSubmittedAt: Schema.NullOr(Schema.String.annotations({ description: "ISO 8601: when the oldest was accepted" })),
  oldestAgeSeconds: Schema.NullOr(Schema.Number),
  nextAttemptAt: Schema.NullOr(Schema.String.annotations({ description: "ISO 8601: the soonest retry of a deferred message" }))
}).annotations({ identifier: "QueueSummary" })

/** The most messages one page of GET /v1/messages holds. */
export const maxPage = 1000

export const MessageQuery = Schema.Struct({
  status: Schema.optional(Schema.Literal(...Inspection.queuedStatuses)),
  stream: Schema.optional(Schema.String),
  domain: Schema.optional(Schema.String),
  upstream: Schema.optional(Schema.String),
  olderThan: Schema.optional(Schema.String.annotations({ description: "Accepted at least this long ago, e.g. \"1 hour\"" })),
  cursor: Schema.optional(Schema.String.annotations({ description: "The `cursor` of the page before" })),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, maxPage)))
}).annotations({ identifier: "MessageQuery" })

export const Failures = Schema.Struct({
  failures: Schema.Array(Schema.Struct({
    id: Id,
    status: Schema.Literal("deferred", "bounced", "partial", "failed"),
    at: Schema.String.annotations({ description: "ISO 8601" }),
    upstream: Schema.String,
    stream: Schema.String,
    attempt: Schema.Int,
    reply: Schema.NullOr(Reply),
    reason: Schema.String,
    recipients: Schema.Array(Schema.Struct({ address: Schema.String, status: Schema.Literal(...recipientStates), reply: Schema.NullOr(Reply) }))
  }))
}).annotations({ identifier: "Failures" })

export const MessagePage = Schema.Struct({
  messages: Schema.Array(MessageStatus),
  cursor: Schema.optional(Schema.String.annotations({ description: "Absent on the last page; a page may be short and still have one" }))
}).annotations({ identifier: "MessagePage" })

const QueueFilter = {
  status: Schema.optional(Schema.Literal(...Inspection.queuedStatuses)),
  stream: Schema.optional(Schema.String),
  domain: Schema.optional(Schema.String),
  upstream: Schema.optional(Schema.String),
  olderThan: Schema.optional(Schema.String.annotations({ description: "Accepted at least this long ago, e.g. \"1 hour\"" })),
  all: Schema.optional(Schema.Boolean.annotations({ description: "true to act on every queued message: without a filter, it must be said" })),
  dryRun: Schema.optional(Schema.Boolean.annotations({ description: "Only count what would be touched" }))
}

export const RetryRequest = Schema.Struct(QueueFilter).annotations({ identifier: "RetryRequest" })

export const PurgeRequest = Schema.Struct({
  ...QueueFilter,
  action: Schema.Literal("bounce", "delete").annotations({
    description: "bounce: end each as bounced (its waiting recipients bounced with `reason`); delete: drop it and its record"
  }),
  reason: Schema.optional(Schema.String)
}).annotations({ identifier: "PurgeRequest" })

export const Acted = Schema.Struct({
  matched: Schema.Int.annotations({ description: "Queued messages the filter matched (for a retry, the deferred ones)" }),
  acted: Schema.Int.annotations({ description: "Of those, the ones done (0 with dryRun)" }),
  delivering: Schema.Int.annotations({ description: "Matched but on a connection: left to end as they will" }),
  dryRun: Schema.Boolean
}).annotations({ identifier: "Acted" })

export const NewSuspension = Schema.Struct({
  scope: Schema.Literal(...Suspensions.scopes),
  target: Schema.String.annotations({ description: "The stream's or upstream's configured name, or the recipient domain" }),
  reason: Schema.optional(Schema.String),
  duration: Schema.optional(Config.DurationFromInput.annotations({ description: "How long, e.g. \"2 hours\"; without it, until lifted" }))
}).annotations({ identifier: "NewSuspension" })

export const SuspensionView = Schema.Struct({
  id: Schema.String,
  scope: Schema.Literal(...Suspensions.scopes),
  target: Schema.String,
  reason: Schema.optional(Schema.String),
  createdAt: Schema.String.annotations({ description: "ISO 8601" }),
  until: Schema.optional(Schema.String.annotations({ description: "ISO 8601: when it ends by itself" }))
}).annotations({ identifier: "Suspension" })

export const TemplateSource = Schema.Struct({
  subject: Schema.optional(Schema.String),
  text: Schema.optional(Schema.String),
  html: Schema.optional(Schema.String)
}).annotations({ identifier: "TemplateSource", description: "Handlebars sources" })

export const TemplateVersion = Schema.Struct({ id: Schema.String, version: Schema.Int }).annotations({
  identifier: "TemplateVersion"
})

export const Suppression = Schema.Struct({
  address: Schema.String,
  reason: Schema.optional(Schema.String)
}).annotations({ identifier: "Suppression" })

export const Complaint = Schema.Struct({
  id: Id,
  address: Schema.optional(Schema.String.annotations({
    description: "Who complained; without it, the message's only recipient (a message with more suppresses nobody)"
  }))
}).annotations({ identifier: "Complaint" })

export const ComplaintRecorded = Schema.Struct({
  id: Id,
  status: Schema.Literal("recorded"),
  address: Schema.NullOr(Schema.String).annotations({ description: "Whose complaint it is, when known" }),
  suppressed: Schema.Boolean,
  note: Schema.optional(Schema.String.annotations({ description: "Why nobody was suppressed" }))
}).annotations({ identifier: "ComplaintRecorded" })

/** The content types POST /v1/feedback takes a raw report as, besides JSON. */
export const reportTypes = ["message/rfc822", "multipart/report", "text/plain"] as const

export const FeedbackReport = Schema.Struct({
  report: Schema.String.annotations({ description: "The whole report, as received (RFC 5322)" })
}).annotations({ identifier: "FeedbackReport" })

export const FeedbackResult = Schema.Struct({
  kind: Schema.Literal("bounce", "complaint").annotations({
    description: "bounce: a delivery status notification (RFC 3464); complaint: an abuse report (ARF, RFC 5965)"
  }),
  matched: Schema.Boolean.annotations({ description: "The report is about a message Sluice knows; when false, nothing changed" }),
  id: Schema.optional(Id),
  status: Schema.optional(Schema.Literal(...statuses).annotations({ description: "The message's status after the report" })),
  feedbackType: Schema.optional(Schema.String.annotations({ description: "An abuse report's Feedback-Type" })),
  recipients: Schema.Array(Schema.Struct({
    address: Schema.String,
    action: Schema.optional(Schema.String.annotations({ description: "The report's Action: failed, delayed, delivered, relayed, expanded" })),
    status: Schema.optional(Schema.String.annotations({ description: "The report's Status code, e.g. 5.1.1" })),
    category: Schema.optional(Schema.Literal(...Bounce.categories)),
    applied: Schema.Boolean.annotations({ description: "The recipient was marked bounced, or the complaint recorded against it" }),
    suppressed: Schema.Boolean
  })),
  note: Schema.optional(Schema.String.annotations({ description: "Why less was done than the report asks" }))
}).annotations({ identifier: "FeedbackResult" })

const Status = <const S extends string>(status: S) => Schema.Struct({ status: Schema.Literal(status) })

const problems = {
  badRequest: Problem.schema(400, "Malformed JSON, or a missing or invalid field (`field` names it)"),
  unauthorized: Problem.schema(401, "No or wrong `Authorization: Bearer <key>`"),
  notFound: Problem.schema(404, "No such message, template, suppression or suspension"),
  timeout: Problem.schema(408, "The body did not arrive within http.bodyTimeout; the connection is closed"),
  tooLarge: Problem.schema(413, "The body is larger than http.maxBodyBytes"),
  notJson: Problem.schema(415, "The body is not application/json"),
  conflict: Problem.schema(409, "The idempotencyKey was first used for another message (`id` names it), or the queue cannot do the action"),
  refused: Problem.schema(422, "A refused recipient or an unknown template (`field` names it)"),
  unavailable: Problem.schema(503, "The queue is full or unavailable; try again after `Retry-After` seconds"),
  internal: Problem.schema(500, "An unexpected failure")
}

/** When `http.apiKeys` is configured, every /v1/ call needs `Authorization: Bearer <key>`. */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("@sluice/http/Authorization", {
  failure: problems.unauthorized,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/** A group of /v1/ endpoints: they read JSON bodies and need the API key when keys are configured. */
const v1 = <const Name extends string>(name: Name) =>
  HttpApiGroup.make(name)
    .addError(problems.badRequest)
    .addError(problems.timeout)
    .addError(problems.tooLarge)
    .addError(problems.notJson)
    .middleware(Authorization)

export const messages = v1("messages")
  .add(
    HttpApiEndpoint.post("submit", "/v1/messages")
      .setPayload(SubmitMessage)
      .addSuccess(Submitted, { status: 202 })
      .addError(problems.conflict)
      .addError(problems.refused)
      .addError(problems.unavailable)
      .annotate(OpenApi.Summary, "Submit one message")
      .annotate(
        OpenApi.Description,
        "202 means the message is durably queued. Give `subject`/`text`/`html`, or `raw` (a whole RFC 5322 message), or `template: {id, vars}`."
      )
  )
  .add(
    HttpApiEndpoint.post("submitBatch", "/v1/messages/batch")
      .setPayload(Batch)
      .addSuccess(BatchResults, { status: 202 })
      .addError(problems.unavailable)
      .annotate(OpenApi.Summary, `Submit up to ${maxBatch} messages, each judged alone`)
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/messages")
      .setUrlParams(MessageQuery)
      .addSuccess(MessagePage)
      .addError(problems.unavailable)
      .annotate(OpenApi.Summary, `Queued messages matching the filters, up to ${maxPage} a page (100 by default)`)
  )
  .add(
    HttpApiEndpoint.get("failures", "/v1/failures")
      .addSuccess(Failures)
      .annotate(OpenApi.Summary, "The last 50 outcomes that were not a delivery (deferred, bounced, partial, failed), newest first, with their replies")
  )
  .add(
    HttpApiEndpoint.get("queue", "/v1/queue")
      .addSuccess(QueueSummary)
      .addError(problems.unavailable)
      .annotate(OpenApi.Summary, "What is queued: counts by status, stream, upstream and recipient domain; the oldest; the next retry")
  )
  .add(
    HttpApiEndpoint.post("retry", "/v1/queue/retry")
      .setPayload(RetryRequest)
      .addSuccess(Acted)
      .addError(problems.conflict)
      .addError(problems.unavailable)
      .annotate(OpenApi.Summary, "Make the deferred messages matching the filters due now")
  )
  .add(
    HttpApiEndpoint.post("purge", "/v1/queue/purge")
      .setPayload(PurgeRequest)
      .addSuccess(Acted)
      .addError(problems.conflict)
      .addError(problems.unavailable)
      .annotate(OpenApi.Summary, "Bounce or delete the queued messages matching the filters (dryRun: count first)")
  )
  .add(
    HttpApiEndpoint.get("status", "/v1/messages/:id")
      .setPath(Schema.Struct({ id: Id }))
      .addSuccess(MessageStatus)
      .addError(problems.notFound)
      .addError(problems.unavailable)
      .annotate(OpenApi.Summary, "Where a message stands")
  )

export const templates = v1("templates").add(
  HttpApiEndpoint.put("put", "/v1/templates/:id")
    .setPath(Schema.Struct({ id: Schema.String }))
    .setPayload(TemplateSource)
    .addSuccess(TemplateVersion)
    .annotate(OpenApi.Summary, "Store a template (Handlebars); answers its new version")
)

export const suppressions = v1("suppressions")
  .add(
    HttpApiEndpoint.post("suppress", "/v1/suppressions")
      .setPayload(Suppression)
      .addSuccess(Schema.Struct({ address: Schema.String, suppressed: Schema.Literal(true) }))
      .annotate(OpenApi.Summary, "Suppress an address: submits to it are refused with the reason")
  )
  .add(
    HttpApiEndpoint.del("unsuppress", "/v1/suppressions/:address")
      .setPath(Schema.Struct({ address: Schema.String }))
      .addSuccess(HttpApiSchema.NoContent)
      .addError(problems.notFound)
      .annotate(OpenApi.Summary, "Lift a suppression")
  )

export const suspensions = v1("suspensions")
  .add(
    HttpApiEndpoint.post("suspend", "/v1/suspensions")
      .setPayload(NewSuspension)
      .addSuccess(SuspensionView, { status: 201 })
      .annotate(OpenApi.Summary, "Suspend a stream, an upstream or a recipient domain: its mail stays queued until the suspension ends")
  )
  .add(
    HttpApiEndpoint.get("suspensions", "/v1/suspensions")
      .addSuccess(Schema.Struct({ suspensions: Schema.Array(SuspensionView) }))
      .annotate(OpenApi.Summary, "The suspensions in force")
  )
  .add(
    HttpApiEndpoint.del("resume", "/v1/suspensions/:id")
      .setPath(Schema.Struct({ id: Schema.String }))
      .addSuccess(HttpApiSchema.NoContent)
      .addError(problems.notFound)
      .annotate(OpenApi.Summary, "Lift a suspension: what it held moves again")
  )

export const complaints = v1("complaints").add(
  HttpApiEndpoint.post("complain", "/v1/complaints")
    .setPayload(Complaint)
    .addSuccess(ComplaintRecorded, { status: 202 })
    .addError(problems.notFound)
    .addError(problems.unavailable)
    .annotate(OpenApi.Summary, "Record a complaint against a message (counted in sluice_complaints_total)")
    .annotate(
      OpenApi.Description,
      "The complaining address (`address`, else the message's only recipient) is suppressed when `suppressions.auto` is on."
    )
)

export const feedback = v1("feedback").add(
  HttpApiEndpoint.post("feedback", "/v1/feedback")
    .setPayload(Schema.Union(
      FeedbackReport,
      ...reportTypes.map((contentType) => HttpApiSchema.Uint8Array({ contentType }))
    ))
    .addSuccess(FeedbackResult, { status: 202 })
    .addError(problems.unavailable)
    .annotate(OpenApi.Summary, "Apply a later bounce (DSN, RFC 3464) or a complaint (ARF, RFC 5965)")
    .annotate(
      OpenApi.Description,
      "The raw report as the body (`message/rfc822` or `text/plain`; `multipart/report` with the report's own " +
        "Content-Type header and its MIME body), or JSON `{\"report\": \"...\"}`. The message is found by the " +
        "X-Sluice-Id or Message-ID Sluice set: a failed recipient is marked bounced, a complaint counted, and the " +
        "address suppressed as for a bounce at delivery. A report about no message Sluice knows is answered " +
        "`matched: false` and changes nothing; anything that is not a report is a 400 naming what is missing."
    )
)

export const admin = v1("admin").add(
  HttpApiEndpoint.post("reload", "/v1/admin/reload")
    .addSuccess(Schema.Struct({ changed: Schema.Array(Schema.String) }))
    .addError(problems.conflict)
    .annotate(OpenApi.Summary, "Read the configuration file again: weights, roles, limits, connections, streams and retry change without dropping a message")
    .annotate(
      OpenApi.Description,
      "A file that does not decode, or that changes a section only a restart can (http, queue, cache, webhook, log, recipients), is a 400 naming each field; the running configuration stays. SIGHUP does the same."
    )
)

export const operations = HttpApiGroup.make("operations")
  .add(
    HttpApiEndpoint.get("health", "/healthz")
      .addSuccess(Status("ok"))
      .annotate(OpenApi.Summary, "200 while the process runs")
  )
  .add(
    HttpApiEndpoint.get("ready", "/readyz")
      .addSuccess(Status("ready"))
      .addError(problems.unavailable)
      .annotate(OpenApi.Summary, "200 when the queue is open and at least one upstream can take mail")
  )
  .add(
    HttpApiEndpoint.get("console", "/console")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/html" }))
      .annotate(OpenApi.Summary, "The console: the queue, rates, circuits, suspensions and deferrals at a glance (its data needs the API key)")
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; version=0.0.4; charset=utf-8" }))
      .annotate(OpenApi.Summary, "Prometheus text exposition")
      .annotate(
        OpenApi.Description,
        "Open even with http.apiKeys set; with http.publicMetrics false, this (like /openapi.json and /docs) needs `Authorization: Bearer <key>` too"
      )
  )

/**
 * Every error answer is a problem document. HttpApi documents its own decode error at 400 besides
 * ours, which would merge the two into plain JSON; the adapter renders that error as a problem too.
 */
const problemsOnly = (spec: Record<string, any>) => {
  for (const operations of Object.values<Record<string, any>>(spec.paths)) {
    for (const operation of Object.values<Record<string, any>>(operations)) {
      for (const [status, response] of Object.entries<Record<string, any>>(operation.responses ?? {})) {
        if (Number(status) >= 400 && response.content !== undefined) {
          response.content = { [Problem.contentType]: { schema: { $ref: "#/components/schemas/Problem" } } }
        }
      }
    }
  }
  delete spec.components?.schemas?.HttpApiDecodeError
  delete spec.components?.schemas?.Issue
  return spec
}

/** The HTTP API of Sluice (CONTRACT.md). Its OpenAPI document is served at /openapi.json. */
export class SluiceApi extends HttpApi.make("sluice")
  .add(messages)
  .add(templates)
  .add(suppressions)
  .add(suspensions)
  .add(admin)
  .add(complaints)
  .add(feedback)
  .add(operations)
  .addError(problems.internal)
  .annotate(OpenApi.Title, "Sluice")
  .annotate(OpenApi.Description, "HTTP ingestion for the Sluice email delivery engine")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(OpenApi.Transform, problemsOnly)
{}
