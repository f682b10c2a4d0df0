import { Args, Command, Options } from "@effect/cli"
import type { Api } from "@sluice/http"
import { Effect, Option, Schema } from "effect"
import * as admin from "./internal/admin.js"
import { choice, number } from "./internal/flags.js"

// Every subcommand talks to a running `sluice serve`: where, with which key, and how to print.
const url = Options.text("url").pipe(
  Options.withPseudoName("URL"),
  Options.withDescription("The server's HTTP address."),
  Options.withDefault("http://127.0.0.1:8025")
)
const apiKey = Options.text("api-key").pipe(
  Options.withPseudoName("KEY"),
  Options.withDescription("One of the server's http.apiKeys (default: $SLUICE_API_KEY)."),
  Options.optional
)
const json = Options.boolean("json").pipe(Options.withDescription("Print the server's JSON answer instead of a table."))
const common = { url, apiKey, json }

const targetOf = (flags: { readonly url: string; readonly apiKey: Option.Option<string>; readonly json: boolean }): admin.Target => ({
  url: flags.url,
  apiKey: Option.getOrElse(flags.apiKey, () => process.env.SLUICE_API_KEY),
  json: flags.json
})

const text = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

const status = Command.make("status", common, (flags) => {
  const target = targetOf(flags)
  return admin.call<typeof Api.QueueSummary.Encoded>(target, "GET", "/v1/queue").pipe(
    Effect.flatMap((summary) => admin.show(target, summary, admin.renderSummary))
  )
}).pipe(Command.withDescription("What is queued: counts by status, stream, upstream and recipient domain; the oldest; the next retry."))

// The filters of list, retry and purge: a message must match every one given.
const filters = {
  status: choice("status", ["queued", "deferred", "delivering"], "queued|deferred|delivering").pipe(Options.optional),
  stream: text("stream", "Only this stream."),
  domain: text("domain", "Only messages with a recipient still waiting in this domain."),
  upstream: text("upstream", "Only messages with, or last tried on, this upstream."),
  olderThan: text("older-than", "Only messages accepted at least this long ago, e.g. \"1 hour\".")
}

/** The filters given, under the API's names. */
const filterFields = (flags: Command.Command.ParseConfig<typeof filters>): Record<string, string> => {
  const fields: Record<string, string> = {}
  for (const [name, value] of [
    ["status", flags.status],
    ["stream", flags.stream],
    ["domain", flags.domain],
    ["upstream", flags.upstream],
    ["olderThan", flags.olderThan]
  ] as const) {
    if (Option.isSome(value)) fields[name] = value.value
  }
  return fields
}

const list = Command.make("list", {
  ...common,
  ...filters,
  limit: number("limit", Schema.Int.pipe(Schema.between(1, 1000)), "N").pipe(
    Options.withDescription("At most this many (default 100)."),
    Options.optional
  ),
  cursor: text("cursor", "Where the page before ended (it says so).")
}, (flags) => {
  const target = targetOf(flags)
  const query = new URLSearchParams(filterFields(flags))
  if (Option.isSome(flags.limit)) query.set("limit", String(flags.limit.value))
  if (Option.isSome(flags.cursor)) query.set("cursor", flags.cursor.value)
  return admin.call<typeof Api.MessagePage.Encoded>(target, "GET", `/v1/messages?${query}`).pipe(
    Effect.flatMap((page) => admin.show(target, page, admin.renderMessages))
  )
}).pipe(Command.withDescription("The queued messages matching every filter given, a page at a time."))

const suspend = Command.make("suspend", {
  ...common,
  scope: Args.choice([["stream", "stream"], ["upstream", "upstream"], ["domain", "domain"]] as const, { name: "scope" }),
  target: Args.text({ name: "target" }).pipe(Args.withDescription("The stream's or upstream's name, or the domain.")),
  reason: text("reason", "Why: shown with the suspension and on what it holds."),
  duration: text("for", "How long, e.g. \"2 hours\"; without it, until resumed.")
}, (flags) => {
  const target = targetOf(flags)
  const body = {
    scope: flags.scope,
    target: flags.target,
    ...Option.match(flags.reason, { onNone: () => ({}), onSome: (reason) => ({ reason }) }),
    ...Option.match(flags.duration, { onNone: () => ({}), onSome: (duration) => ({ duration }) })
  }
  return admin.call<typeof Api.SuspensionView.Encoded>(target, "POST", "/v1/suspensions", body).pipe(
    Effect.flatMap((made) => admin.show(target, made, (s) => admin.renderSuspensions([s])))
  )
}).pipe(Command.withDescription("Hold a stream, an upstream or a recipient domain: what it names stays queued until resumed or its time is up."))

const suspensions = Command.make("suspensions", common, (flags) => {
  const target = targetOf(flags)
  return admin.call<{ readonly suspensions: ReadonlyArray<typeof Api.SuspensionView.Encoded> }>(target, "GET", "/v1/suspensions").pipe(
    Effect.flatMap((answer) => admin.show(target, answer, (a) => admin.renderSuspensions(a.suspensions)))
  )
}).pipe(Command.withDescription("The suspensions in force."))

const resume = Command.make("resume", { ...common, id: Args.text({ name: "id" }).pipe(Args.withDescription("The suspension's id.")) }, (flags) => {
  const target = targetOf(flags)
  return admin.call<undefined>(target, "DELETE", `/v1/suspensions/${encodeURIComponent(flags.id)}`).pipe(
    Effect.flatMap(() => admin.show(target, { resumed: flags.id }, () => `resumed ${flags.id}`))
  )
}).pipe(Command.withDescription("Lift a suspension: what it held moves again."))

// What retry and purge take besides the filters.
const acting = {
  ...filters,
  all: Options.boolean("all").pipe(Options.withDescription("Every queued message: without a filter, it must be said.")),
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Only count what would be touched."))
}

const actingBody = (flags: Command.Command.ParseConfig<typeof acting>) => ({
  ...filterFields(flags),
  ...(flags.all ? { all: true } : {}),
  ...(flags.dryRun ? { dryRun: true } : {})
})

const renderActed = (verb: string) => (done: typeof Api.Acted.Encoded) =>
  done.dryRun
    ? `${done.matched} would be ${verb}` + (done.delivering > 0 ? ` (${done.delivering} on a connection now are left alone)` : "")
    : `${done.acted} of ${done.matched} ${verb}` + (done.delivering > 0 ? ` (${done.delivering} on a connection were left alone)` : "")

const retry = Command.make("retry", { ...common, ...acting }, (flags) => {
  const target = targetOf(flags)
  return admin.call<typeof Api.Acted.Encoded>(target, "POST", "/v1/queue/retry", actingBody(flags)).pipe(
    Effect.flatMap((done) => admin.show(target, done, renderActed("due now")))
  )
}).pipe(Command.withDescription("Make the deferred messages matching the filters due now."))

const purge = Command.make("purge", {
  ...common,
  ...acting,
  action: Args.choice([["bounce", "bounce"], ["delete", "delete"]] as const, { name: "bounce|delete" }),
  reason: text("reason", "bounce: what each recipient's reply says (default \"purged by an operator\").")
}, (flags) => {
  const target = targetOf(flags)
  const body = { ...actingBody(flags), action: flags.action, ...Option.match(flags.reason, { onNone: () => ({}), onSome: (reason) => ({ reason }) }) }
  return admin.call<typeof Api.Acted.Encoded>(target, "POST", "/v1/queue/purge", body).pipe(
    Effect.flatMap((done) => admin.show(target, done, renderActed(flags.action === "bounce" ? "bounced" : "deleted")))
  )
}).pipe(Command.withDescription("Bounce or delete the queued messages matching the filters; --dry-run counts them first."))

export const command = Command.make("queue").pipe(
  Command.withDescription("See and steer the queue of a running `sluice serve` over its HTTP API (--url, --api-key)."),
  Command.withSubcommands([status, list, suspend, suspensions, resume, retry, purge])
)
