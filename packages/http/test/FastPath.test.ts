import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Net from "node:net"
import type { Answer, CallOptions, Running } from "./support/adapter.js"
import { message, realSleep, start } from "./support/adapter.js"
import { bytes, cases, ok } from "./support/badInput.js"

/**
 * The fast path (internal/fast.ts) must answer exactly what the HttpApi app answers. Each request of
 * the corpus goes to two adapters built alike, one with the fast path and one without, in the same
 * order; their answers must be the same but for the message ids (and the Date header).
 */

interface Request {
  readonly name: string
  readonly method?: string
  readonly path?: string
  readonly send?: CallOptions
}

const json = (body: unknown): CallOptions => ({ json: body })
const batch = (...messages: ReadonlyArray<unknown>) => json({ messages })
const long = (n: number) => "x".repeat(n)

// Ids differ from one engine to the other (a random part per process); their length does not.
const ids = /"id":"[0-9a-z]{25}"/g
const compared = ["content-type", "content-length", "retry-after", "connection", "keep-alive", "www-authenticate"]

const comparable = (answer: Answer) => ({
  status: answer.status,
  headers: Object.fromEntries(compared.flatMap((name) => answer.headers[name] === undefined ? [] : [[name, answer.headers[name]]])),
  // A 409's detail names the first message's id too.
  body: answer.text.replace(ids, "\"id\":\"<id>\"").replace(/\([0-9a-z]{25}\)/g, "(<id>)")
})

/** Sends each request to both adapters and expects the same answer; the fast path's answers, in order. */
const same = (fast: Running, slow: Running, requests: ReadonlyArray<Request>) =>
  Effect.forEach(requests, (request) =>
    Effect.gen(function*() {
      const method = request.method ?? "POST"
      const path = request.path ?? "/v1/messages"
      const a = yield* fast.call(method, path, request.send)
      const b = yield* slow.call(method, path, request.send)
      expect(comparable(a), `${request.name}: ${a.text}`).toEqual(comparable(b))
      return a
    }))

const pair = (config: Record<string, unknown> = {}) =>
  Effect.all([start(config), start(config, {}, { fastPath: false })])

/** A delivered message as a reader sees it, without what differs by design (ids, dates, boundaries). */
const normalized = (data: Buffer) =>
  data.toString("latin1")
    .replace(/^(Message-ID|X-Sluice-Id|Date): .*\r\n/gim, "")
    .replace(/--_sluice-[0-9a-f]+-\d+/g, "<boundary>")
    .replace(/boundary="[^"]*"/g, "boundary=\"<boundary>\"")

const until = (check: () => boolean, what: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* realSleep(20)
    }
  })

const good: ReadonlyArray<Request> = [
  { name: "text", send: json(message(1)) },
  { name: "html only", send: json({ ...message(2), text: undefined, html: "<p>hi</p>" }) },
  { name: "text and html", send: json(message(3, { html: "<p>both</p>" })) },
  { name: "subject only", send: json({ from: ok.from, to: ok.to, subject: "only", headers: { "X-Seq": "4" } }) },
  { name: "raw", send: json({ from: ok.from, to: ok.to, raw: "X-Seq: 5\r\nSubject: raw\r\n\r\nbody\r\n" }) },
  { name: "several recipients, one twice", send: json(message(6, { to: ["a@example.net", "b@example.org", "a@example.net"] })) },
  { name: "non-ASCII subject and text", send: json(message(7, { subject: "Grüße — 日本語", text: "Déjà vu\n".repeat(20) })) },
  { name: "a quoted local part and an IDN", send: json(message(8, { to: ["\"a b\"@example.net", "ann@bücher.example"] })) },
  { name: "an address literal", send: json(message(9, { to: ["postmaster@[192.0.2.1]"] })) },
  { name: "a structured custom header (Reply-To)", send: json(message(10, { headers: { "X-Seq": "10", "Reply-To": "r@example.com" } })) },
  { name: "the sender's own X-Sluice-Id and Message-ID", send: json(message(11, { headers: { "X-Seq": "11", "X-Sluice-Id": "mine", "Message-ID": "<m@example.com>" } })) },
  { name: "a header name of 76 characters", send: json(message(12, { headers: { "X-Seq": "12", [`X-${long(74)}`]: "v" } })) },
  { name: "the default stream by name", send: json(message(13, { stream: "default" })) },
  { name: "an idempotency key", send: json(message(14, { idempotencyKey: "order-1" })) },
  { name: "the same idempotency key again", send: json(message(14, { idempotencyKey: "order-1" })) },
  { name: "the same idempotency key with another message", send: json(message(15, { idempotencyKey: "order-1" })) },
  { name: "an idempotency key of 256 characters", send: json(message(16, { idempotencyKey: long(256) })) },
  { name: "JSON with a charset", send: { raw: JSON.stringify(message(17)), headers: { "content-type": "application/json; charset=utf-8" } } },
  { name: "a JSON suffix type in capitals", send: { raw: JSON.stringify(message(18)), headers: { "content-type": "Application/Problem+JSON" } } },
  { name: "a template", send: json({ from: ok.from, to: ok.to, headers: { "X-Seq": "19" }, template: { id: "welcome", vars: { name: "Ada" } } }) },
  { name: "a batch", path: "/v1/messages/batch", send: batch(message(20), message(21), message(22)) },
  { name: "a batch with a key twice", path: "/v1/messages/batch", send: batch(message(23, { idempotencyKey: "k" }), message(23, { idempotencyKey: "k" })) },
  {
    name: "a batch with a key for two messages",
    path: "/v1/messages/batch",
    send: batch(message(24, { idempotencyKey: "k2" }), message(25, { idempotencyKey: "k2" }))
  }
]

const refused: ReadonlyArray<Request> = [
  { name: "a suppressed recipient", send: json(message(30, { to: ["blocked@example.net"] })) },
  { name: "a suppressed recipient by another case of its domain", send: json(message(31, { to: ["blocked@EXAMPLE.net"] })) },
  { name: "two suppressed and one fine", send: json(message(32, { to: ["blocked@example.net", "fine@example.net", "gone@example.org"] })) },
  { name: "a suppressed recipient and a bad field", send: json(message(33, { to: ["blocked@example.net"], subject: 5 })) },
  { name: "a suppressed recipient in an unknown stream", send: json(message(34, { to: ["blocked@example.net"], stream: "nope" })) },
  { name: "a suppressed recipient and a template", send: json({ from: ok.from, to: ["blocked@example.net"], template: { id: "welcome" } }) },
  {
    name: "a batch of good, bad, suppressed, unknown stream, template",
    path: "/v1/messages/batch",
    send: batch(
      message(35),
      { ...message(36), from: 5 },
      message(37, { to: ["ok@example.net", "blocked@example.net"] }),
      message(38, { stream: "nope" }),
      { from: ok.from, to: ok.to, headers: { "X-Seq": "39" }, template: { id: "welcome" } },
      message(40, { raw: "x" })
    )
  },
  { name: "a batch whose every message is refused", path: "/v1/messages/batch", send: batch(message(41, { to: ["blocked@example.net"] }), message(42, { to: ["gone@example.org"] })) },
  { name: "a batch with a suppressed recipient and a fine one", path: "/v1/messages/batch", send: batch(message(43, { to: ["blocked@example.net"] }), message(44)) }
]

const odd: ReadonlyArray<Request> = [
  { name: "JSON null", send: bytes("null") },
  { name: "a JSON string", send: bytes("\"hello\"") },
  { name: "a JSON number", send: bytes("5") },
  { name: "an empty object", send: json({}) },
  { name: "a byte order mark", send: bytes(`\ufeff${JSON.stringify(ok)}`) },
  { name: "whitespace around the JSON", send: bytes(` \n${JSON.stringify(message(50))}\n `) },
  { name: "headers as an array", send: json({ ...ok, headers: [] }) },
  { name: "headers null", send: json({ ...ok, headers: null }) },
  { name: "a header named __proto__", send: bytes(`{"from":"a@example.com","to":["b@example.net"],"text":"t","headers":{"__proto__":"x"}}`) },
  { name: "a field named __proto__", send: bytes(`{"from":"a@example.com","to":["b@example.net"],"text":"t","__proto__":{}}`) },
  { name: "a non-ASCII header name", send: json({ ...ok, headers: { "X-Ünï": "v" } }) },
  { name: "a header name of 77 characters", send: json({ ...ok, headers: { [`X-${long(75)}`]: "v" } }) },
  { name: "an empty header name", send: json({ ...ok, headers: { "": "v" } }) },
  { name: "a NUL in a header value", send: json({ ...ok, headers: { "X-A": "a\u0000" } }) },
  { name: "a null recipient", send: json({ ...ok, to: [null] }) },
  { name: "an empty from", send: json({ ...ok, from: "" }) },
  { name: "a from without a domain dot", send: json({ ...ok, from: "a@b" }) },
  { name: "from localhost", send: json(message(51, { from: "root@localhost" })) },
  { name: "a local part of 65 octets", send: json({ ...ok, to: [`${long(65)}@example.net`] }) },
  { name: "an empty idempotency key", send: json({ ...ok, idempotencyKey: "" }) },
  { name: "an idempotency key of 257 characters", send: json({ ...ok, idempotencyKey: long(257) }) },
  { name: "an empty raw", send: json({ from: ok.from, to: ok.to, raw: "" }) },
  { name: "an empty stream", send: json({ ...ok, stream: "" }) },
  { name: "a stream of the wrong type", send: json({ ...ok, stream: 1 }) },
  { name: "text of the wrong type", send: json({ ...ok, text: 1 }) },
  { name: "html null", send: json({ ...ok, html: null }) },
  { name: "raw with headers", send: json({ from: ok.from, to: ok.to, raw: "x", headers: { "X-A": "1" } }) },
  { name: "only headers", send: json({ from: ok.from, to: ok.to, headers: { "X-A": "1" } }) },
  { name: "a template of the wrong type", send: json({ ...ok, template: "welcome" }) },
  { name: "1000 recipients", send: json(message(52, { to: Array.from({ length: 1000 }, (_, i) => `r${i}@example.net`) })) },
  { name: "1001 recipients, one suppressed", send: json({ ...ok, to: ["blocked@example.net", ...Array.from({ length: 1000 }, (_, i) => `r${i}@example.net`)] }) },
  { name: "a batch as an array", path: "/v1/messages/batch", send: json([ok]) },
  { name: "a batch whose messages are an object", path: "/v1/messages/batch", send: json({ messages: { 0: ok } }) },
  { name: "a batch with a message that is no object", path: "/v1/messages/batch", send: batch(message(53), "x", null) },
  { name: "a batch with an extra key", path: "/v1/messages/batch", send: json({ messages: [ok], dryRun: true }) },
  { name: "a batch of 1000", path: "/v1/messages/batch", send: batch(...Array.from({ length: 1000 }, (_, i) => message(1000 + i))) },
  { name: "a batch as text/plain", path: "/v1/messages/batch", send: bytes(JSON.stringify({ messages: [ok] }), "text/plain") },
  { name: "a batch of malformed JSON", path: "/v1/messages/batch", send: bytes("{\"messages\": [") }
]

const routes: ReadonlyArray<Request> = [
  { name: "health", method: "GET", path: "/healthz" },
  { name: "readiness", method: "GET", path: "/readyz" },
  { name: "health with a query", method: "GET", path: "/healthz?probe=1" },
  { name: "health by HEAD", method: "HEAD", path: "/healthz" },
  { name: "health by POST", method: "POST", path: "/healthz", send: json({}) },
  { name: "messages by PUT", method: "PUT", path: "/v1/messages" },
  { name: "messages with a query", path: "/v1/messages?dryRun=1", send: json(message(60)) },
  { name: "messages with a trailing slash", path: "/v1/messages/", send: json(message(61)) },
  { name: "a batch by PUT", method: "PUT", path: "/v1/messages/batch", send: batch(ok) }
]

/** The X-Seq of every message the sink took, in order: each message once shows as 0, 1, 2, … */
const seqsAt = (api: Running) =>
  api.sink.messages.map((m) => Number(/^X-Seq: (\d+)/m.exec(m.data.toString())?.[1])).sort((a, b) => a - b)

/**
 * POSTs each body to `path` on a connection of its own, written all at once when every
 * connection has been open and used (a GET /healthz), so that the server reads them in the same
 * turn, as it reads a busy server's keep-alive connections; each answer's status and head.
 */
const together = (base: string, bodies: ReadonlyArray<string>, path = "/v1/messages") =>
  Effect.async<ReadonlyArray<{ readonly status: number; readonly head: string }>>((resume) => {
    const { hostname, port } = new URL(base)
    const answers: Array<{ status: number; head: string }> = []
    let ready = 0
    const post = (body: string) =>
      `POST ${path} HTTP/1.1\r\nhost: ${hostname}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    const sockets = bodies.map((_, i) => {
      const socket = Net.connect(Number(port), hostname, () => socket.write(`GET /healthz HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`))
      let text = ""
      let posted = false
      socket.setEncoding("utf8").on("data", (chunk: string) => {
        text += chunk
        if (posted || !text.endsWith("{\"status\":\"ok\"}")) return
        posted = true
        text = ""
        if (++ready === bodies.length) sockets.forEach((s, j) => s.write(post(bodies[j]!)))
      })
      socket.on("end", () => {
        const head = text.split("\r\n\r\n")[0]!.toLowerCase()
        answers[i] = { status: Number(head.split(" ")[1]), head }
        if (answers.filter(Boolean).length === bodies.length) resume(Effect.succeed(answers))
      })
      return socket
    })
    return Effect.sync(() => sockets.forEach((socket) => socket.destroy()))
  })

describe("the fast path answers what the HttpApi app answers", () => {
  it.scopedLive("good, refused, odd and bad messages and batches, and the routes beside them; the same mail is sent", () =>
    Effect.gen(function*() {
      const [fast, slow] = yield* pair()
      for (const api of [fast, slow]) {
        expect((yield* api.call("POST", "/v1/suppressions", json({ address: "blocked@example.net", reason: "complained" }))).status).toBe(200)
        expect((yield* api.call("POST", "/v1/suppressions", json({ address: "gone@example.org", reason: "bounced" }))).status).toBe(200)
        expect((yield* api.call("PUT", "/v1/templates/welcome", json({ subject: "Welcome {{name}}", text: "Hello {{name}}" }))).status).toBe(200)
      }
      const corpus = [
        ...good,
        ...refused,
        ...odd,
        ...cases.map((c): Request => ({ name: c.name, path: c.path ?? "/v1/messages", send: c.send })),
        ...routes
      ]
      const answers = yield* same(fast, slow, corpus)
      const byName = new Map(corpus.map((request, i) => [request.name, answers[i]!]))
      // What the normalization hides: a repeated idempotency key is answered the first id.
      expect(byName.get("the same idempotency key again")!.body.id).toBe(byName.get("an idempotency key")!.body.id)
      const keyTwice = byName.get("a batch with a key twice")!.body.results
      expect(keyTwice[1].id).toBe(keyTwice[0].id)
      const conflict = byName.get("the same idempotency key with another message")!
      expect([conflict.status, conflict.body.id]).toEqual([409, byName.get("an idempotency key")!.body.id])
      const twoMessages = byName.get("a batch with a key for two messages")!.body.results
      expect(twoMessages[1].error).toMatchObject({ status: 409, field: "messages[1].idempotencyKey", id: twoMessages[0].id })
      expect(byName.get("a suppressed recipient")!.status).toBe(422)
      expect(byName.get("a batch of 1000")!.body.results.filter((r: { id?: string }) => r.id !== undefined)).toHaveLength(1000)

      // Both engines were handed the same messages: the sinks receive the same mail.
      yield* until(() => fast.sink.messages.length > 0 && fast.sink.messages.length === slow.sink.messages.length, "the same number of messages at both sinks")
      yield* realSleep(200)
      expect(fast.sink.messages.length).toBe(slow.sink.messages.length)
      const mail = (api: Running) => api.sink.messages.map((m) => `${m.to.join(",")}\n${normalized(m.data)}`).sort()
      expect(mail(fast)).toEqual(mail(slow))
    }))

  it.scopedLive("API keys: the same 401s (before the Content-Type is looked at), the same acceptance", () =>
    Effect.gen(function*() {
      const [fast, slow] = yield* pair({ http: { apiKeys: ["secret-key", "other-key"] } })
      const as = (authorization: string | undefined, send: CallOptions = json(ok)): CallOptions =>
        authorization === undefined ? send : { ...send, headers: { ...send.headers, authorization } }
      yield* same(fast, slow, [
        { name: "no key", send: as(undefined) },
        { name: "Basic", send: as("Basic c2VjcmV0") },
        { name: "Bearer without a key", send: as("Bearer ") },
        { name: "a wrong key", send: as("Bearer nope") },
        { name: "a key with a space after it", send: as("Bearer secret-key ") },
        { name: "a right key", send: as("Bearer secret-key") },
        { name: "the other key, bearer in lower case", send: as("bearer other-key") },
        { name: "no key and text/plain", send: as(undefined, bytes("x", "text/plain")) },
        { name: "a right key and text/plain", send: as("Bearer secret-key", bytes("x", "text/plain")) },
        { name: "a batch without a key", path: "/v1/messages/batch", send: as(undefined, batch(ok)) },
        { name: "a batch with a key", path: "/v1/messages/batch", send: as("Bearer secret-key", batch(ok)) },
        { name: "health needs no key", method: "GET", path: "/healthz" },
        { name: "readiness needs no key", method: "GET", path: "/readyz" }
      ])
    }))

  it.scopedLive("bodies over http.maxBodyBytes: the same 413 (Connection: close), declared or chunked", () =>
    Effect.gen(function*() {
      const [fast, slow] = yield* pair({ http: { maxBodyBytes: 1024 } })
      const chunked = () => ({
        raw: (async function*() {
          yield Buffer.from("{\"text\":\"")
          for (let i = 0; i < 8; i++) yield Buffer.alloc(512, "x")
          yield Buffer.from("\"}")
        })(),
        headers: { "content-type": "application/json" }
      })
      yield* same(fast, slow, [
        { name: "declared over", send: json({ ...ok, text: long(2000) }) },
        { name: "under", send: json({ ...ok, text: long(500) }) },
        { name: "a batch declared over", path: "/v1/messages/batch", send: batch(ok, ok, ok, ok, ok, ok, ok, ok, ok) }
      ])
      // A fresh iterable for each side: a body can be sent once.
      const a = yield* fast.call("POST", "/v1/messages", chunked())
      const b = yield* slow.call("POST", "/v1/messages", chunked())
      expect(comparable(a)).toEqual(comparable(b))
      expect([a.status, a.headers.connection]).toEqual([413, "close"])
    }))

  it.scopedLive("a full queue: the same 503 with Retry-After, one request at a time or several at once", () =>
    Effect.gen(function*() {
      // Nothing can be delivered (port 1 refuses), so every accepted message stays in the queue.
      const config = { queue: { kind: "memory", maxDepth: 3 }, upstreams: [{ name: "nowhere", host: "127.0.0.1", port: 1 }] }
      const [fast, slow] = yield* pair(config)
      yield* same(fast, slow, [
        { name: "first", send: json(message(1)) },
        { name: "a batch that does not fit", path: "/v1/messages/batch", send: batch(message(2), message(3), message(4)) },
        { name: "a batch that fits", path: "/v1/messages/batch", send: batch(message(5)) },
        { name: "third", send: json(message(6)) },
        { name: "one too many", send: json(message(7)) },
        { name: "a batch too many", path: "/v1/messages/batch", send: batch(message(8)) }
      ])
      // Requests read together are submitted together; when they do not fit, each is answered what it
      // would have been alone: as many accepted as there is room for.
      const fresh = yield* start(config)
      const answers = yield* together(fresh.base, Array.from({ length: 6 }, (_, i) => JSON.stringify(message(i))))
      expect(answers.map((a) => a.status).sort()).toEqual([202, 202, 202, 503, 503, 503])
      for (const answer of answers.filter((a) => a.status === 503)) expect(answer.head).toMatch(/^retry-after: 2$/m)
    }))

  it.scopedLive("more requests read together than a group takes: the rest go as the next group, none lost or doubled", () =>
    Effect.gen(function*() {
      const api = yield* start()
      // With nothing on the wire a group takes 1,000 messages at most: three batches of 500 read in
      // one turn go as two groups. Then 120 posts, while the first mail is still being delivered or
      // not (a group then takes 100 at most): whichever bound holds, every message goes once.
      const batches = Array.from({ length: 3 }, (_, b) =>
        JSON.stringify({ messages: Array.from({ length: 500 }, (_, i) => message(b * 500 + i)) }))
      const batchAnswers = yield* together(api.base, batches, "/v1/messages/batch")
      expect(batchAnswers.map((a) => a.status)).toEqual([202, 202, 202])
      const answers = yield* together(api.base, Array.from({ length: 120 }, (_, i) => JSON.stringify(message(1500 + i))))
      expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 120 }, () => 202))
      yield* until(() => api.sink.messages.length >= 1620, "1,620 messages at the sink")
      expect(seqsAt(api)).toEqual(Array.from({ length: 1620 }, (_, i) => i))
    }))

  it.scopedLive("many single posts at once: each its own id, each message sent once", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const answers = yield* Effect.all(
        Array.from({ length: 200 }, (_, i) => api.call("POST", "/v1/messages", json(message(i)))),
        { concurrency: "unbounded" }
      )
      expect(answers.every((a) => a.status === 202)).toBe(true)
      expect(new Set(answers.map((a) => a.body.id)).size).toBe(200)
      yield* until(() => api.sink.messages.length >= 200, "200 messages at the sink")
      expect(seqsAt(api)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    }))
})
