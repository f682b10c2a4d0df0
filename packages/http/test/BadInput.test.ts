import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { CallOptions, Running } from "./support/adapter.js"
import { message, start, statusUntil } from "./support/adapter.js"

const ok = message(0)

interface Case {
  readonly name: string
  readonly path?: string
  readonly send: CallOptions
  readonly status: number
  readonly field?: string
  /** A piece of the problem's detail. */
  readonly says: string | RegExp
}

const json = (body: unknown): CallOptions => ({ json: body })
const bytes = (body: string | Buffer, contentType = "application/json"): CallOptions => ({
  raw: body,
  headers: { "content-type": contentType }
})

const cases: ReadonlyArray<Case> = [
  { name: "malformed JSON", send: bytes("{\"from\": \"a@example.com\", "), status: 400, says: "not valid JSON" },
  { name: "an empty body", send: bytes(""), status: 400, says: "empty" },
  { name: "JSON that is not an object", send: json([ok]), status: 400, says: /object/i },
  { name: "from of the wrong type", send: json({ ...ok, from: 5 }), status: 400, field: "from", says: "string" },
  { name: "to of the wrong type", send: json({ ...ok, to: "a@example.net" }), status: 400, field: "to", says: /array/i },
  { name: "subject of the wrong type", send: json({ ...ok, subject: ["x"] }), status: 400, field: "subject", says: "string" },
  { name: "a header value of the wrong type", send: json({ ...ok, headers: { "X-N": 1 } }), status: 400, field: "headers.X-N", says: "string" },
  { name: "no recipients", send: json({ ...ok, to: [] }), status: 400, field: "to", says: /at least 1/ },
  { name: "no to at all", send: json({ from: ok.from, text: "t" }), status: 400, field: "to", says: /missing/i },
  {
    name: "10,001 recipients",
    send: json({ ...ok, to: Array.from({ length: 10_001 }, (_, i) => `r${i}@example.net`) }),
    status: 400,
    field: "to",
    says: "1000"
  },
  { name: "a bad recipient address", send: json({ ...ok, to: ["a@example.net", "nobody"] }), status: 400, field: "to[1]", says: "local@domain" },
  { name: "no content", send: json({ from: ok.from, to: ok.to }), status: 400, says: /raw|subject|text/ },
  { name: "an unknown field", send: json({ ...ok, bcc: ["x@example.net"] }), status: 400, field: "bcc", says: /unexpected/i },
  { name: "CR/LF in the subject", send: json({ ...ok, subject: "x\r\nBcc: victim@example.org" }), status: 400, field: "subject", says: "CR, LF" },
  { name: "LF alone in the subject", send: json({ ...ok, subject: "x\nBcc: victim@example.org" }), status: 400, field: "subject", says: "CR, LF" },
  { name: "CR/LF in from", send: json({ ...ok, from: "a@example.com\r\nRCPT TO:<v@example.org>" }), status: 400, field: "from", says: "CR, LF" },
  { name: "CR/LF in a recipient", send: json({ ...ok, to: ["a@example.net\r\nDATA"] }), status: 400, field: "to[0]", says: "CR, LF" },
  { name: "CR/LF in a header value", send: json({ ...ok, headers: { "X-Campaign": "c1\r\nBcc: v@example.org" } }), status: 400, field: "headers.X-Campaign", says: "CR, LF" },
  { name: "a header name with a colon", send: json({ ...ok, headers: { "Bcc: v@example.org\r\nX": "1" } }), status: 400, field: "headers.Bcc: v@example.org\r\nX", says: "HeaderName" },
  { name: "a NUL in the subject", send: json({ ...ok, subject: "a\u0000b" }), status: 400, field: "subject", says: "NUL" },
  { name: "a NUL in a recipient", send: json({ ...ok, to: ["a\u0000@example.net"] }), status: 400, field: "to[0]", says: "NUL" },
  { name: "a raw NUL byte in the JSON text", send: bytes(Buffer.from("{\"from\":\"a\u0000@example.com\"}")), status: 400, says: "not valid JSON" },
  {
    name: "invalid UTF-8",
    send: bytes(Buffer.concat([Buffer.from("{\"from\":\"me@example.com\",\"subject\":\""), Buffer.from([0xc3, 0x28]), Buffer.from("\"}")])),
    status: 400,
    says: "not valid UTF-8 (at byte 36)" // just after the 36 bytes before it
  },
  { name: "an overlong UTF-8 encoding", send: bytes(Buffer.from([0x22, 0xc0, 0xaf, 0x22])), status: 400, says: "at byte 1" },
  { name: "text/plain", send: bytes(JSON.stringify(ok), "text/plain"), status: 415, says: "text/plain" },
  { name: "form encoding", send: bytes("from=a", "application/x-www-form-urlencoded"), status: 415, says: "not JSON" },
  { name: "JSON in Latin-1", send: bytes(JSON.stringify(ok), "application/json; charset=iso-8859-1"), status: 415, says: "UTF-8" },
  { name: "no content type", send: { raw: JSON.stringify(ok) }, status: 415, says: "no Content-Type" },
  { name: "an unknown template", send: json({ from: ok.from, to: ok.to, template: { id: "nope", vars: {} } }), status: 422, field: "template.id", says: "no template \"nope\"" },
  { name: "a template without an id", send: json({ from: ok.from, to: ok.to, template: { vars: {} } }), status: 400, field: "template", says: "id" },
  { name: "a template and a text", send: json({ ...ok, template: { id: "welcome" } }), status: 400, field: "subject", says: "not both" },
  { name: "raw and parts", send: json({ ...ok, raw: "Subject: x\r\n\r\nbody" }), status: 400, field: "raw", says: "not both" },
  { name: "an unknown stream", send: json({ ...ok, stream: "marketing" }), status: 400, field: "stream", says: "marketing" },
  { name: "a batch without messages", path: "/v1/messages/batch", send: json({}), status: 400, field: "messages", says: /missing/i },
  { name: "a misspelled batch", path: "/v1/messages/batch", send: json({ message: [ok] }), status: 400, field: "message", says: /unexpected/i },
  { name: "an empty batch", path: "/v1/messages/batch", send: json({ messages: [] }), status: 400, field: "messages", says: /at least 1/ },
  {
    name: "a batch of 1001",
    path: "/v1/messages/batch",
    send: json({ messages: Array.from({ length: 1001 }, (_, i) => message(i)) }),
    status: 400,
    field: "messages",
    says: "1000"
  },
  { name: "a suppression without an address", path: "/v1/suppressions", send: json({ reason: "x" }), status: 400, field: "address", says: /missing/i },
  { name: "a complaint with a numeric id", path: "/v1/complaints", send: json({ id: 5 }), status: 400, field: "id", says: "string" }
]

/** The server still answers and still accepts mail. */
const healthy = (api: Running) =>
  Effect.gen(function*() {
    expect((yield* api.call("GET", "/healthz")).status).toBe(200)
    const accepted = yield* api.call("POST", "/v1/messages", { json: ok })
    expect(accepted.status).toBe(202)
    return accepted.body.id as string
  })

describe("bad input", () => {
  it.scopedLive("each gets the right 4xx as problem+json saying what and where; the server stays up", () =>
    Effect.gen(function*() {
      const api = yield* start()
      for (const c of cases) {
        const answer = yield* api.call("POST", c.path ?? "/v1/messages", c.send)
        const context = `${c.name}: ${answer.status} ${answer.text}`
        expect(answer.status, context).toBe(c.status)
        expect(answer.headers["content-type"], context).toBe("application/problem+json")
        expect(answer.body, context).toMatchObject({ type: "about:blank", status: c.status })
        if (c.field !== undefined) expect(answer.body.field, context).toBe(c.field)
        if (typeof c.says === "string") expect(answer.body.detail, context).toContain(c.says)
        else expect(answer.body.detail, context).toMatch(c.says)
      }
      const id = yield* healthy(api)
      yield* statusUntil(api, id, "delivered")
      // Only the good message went out: nothing refused slipped through.
      expect(api.sink.messages).toHaveLength(1)
    }))

  it.scopedLive("a body over http.maxBodyBytes: 413, whether its length is declared or it streams in chunks", () =>
    Effect.gen(function*() {
      const api = yield* start({ http: { maxBodyBytes: 64 * 1024 } })
      const big = JSON.stringify({ ...ok, text: "x".repeat(100 * 1024) })
      const declared = yield* api.call("POST", "/v1/messages", bytes(big))
      expect(declared.status).toBe(413)
      expect(declared.headers["content-type"]).toBe("application/problem+json")
      expect(declared.body.detail).toContain(`the body is ${Buffer.byteLength(big)} bytes; the limit (http.maxBodyBytes) is 65536`)

      // A chunked body that would never end: refused once it passes the limit, never buffered whole.
      let sent = 0
      const endless = async function*() {
        const chunk = Buffer.alloc(16 * 1024, "x")
        yield Buffer.from("{\"text\":\"")
        for (;;) {
          sent += chunk.length
          if (sent > 64 * 1024 * 1024) return // a bound on the test, far past the limit
          yield chunk
        }
      }
      const chunked = yield* api.call("POST", "/v1/messages", {
        raw: endless(),
        headers: { "content-type": "application/json" }
      })
      expect(chunked.status).toBe(413)
      expect(chunked.body.detail).toContain("more than 65536 bytes")
      expect(sent).toBeLessThan(64 * 1024 * 1024)

      const under = yield* api.call("POST", "/v1/messages", json({ ...ok, text: "x".repeat(32 * 1024) }))
      expect(under.status).toBe(202)
      yield* healthy(api)
    }))

  it.scopedLive("an unknown path or method is a 404 problem", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const unknown = yield* api.call("GET", "/v2/messages")
      expect(unknown.status).toBe(404)
      expect(unknown.headers["content-type"]).toBe("application/problem+json")
      expect(unknown.body.detail).toContain("GET /v2/messages")
      expect((yield* api.call("DELETE", "/v1/messages")).status).toBe(404)
      yield* healthy(api)
    }))
})
