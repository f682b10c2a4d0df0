import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Running } from "./support/adapter.js"
import { start, statusUntil } from "./support/adapter.js"
import { bytes, cases, ok } from "./support/badInput.js"

const json = (body: unknown) => ({ json: body })

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
