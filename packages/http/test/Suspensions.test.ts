import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { message, seqOf, start, statusUntil } from "./support/adapter.js"

const streams = { transactional: { weight: 8 }, bulk: { weight: 1 } }

describe("suspensions over HTTP", () => {
  it.scopedLive("two streams and two domains: each suspension holds only what it names, and says so in the status; lifted, it moves", () =>
    Effect.gen(function*() {
      const api = yield* start({ streams })
      const bulk = yield* api.call("POST", "/v1/suspensions", { json: { scope: "stream", target: "bulk", reason: "campaign paused" } })
      expect(bulk.status).toBe(201)
      expect(bulk.body).toMatchObject({ id: expect.any(String), scope: "stream", target: "bulk", reason: "campaign paused", createdAt: expect.any(String) })
      const domain = yield* api.call("POST", "/v1/suspensions", { json: { scope: "domain", target: "a.example", duration: "2 hours" } })
      expect(domain.status).toBe(201)
      expect(Date.parse(domain.body.until) - Date.parse(domain.body.createdAt)).toBe(2 * 3600_000)

      const submit = (seq: number, stream: string, to: string) =>
        api.call("POST", "/v1/messages", { json: message(seq, { stream, to: [to] }) }).pipe(Effect.map((a) => a.body.id as string))
      const heldByDomain = yield* submit(1, "transactional", "x@a.example")
      const free = yield* submit(2, "transactional", "y@b.example")
      const heldByStream = yield* submit(3, "bulk", "z@b.example")

      yield* statusUntil(api, free, "delivered")
      const byDomain = yield* statusUntil(api, heldByDomain, "deferred")
      expect(byDomain.body).toMatchObject({ attempts: 0, suspended: { id: domain.body.id, scope: "domain", target: "a.example" } })
      const byStream = yield* api.call("GET", `/v1/messages/${heldByStream}`)
      expect(byStream.body).toMatchObject({ status: "queued", suspended: { id: bulk.body.id, scope: "stream" } })
      expect(api.sink.messages.map((m) => seqOf(m.data))).toEqual([2])

      const listed = yield* api.call("GET", "/v1/suspensions")
      expect(listed.body.suspensions.map((s: { id: string }) => s.id)).toEqual([bulk.body.id, domain.body.id])

      expect((yield* api.call("DELETE", `/v1/suspensions/${bulk.body.id}`)).status).toBe(204)
      yield* statusUntil(api, heldByStream, "delivered")
      expect((yield* api.call("GET", `/v1/messages/${heldByDomain}`)).body.status).toBe("deferred")
      const again = yield* api.call("DELETE", `/v1/suspensions/${bulk.body.id}`)
      expect(again.status).toBe(404)
      expect(again.body.detail).toContain(bulk.body.id)
      expect((yield* api.call("GET", "/v1/suspensions")).body.suspensions.map((s: { id: string }) => s.id)).toEqual([domain.body.id])
    }))

  it.scopedLive("bad input gets a 400 naming the field, and nothing is suspended", () =>
    Effect.gen(function*() {
      const api = yield* start({ streams })
      const cases: ReadonlyArray<readonly [unknown, string, string]> = [
        [{ scope: "campaign", target: "x" }, "scope", ""],
        [{ scope: "stream", target: "news" }, "target", "\"news\" is not a configured stream (transactional, bulk)"],
        [{ scope: "upstream", target: "nope" }, "target", "\"nope\" is not a configured upstream (sink)"],
        [{ scope: "domain", target: "not a domain" }, "target", "is not a domain"],
        [{ scope: "domain", target: "a.example", duration: "soon" }, "duration", ""],
        [{ scope: "domain", target: "a.example", duration: "0 seconds" }, "duration", "must be more than zero"],
        [{ scope: "domain", target: "a.example", until: "tomorrow" }, "until", ""]
      ]
      for (const [json, field, detail] of cases) {
        const answer = yield* api.call("POST", "/v1/suspensions", { json })
        expect(answer.status, JSON.stringify(json)).toBe(400)
        expect(answer.headers["content-type"]).toBe("application/problem+json")
        expect(answer.body.field ?? answer.body.errors?.[0]?.field, JSON.stringify(json)).toBe(field)
        expect(answer.body.detail).toContain(detail)
      }
      expect((yield* api.call("GET", "/v1/suspensions")).body).toEqual({ suspensions: [] })
      expect((yield* api.call("DELETE", "/v1/suspensions/unknown-id")).status).toBe(404)
    }))

  it.scopedLive("behind the API keys like every /v1/ call", () =>
    Effect.gen(function*() {
      const api = yield* start({ http: { apiKeys: ["k1"] } })
      expect((yield* api.call("GET", "/v1/suspensions")).status).toBe(401)
      const made = yield* api.call("POST", "/v1/suspensions", {
        json: { scope: "upstream", target: "sink" },
        headers: { authorization: "Bearer k1" }
      })
      expect(made.status).toBe(201)
    }))
})
