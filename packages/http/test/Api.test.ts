import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createServer } from "node:net"
import { message, seqOf, start, statusUntil } from "./support/adapter.js"

/** A loopback port with nothing listening on it. */
const deadPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
)

/** Prometheus text as samples: name, labels, value. */
const samples = (text: string) =>
  text.split("\n").flatMap((line) => {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) return []
    const labels = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))
    return [{ name: match[1]!, labels, value: Number(match[3]) }]
  })

const sample = (text: string, name: string, labels: Record<string, string> = {}) =>
  samples(text).find((s) =>
    s.name === name && Object.keys(s.labels).length === Object.keys(labels).length &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )?.value

const problemOf = (answer: { headers: Record<string, unknown>; body: any }) => {
  expect(answer.headers["content-type"]).toBe("application/problem+json")
  expect(answer.body).toMatchObject({ type: "about:blank", title: expect.any(String), detail: expect.any(String) })
  return answer.body as { status: number; detail: string; field?: string; errors?: Array<{ field: string; detail: string }> }
}

describe("the HTTP API", () => {
  it.scopedLive("POST /v1/messages: 202, the message reaches the sink, GET /v1/messages/{id} follows it", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const submitted = yield* api.call("POST", "/v1/messages", {
        json: { ...message(1), to: ["a@example.net", "bounce+550@example.net"], html: "<p>html part</p>" }
      })
      expect(submitted.status).toBe(202)
      expect(submitted.body).toEqual({ id: expect.any(String), status: "queued" })
      // The recipients ended differently: the message is partial, and each recipient says how it ended.
      const { body } = yield* statusUntil(api, submitted.body.id, "partial")
      expect(body).toMatchObject({
        id: submitted.body.id,
        status: "partial",
        attempts: 1,
        upstream: "sink",
        stream: "default",
        recipients: [
          { address: "a@example.net", status: "delivered", reply: { code: 250 } },
          { address: "bounce+550@example.net", status: "bounced", reply: { code: 550, enhanced: "5.1.1" }, category: "bad-mailbox" }
        ]
      })
      expect(body.recipients[0]).not.toHaveProperty("category")
      expect(body.lastReply).toEqual({ code: expect.any(Number), enhanced: expect.anything(), text: expect.any(String) })
      expect(new Date(body.submittedAt).getTime()).toBeLessThanOrEqual(new Date(body.updatedAt).getTime())
      const [received] = api.sink.messages
      expect(received!.to).toEqual(["a@example.net"])
      const data = received!.data.toString()
      expect(data).toContain("Subject: message 1")
      expect(data).toContain("X-Seq: 1")
      expect(data).toContain("<p>html part</p>")

      const missing = yield* api.call("GET", "/v1/messages/no-such-id")
      expect(missing.status).toBe(404)
      expect(problemOf(missing).detail).toContain("no-such-id")
    }))

  it.scopedLive("a repeated idempotencyKey answers the first id and sends once", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const first = yield* api.call("POST", "/v1/messages", { json: message(1, { idempotencyKey: "order-1" }) })
      const again = yield* api.call("POST", "/v1/messages", { json: message(1, { idempotencyKey: "order-1" }) })
      expect(again.status).toBe(202)
      expect(again.body.id).toBe(first.body.id)
      // Another message under the same key: 409, naming the first.
      const other = yield* api.call("POST", "/v1/messages", { json: message(2, { idempotencyKey: "order-1" }) })
      expect(other.status).toBe(409)
      expect(problemOf(other)).toMatchObject({ status: 409, title: "Conflict", field: "idempotencyKey", id: first.body.id })
      yield* statusUntil(api, first.body.id, "delivered")
      expect(api.sink.messages.map((m) => seqOf(m.data))).toEqual([1])
    }))

  it.scopedLive("POST /v1/messages/batch judges each message alone and queues the valid ones", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const answer = yield* api.call("POST", "/v1/messages/batch", {
        json: { messages: [message(0), { ...message(1), from: "not an address" }, message(2), { ...message(3), to: [] }] }
      })
      expect(answer.status).toBe(202)
      const [ok0, bad1, ok2, bad3] = answer.body.results
      expect(ok0).toEqual({ id: expect.any(String), status: "queued" })
      expect(ok2).toEqual({ id: expect.any(String), status: "queued" })
      expect(bad1.error).toMatchObject({ status: 400, field: "messages[1].from" })
      expect(bad1.error.detail).toContain("not an address")
      expect(bad3.error).toMatchObject({ status: 400, field: "messages[3].to" })
      yield* statusUntil(api, ok0.id, "delivered")
      yield* statusUntil(api, ok2.id, "delivered")
      expect(api.sink.messages.map((m) => seqOf(m.data)).sort()).toEqual([0, 2])
    }))

  it.scopedLive("PUT /v1/templates/{id} stores versions; a message with a template arrives rendered", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const source = { subject: "Welcome {{name}}", text: "Hello {{name}}", html: "<p>Hello {{name}}</p>" }
      const v1 = yield* api.call("PUT", "/v1/templates/welcome", { json: source })
      expect(v1.status).toBe(200)
      expect(v1.body).toEqual({ id: "welcome", version: 1 })
      const v2 = yield* api.call("PUT", "/v1/templates/welcome", { json: { ...source, subject: "Hi {{name}}" } })
      expect(v2.body).toEqual({ id: "welcome", version: 2 })

      const submitted = yield* api.call("POST", "/v1/messages", {
        json: { from: "me@example.com", to: ["ann@example.net"], template: { id: "welcome", vars: { name: "Ann <3" } } }
      })
      expect(submitted.status).toBe(202)
      yield* statusUntil(api, submitted.body.id, "delivered")
      const data = api.sink.messages[0]!.data.toString()
      expect(data).toContain("Subject: Hi Ann <3")
      expect(data).toContain("Hello Ann <3")
      expect(data).toContain("<p>Hello Ann &lt;3</p>")

      const broken = yield* api.call("PUT", "/v1/templates/broken", { json: { text: "Hello {{#if}}" } })
      expect(broken.status).toBe(400)
      expect(problemOf(broken).field).toBe("text")
    }))

  it.scopedLive("suppressions: a suppressed recipient is refused with the reason until the suppression is lifted", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const suppressed = yield* api.call("POST", "/v1/suppressions", {
        json: { address: "gone@example.net", reason: "hard bounce on 2026-11-01" }
      })
      expect(suppressed.status).toBe(200)
      expect(suppressed.body).toEqual({ address: "gone@example.net", suppressed: true })

      const refused = yield* api.call("POST", "/v1/messages", {
        json: message(1, { to: ["ok@example.net", "gone@example.net"] })
      })
      expect(refused.status).toBe(422)
      const problem = problemOf(refused)
      expect(problem.field).toBe("to[1]")
      expect(problem.detail).toContain("hard bounce on 2026-11-01")

      const lifted = yield* api.call("DELETE", "/v1/suppressions/gone%40example.net")
      expect(lifted.status).toBe(204)
      const accepted = yield* api.call("POST", "/v1/messages", { json: message(2, { to: ["gone@example.net"] }) })
      expect(accepted.status).toBe(202)
      const again = yield* api.call("DELETE", "/v1/suppressions/gone@example.net")
      expect(again.status).toBe(404)
      expect(problemOf(again).detail).toContain("not suppressed")
      const invalid = yield* api.call("POST", "/v1/suppressions", { json: { address: "no-at-sign" } })
      expect(invalid.status).toBe(400)
      expect(problemOf(invalid).field).toBe("address")
    }))

  it.scopedLive("POST /v1/complaints counts a complaint against a known message; unknown ids are 404", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const submitted = yield* api.call("POST", "/v1/messages", { json: message(1) })
      yield* statusUntil(api, submitted.body.id, "delivered")
      const before = sample((yield* api.call("GET", "/metrics")).text, "sluice_complaints_total") ?? 0
      const complaint = yield* api.call("POST", "/v1/complaints", { json: { id: submitted.body.id } })
      expect(complaint.status).toBe(202)
      // Its only recipient complained: suppressed (suppressions.auto is on by default).
      expect(complaint.body).toEqual({ id: submitted.body.id, status: "recorded", address: "r1@example.net", suppressed: true })
      expect(sample((yield* api.call("GET", "/metrics")).text, "sluice_complaints_total")).toBe(before + 1)
      const unknown = yield* api.call("POST", "/v1/complaints", { json: { id: "nope" } })
      expect(unknown.status).toBe(404)
      expect(problemOf(unknown).detail).toContain("nope")
    }))

  it.scopedLive("/healthz, /readyz and /metrics with the contract's names and labels", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const health = yield* api.call("GET", "/healthz")
      expect([health.status, health.body]).toEqual([200, { status: "ok" }])
      const ready = yield* api.call("GET", "/readyz")
      expect([ready.status, ready.body]).toEqual([200, { status: "ready" }])

      const before = (yield* api.call("GET", "/metrics")).text
      const submitted = yield* api.call("POST", "/v1/messages", { json: message(1) })
      yield* statusUntil(api, submitted.body.id, "delivered")
      const metrics = yield* api.call("GET", "/metrics")
      expect(metrics.status).toBe(200)
      expect(metrics.headers["content-type"]).toContain("text/plain")
      const text = metrics.text
      const grew = (name: string, labels: Record<string, string>) =>
        expect(sample(text, name, labels)).toBe((sample(before, name, labels) ?? 0) + 1)
      grew("sluice_messages_total", { outcome: "accepted" })
      grew("sluice_messages_total", { outcome: "delivered" })
      expect(text).toContain("# TYPE sluice_messages_total counter")
      expect(text).toContain("# TYPE sluice_delivery_duration_seconds histogram")
      expect(sample(text, "sluice_delivery_duration_seconds_count")).toBeGreaterThanOrEqual(1)
      expect(sample(text, "sluice_delivery_duration_seconds_bucket", { le: "+Inf" })).toBeGreaterThanOrEqual(1)
      expect(sample(text, "sluice_queue_depth")).toEqual(expect.any(Number))
      expect(sample(text, "sluice_upstream_in_flight", { upstream: "sink" })).toBe(0)
      expect(sample(text, "sluice_upstream_circuit_state", { upstream: "sink" })).toBe(0)
      expect(sample(text, "sluice_smtp_replies_total", { upstream: "sink", class: "2xx" })).toBeGreaterThanOrEqual(1)
      expect(sample(text, "sluice_smtp_connections_total", { upstream: "sink", event: "opened" })).toBeGreaterThanOrEqual(1)
      expect(sample(text, "process_cpu_seconds_total", { mode: "user" })).toBeGreaterThan(0)
      expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0)
      expect(sample(text, "nodejs_heap_used_bytes")).toBeGreaterThan(0)
    }))

  it.scopedLive("/readyz answers 503 while no upstream can take mail", () =>
    Effect.gen(function*() {
      const port = yield* deadPort
      const api = yield* start({
        upstreams: [{ name: "dead", host: "127.0.0.1", port }],
        circuitBreaker: { failureThreshold: 1, cooldown: "1 hour" }
      })
      yield* api.call("POST", "/v1/messages", { json: message(1) })
      const deadline = Date.now() + 20_000
      let ready = yield* api.call("GET", "/readyz")
      while (ready.status === 200 && Date.now() < deadline) ready = yield* api.call("GET", "/readyz")
      expect(ready.status).toBe(503)
      expect(problemOf(ready).detail).toContain("no upstream")
      expect((yield* api.call("GET", "/healthz")).status).toBe(200)
    }))

  it.scopedLive("a full queue answers 503 with Retry-After, for one message and for a batch", () =>
    Effect.gen(function*() {
      const port = yield* deadPort
      const api = yield* start({
        queue: { kind: "memory", maxDepth: 3 },
        upstreams: [{ name: "dead", host: "127.0.0.1", port }],
        retry: { initialDelay: "1 hour" }
      })
      const accepted: Array<string> = []
      for (let i = 0; i < 3; i++) {
        const answer = yield* api.call("POST", "/v1/messages", { json: message(i) })
        expect(answer.status).toBe(202)
        accepted.push(answer.body.id)
      }
      const full = yield* api.call("POST", "/v1/messages", { json: message(3) })
      expect(full.status).toBe(503)
      expect(Number(full.headers["retry-after"])).toBeGreaterThan(0)
      expect(problemOf(full)).toMatchObject({ status: 503, retryAfter: expect.any(Number) })
      expect(problemOf(full).detail).toContain("limit is 3")
      const batch = yield* api.call("POST", "/v1/messages/batch", { json: { messages: [message(4), message(5)] } })
      expect(batch.status).toBe(503)
      expect(batch.headers["retry-after"]).toBeDefined()
      // Nothing accepted went missing: each 202 is still known.
      for (const id of accepted) expect((yield* api.call("GET", `/v1/messages/${id}`)).status).toBe(200)
    }))

  it.scopedLive("/openapi.json documents every endpoint and /docs shows it", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const spec = yield* api.call("GET", "/openapi.json")
      expect(spec.status).toBe(200)
      expect(spec.body.openapi).toMatch(/^3\./)
      expect(Object.keys(spec.body.paths).sort()).toEqual([
        "/console",
        "/healthz",
        "/metrics",
        "/readyz",
        "/v1/admin/reload",
        "/v1/complaints",
        "/v1/failures",
        "/v1/feedback",
        "/v1/messages",
        "/v1/messages/batch",
        "/v1/messages/{id}",
        "/v1/queue",
        "/v1/queue/purge",
        "/v1/queue/retry",
        "/v1/suppressions",
        "/v1/suppressions/{address}",
        "/v1/suspensions",
        "/v1/suspensions/{id}",
        "/v1/templates/{id}"
      ])
      const submit = spec.body.paths["/v1/messages"].post
      expect(Object.keys(submit.responses)).toEqual(expect.arrayContaining(["202", "400", "401", "413", "415", "422", "503"]))
      expect(submit.responses["400"].content).toEqual({
        "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } }
      })
      expect(spec.body.components.schemas.Problem.required).toEqual(expect.arrayContaining(["status", "detail"]))
      expect(Object.keys(spec.body.components.schemas)).not.toContain("HttpApiDecodeError")
      expect(submit.requestBody.content["application/json"].schema).toBeDefined()
      expect(spec.body.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" })
      const docs = yield* api.call("GET", "/docs")
      expect(docs.status).toBe(200)
      expect(docs.headers["content-type"]).toContain("text/html")
      expect(docs.text).toContain("/v1/messages/batch")
    }))

  it.scopedLive("with http.apiKeys, /v1/ calls need a Bearer key; health and readiness stay open", () =>
    Effect.gen(function*() {
      const api = yield* start({ http: { apiKeys: ["key-one", "key-two"] } })
      const none = yield* api.call("POST", "/v1/messages", { json: message(1) })
      expect(none.status).toBe(401)
      expect(none.headers["www-authenticate"]).toBe("Bearer")
      expect(problemOf(none).detail).toContain("Authorization")
      const wrong = yield* api.call("POST", "/v1/messages", { json: message(1), headers: { authorization: "Bearer key-three" } })
      expect(wrong.status).toBe(401)
      const basic = yield* api.call("GET", "/v1/messages/x", { headers: { authorization: "Basic a2V5LW9uZQ==" } })
      expect(basic.status).toBe(401)
      const right = yield* api.call("POST", "/v1/messages", { json: message(1), headers: { authorization: "Bearer key-two" } })
      expect(right.status).toBe(202)
      const status = yield* api.call("GET", `/v1/messages/${right.body.id}`, { headers: { authorization: "Bearer key-one" } })
      expect(status.status).toBe(200)
      for (const path of ["/healthz", "/readyz"]) {
        expect((yield* api.call("GET", path)).status).toBe(200)
      }
      expect(api.sink.messages.length).toBeLessThanOrEqual(1)
    }))

  it.scopedLive("with http.apiKeys, /metrics, /openapi.json and /docs stay open, unless http.publicMetrics is false", () =>
    Effect.gen(function*() {
      for (const fastPath of [true, false]) {
        const closed = yield* start({ http: { apiKeys: ["key-one"], publicMetrics: false } }, {}, { fastPath })
        for (const path of ["/metrics", "/openapi.json", "/docs", "/metrics?x=1"]) {
          const none = yield* closed.call("GET", path)
          expect([none.status, none.headers["content-type"], none.headers["www-authenticate"]], path).toEqual([
            401,
            "application/problem+json",
            "Bearer"
          ])
          expect(problemOf(none).detail).toContain("http.apiKeys")
          const wrong = yield* closed.call("GET", path, { headers: { authorization: "Bearer key-two" } })
          expect(wrong.status, path).toBe(401)
          const right = yield* closed.call("GET", path, { headers: { authorization: "Bearer key-one" } })
          expect(right.status, path).toBe(200)
        }
        for (const path of ["/healthz", "/readyz"]) expect((yield* closed.call("GET", path)).status).toBe(200)

        const open = yield* start({ http: { apiKeys: ["key-one"] } }, {}, { fastPath })
        for (const path of ["/metrics", "/openapi.json", "/docs"]) expect((yield* open.call("GET", path)).status, path).toBe(200)
        expect((yield* open.call("POST", "/v1/messages", { json: message(1) })).status).toBe(401)
      }
    }))
})
