import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { start, statusUntil } from "./support/adapter.js"

// Issue 14, items 5, 7, 8, 9 and 11 through HTTP, on both paths (the fast path and the HttpApi app):
// input → status and problem → what the sink (a real smtp-server) received.

const ok = { from: "sender@example.com", to: ["ok@example.net"], subject: "hello", text: "body" }

const rows: ReadonlyArray<readonly [name: string, body: Record<string, unknown>, status: number, field?: string]> = [
  ["a tab in a quoted local part", { ...ok, to: ["ok@example.net", "\"a\tb\"@example.net"] }, 400, "to[1]"],
  ["an ESC in a quoted local part", { ...ok, to: ["\"a\u001bb\"@example.net"] }, 400, "to[0]"],
  ["a > that would end the path", { ...ok, to: ["ok@example.net", "\"x> NOTIFY=NEVER\"@example.net"] }, 400, "to[1]"],
  ["the same in from", { ...ok, from: "\"x> SIZE=1\"@example.com" }, 400, "from"],
  ["a From header", { ...ok, headers: { From: "ceo@example.com" } }, 400, "headers.From"],
  ["a Bcc header", { ...ok, headers: { Bcc: "spy@example.net" } }, 400, "headers.Bcc"],
  ["a Content-Type header", { ...ok, headers: { "Content-Type": "text/html" } }, 400, "headers.Content-Type"],
  ["a raw header line of 100,001 octets", { from: ok.from, to: ok.to, raw: `X-Big: ${"a".repeat(99_994)}\r\n\r\nbody\r\n` }, 400, "raw"],
  ["a Message-ID that cannot be folded", { ...ok, headers: { "Message-ID": `<${"a".repeat(2000)}@example.com>` } }, 400, "headers.Message-ID"],
  ["a Subject of 5,001 octets", { ...ok, subject: "S".repeat(5001) }, 202],
  ["a custom header of 100,001 octets", { ...ok, headers: { "X-Long": "a".repeat(100_001) } }, 202]
]

const headerLinesOver998 = (data: Buffer) => {
  const end = data.indexOf("\r\n\r\n")
  return data.subarray(0, end).toString("latin1").split("\r\n").filter((line) => line.length > 998).length
}

const both = Effect.all([start(), start({}, {}, { fastPath: false })])

describe("hostile submissions over HTTP", () => {
  it.scopedLive("each row answered its status, naming the field; what is accepted goes out with no header line over 998 octets", () =>
    Effect.gen(function*() {
      for (const api of yield* both) {
        const accepted: Array<string> = []
        for (const [name, body, status, field] of rows) {
          const answer = yield* api.call("POST", "/v1/messages", { json: body })
          expect(answer.status, `${name}: ${answer.text.slice(0, 300)}`).toBe(status)
          if (status === 202) accepted.push(answer.body.id)
          else expect(answer.body.field, name).toBe(field)
        }
        for (const id of accepted) yield* statusUntil(api, id, "delivered")
        expect(api.sink.messages).toHaveLength(accepted.length)
        for (const m of api.sink.messages) expect(headerLinesOver998(m.data)).toBe(0)
      }
    }))

  it.scopedLive("a repeated idempotencyKey: the same message 202 with the first id, another 409 naming it, alone or in a batch", () =>
    Effect.gen(function*() {
      for (const api of yield* both) {
        const order = { ...ok, idempotencyKey: "order-1" }
        const first = yield* api.call("POST", "/v1/messages", { json: order })
        expect(first.status).toBe(202)
        const again = yield* api.call("POST", "/v1/messages", { json: order })
        expect([again.status, again.body.id]).toEqual([202, first.body.id])
        const other = yield* api.call("POST", "/v1/messages", { json: { ...order, text: "another body" } })
        expect(other.status).toBe(409)
        expect(other.headers["content-type"]).toBe("application/problem+json")
        expect(other.body).toMatchObject({ status: 409, title: "Conflict", field: "idempotencyKey", id: first.body.id })
        expect(other.body.detail).toContain(first.body.id)
        const batch = yield* api.call("POST", "/v1/messages/batch", {
          json: { messages: [{ ...ok, idempotencyKey: "k" }, { ...ok, to: ["b@example.net"], idempotencyKey: "k" }, { ...ok, idempotencyKey: "k" }] }
        })
        const [a, b, c] = batch.body.results
        expect(b.error).toMatchObject({ status: 409, field: "messages[1].idempotencyKey", id: a.id })
        expect(c).toEqual({ id: a.id, status: "queued" })
        yield* statusUntil(api, a.id, "delivered")
        yield* statusUntil(api, first.body.id, "delivered")
        expect(api.sink.messages.map((m) => m.to)).toEqual([["ok@example.net"], ["ok@example.net"]])
      }
    }))

  it.scopedLive("a suppression holds whatever the case of the address: SUP2@Example.NET refuses sup2@example.net", () =>
    Effect.gen(function*() {
      for (const api of yield* both) {
        expect((yield* api.call("POST", "/v1/suppressions", { json: { address: "SUP2@Example.NET", reason: "complained" } })).status).toBe(200)
        for (const to of [["sup2@example.net"], ["ok@example.net", "Sup2@EXAMPLE.net"]]) {
          const answer = yield* api.call("POST", "/v1/messages", { json: { ...ok, to } })
          expect(answer.status, JSON.stringify(to)).toBe(422)
          expect(answer.body.field).toBe(`to[${to.length - 1}]`)
        }
        expect((yield* api.call("DELETE", "/v1/suppressions/sup2%40example.net")).status).toBe(204)
        const lifted = yield* api.call("POST", "/v1/messages", { json: { ...ok, to: ["sup2@example.net"] } })
        expect(lifted.status).toBe(202)
        yield* statusUntil(api, lifted.body.id, "delivered")
        // Only the message sent once the suppression was lifted reached the sink.
        expect(api.sink.messages.map((m) => m.to)).toEqual([["sup2@example.net"]])
      }
    }))
})
