import type { CallOptions } from "./adapter.js"
import { message } from "./adapter.js"

/** A message that is fine; each case spoils it in one way. */
export const ok = message(0)

export interface Case {
  readonly name: string
  readonly path?: string
  readonly send: CallOptions
  readonly status: number
  readonly field?: string
  /** A piece of the problem's detail. */
  readonly says: string | RegExp
}

const json = (body: unknown): CallOptions => ({ json: body })
export const bytes = (body: string | Buffer, contentType = "application/json"): CallOptions => ({
  raw: body,
  headers: { "content-type": contentType }
})

/** Bad requests, each with the answer it must get (CONTRACT.md: 4xx saying what and where). */
export const cases: ReadonlyArray<Case> = [
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
  { name: "a template with an unknown key", send: json({ from: ok.from, to: ok.to, template: { id: "welcome", var: {} } }), status: 400, field: "template.var", says: "unexpected" },
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
