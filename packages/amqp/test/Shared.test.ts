import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import { freshPrefix } from "./support/broker.js"
import type { Node } from "./support/cluster.js"
import { cleanRedis, freePort, startNode, waitFor } from "./support/cluster.js"

// What one node writes, another reads, through Redis: status records, idempotency keys, templates
// and suppressions. Two `sluice serve` processes over HTTP.

const call = (node: Node, method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${node.port}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: response.status, body: await response.json() as Record<string, unknown> }
  })

describe("nodes sharing Redis", () => {
  it.scopedLive("a message's status, its idempotency key, templates and suppressions are the same on every node", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      yield* cleanRedis(prefix)
      const sink = yield* Sink.make()
      const [a, b] = yield* Effect.all([
        startNode("a", { prefix, sinkPort: sink.port }),
        startNode("b", { prefix, sinkPort: sink.port })
      ], { concurrency: "unbounded" })

      const message = { from: "sender@example.com", to: ["r1@example.net"], subject: "Hi", text: "hello", idempotencyKey: "order-1" }
      const first = yield* call(a!, "POST", "/v1/messages", message)
      expect(first.status).toBe(202)
      const again = yield* call(b!, "POST", "/v1/messages", message)
      expect(again.body.id).toBe(first.body.id)
      // The key's fingerprint is in Redis too: another message under it, on either node, is a 409.
      const other = yield* call(b!, "POST", "/v1/messages", { ...message, text: "another" })
      expect([other.status, other.body.id]).toEqual([409, first.body.id])
      yield* waitFor("the message", () => sink.received === 1, 30_000)
      const status = yield* call(b!, "GET", `/v1/messages/${first.body.id}`)
      expect(status.status).toBe(200)
      expect(status.body.status).toBe("delivered")

      expect((yield* call(a!, "PUT", "/v1/templates/welcome", { subject: "Welcome {{name}}", text: "Hello {{name}}" })).status)
        .toBe(200)
      const templated = yield* call(b!, "POST", "/v1/messages", {
        from: "sender@example.com",
        to: ["r2@example.net"],
        template: { id: "welcome", vars: { name: "Ann" } }
      })
      expect(templated.status).toBe(202)
      yield* waitFor("the templated message", () => sink.received === 2, 30_000)
      const received = sink.messages.find((m) => m.to.includes("r2@example.net"))!.data.toString()
      expect(received).toContain("Subject: Welcome Ann")
      expect(received).toContain("Hello Ann")

      expect((yield* call(b!, "POST", "/v1/suppressions", { address: "gone@example.net", reason: "hard bounce" })).status)
        .toBeLessThan(300)
      const refused = yield* call(a!, "POST", "/v1/messages", { ...message, to: ["gone@example.net"], idempotencyKey: "order-2" })
      expect(refused.status).toBeGreaterThanOrEqual(400)
      expect(refused.status).toBeLessThan(500)
      expect(JSON.stringify(refused.body)).toContain("gone@example.net")
    }), 120_000)

  it.scopedLive("with Redis unreachable a node still takes and delivers mail, on local state, and says so", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const sink = yield* Sink.make()
      const closed = yield* freePort
      const node = yield* startNode("alone", {
        prefix,
        sinkPort: sink.port,
        upstream: { rateLimit: { messages: 100, per: "1 second" } },
        config: { cache: { kind: "redis", url: `redis://127.0.0.1:${closed}`, prefix } }
      })
      const submitted = yield* call(node, "POST", "/v1/messages", {
        from: "sender@example.com",
        to: ["r1@example.net"],
        subject: "Hi",
        text: "hello",
        idempotencyKey: "k"
      })
      expect(submitted.status).toBe(202)
      yield* waitFor("the message", () => sink.received === 1, 30_000)
      const status = yield* call(node, "GET", `/v1/messages/${submitted.body.id}`)
      expect(status.body.status).toBe("delivered")
      expect(yield* node.metric("sluice_redis_degraded")).toBe(1)
      expect(node.stdout()).toContain("redis unavailable; using local state")
    }), 120_000)
})
