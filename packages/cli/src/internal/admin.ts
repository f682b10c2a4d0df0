/**
 * The client side of `sluice queue`: calls to a running server's HTTP API, and what they answer as
 * a readable table or as the JSON itself.
 */
import type { Api } from "@sluice/http"
import { Console, Data, Effect } from "effect"

// The answers' shapes, as the API's schemas encode them (JSON).
type Summary = typeof Api.QueueSummary.Encoded
type MessagePage = typeof Api.MessagePage.Encoded
type Suspension = typeof Api.SuspensionView.Encoded
interface ProblemBody {
  readonly detail?: string
  readonly field?: string
}

/** The server refused the request (4xx): something given was wrong, `field` names what. */
export class AdminRefused extends Data.TaggedError("AdminRefused")<{
  readonly status: number
  readonly detail: string
  readonly field?: string | undefined
}> {
  override get message() {
    return `${this.field === undefined ? "" : `${this.field}: `}${this.detail} (HTTP ${this.status})`
  }
}

/** The server could not be reached or failed (5xx). */
export class AdminUnavailable extends Data.TaggedError("AdminUnavailable")<{
  readonly url: string
  readonly reason: string
}> {
  override get message() {
    return `${this.url}: ${this.reason}`
  }
}

export interface Target {
  readonly url: string
  readonly apiKey: string | undefined
  readonly json: boolean
}

/** One call; the JSON answer (undefined for 204), or why not. */
export const call = <A>(target: Target, method: string, path: string, body?: unknown): Effect.Effect<A, AdminRefused | AdminUnavailable> =>
  Effect.tryPromise({
    try: async (signal) => {
      const url = new URL(path, target.url).href
      const response = await fetch(url, {
        method,
        signal,
        headers: {
          ...(target.apiKey === undefined ? {} : { authorization: `Bearer ${target.apiKey}` }),
          ...(body === undefined ? {} : { "content-type": "application/json" })
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      const text = await response.text()
      const parsed: unknown = text === "" ? undefined : JSON.parse(text)
      return { status: response.status, body: parsed }
    },
    catch: (error) => new AdminUnavailable({ url: target.url, reason: String((error as Error).cause ?? (error as Error).message ?? error) })
  }).pipe(
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new AdminUnavailable({ url: target.url, reason: "no answer within 30 seconds" }) }),
    Effect.flatMap(({ body, status }): Effect.Effect<A, AdminRefused | AdminUnavailable> => {
      if (status < 400) return Effect.succeed(body as A)
      const problem = (body ?? {}) as ProblemBody
      if (status < 500) return Effect.fail(new AdminRefused({ status, detail: problem.detail ?? "refused", field: problem.field }))
      return Effect.fail(new AdminUnavailable({ url: target.url, reason: `HTTP ${status}: ${problem.detail ?? "server error"}` }))
    })
  )

/** Rows as aligned columns, headed. */
export const table = (columns: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map(line)].join("\n")
}

/** Prints `value` as JSON with --json, else as `render` makes it. */
export const show = <A>(target: Target, value: A, render: (value: A) => string) =>
  Console.log(target.json ? JSON.stringify(value, null, 2) : render(value))

const counts = (title: string, record: Record<string, number>) => {
  const entries = Object.entries(record).sort((a, b) => b[1] - a[1])
  return entries.length === 0 ? `${title}: none` : `${title}:\n${table(["name", "messages"], entries.map(([k, v]) => [k, String(v)]))}`
}

export const renderSummary = (s: Summary): string =>
  [
    `queued messages: ${s.total}` +
    (s.oldestSubmittedAt === null ? "" : `, oldest accepted ${s.oldestSubmittedAt} (${Math.round(s.oldestAgeSeconds ?? 0)} s ago)`) +
    (s.nextAttemptAt === null ? "" : `, next retry ${s.nextAttemptAt}`),
    counts("by status", s.byStatus),
    counts("by stream", s.byStream),
    counts("by upstream", s.byUpstream),
    counts("by domain", s.byDomain)
  ].join("\n\n")

export const renderMessages = (page: MessagePage): string => {
  const rows = page.messages.map((m) => [
    m.id,
    m.status,
    m.stream,
    String(m.attempts),
    m.recipients.map((r) => r.address).join(","),
    m.submittedAt,
    m.suspended === undefined ? "" : `${m.suspended.scope} ${m.suspended.target}`
  ])
  const more = page.cursor === undefined ? "" : `\nmore: --cursor ${page.cursor}`
  return `${table(["id", "status", "stream", "attempts", "recipients", "accepted", "suspended by"], rows)}${more}`
}

export const renderSuspensions = (list: ReadonlyArray<Suspension>): string =>
  list.length === 0
    ? "no suspensions"
    : table(
      ["id", "scope", "target", "until", "reason"],
      list.map((s) => [s.id, s.scope, s.target, s.until ?? "lifted by hand", s.reason ?? ""])
    )
