import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { message, seqOf, start, statusUntil } from "./support/adapter.js"

const streams = { transactional: { weight: 8 }, bulk: { weight: 1 } }

describe("queue inspection over HTTP", () => {
  it.scopedLive("GET /v1/queue counts by status, stream and domain; GET /v1/messages filters and pages; a filter never reaches past itself", () =>
    Effect.gen(function*() {
      const api = yield* start({ streams })
      // The only upstream suspended: everything stays queued while we look.
      expect((yield* api.call("POST", "/v1/suspensions", { json: { scope: "upstream", target: "sink" } })).status).toBe(201)
      const submit = (seq: number, stream: string, to: string) =>
        api.call("POST", "/v1/messages", { json: message(seq, { stream, to: [to] }) }).pipe(Effect.map((a) => a.body.id as string))
      const a = yield* Effect.forEach([1, 2, 3], (i) => submit(i, "transactional", `t${i}@a.example`))
      const b = yield* Effect.forEach([4, 5], (i) => submit(i, "bulk", `b${i}@b.example`))

      const summary = (yield* api.call("GET", "/v1/queue")).body
      expect(summary).toMatchObject({
        total: 5,
        byStatus: { queued: 5, deferred: 0, delivering: 0 },
        byStream: { transactional: 3, bulk: 2 },
        byDomain: { "a.example": 3, "b.example": 2 },
        byUpstream: {},
        nextAttemptAt: null
      })
      expect(Date.parse(summary.oldestSubmittedAt)).toBeLessThanOrEqual(Date.now())
      expect(summary.oldestAgeSeconds).toBeGreaterThanOrEqual(0)

      const ids = (answer: { body: { messages: Array<{ id: string }> } }) => answer.body.messages.map((m) => m.id).sort()
      expect(ids(yield* api.call("GET", "/v1/messages?stream=bulk"))).toEqual([...b].sort())
      expect(ids(yield* api.call("GET", "/v1/messages?domain=A.Example&stream=transactional"))).toEqual([...a].sort())
      expect(ids(yield* api.call("GET", "/v1/messages?domain=a.example&stream=bulk"))).toEqual([])
      expect(ids(yield* api.call("GET", "/v1/messages?olderThan=1%20hour"))).toEqual([])
      expect(ids(yield* api.call("GET", "/v1/messages?status=deferred"))).toEqual([])
      const listed = yield* api.call("GET", "/v1/messages?status=queued&stream=transactional")
      expect(listed.body.messages[0]).toMatchObject({ status: "queued", stream: "transactional", attempts: 0 })

      // Page by page: every message once, however the pages fall.
      const seen: Array<string> = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = yield* api.call("GET", `/v1/messages?limit=2${cursor === undefined ? "" : `&cursor=${encodeURIComponent(cursor)}`}`)
        expect(page.status).toBe(200)
        expect(page.body.messages.length).toBeLessThanOrEqual(2)
        seen.push(...page.body.messages.map((m: { id: string }) => m.id))
        cursor = page.body.cursor
      } while (cursor !== undefined && ++pages < 10)
      expect(seen.sort()).toEqual([...a, ...b].sort())
    }))

  it.scopedLive("unknown filters, bad values and unconfigured names are a 400 naming the parameter", () =>
    Effect.gen(function*() {
      const api = yield* start({ streams })
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["colour=red", "colour"],
        ["status=lost", "status"],
        ["stream=news", "stream"],
        ["upstream=elsewhere", "upstream"],
        ["olderThan=soon", "olderThan"],
        ["limit=0", "limit"],
        ["limit=5000", "limit"],
        ["limit=ten", "limit"]
      ]
      for (const [query, field] of cases) {
        const answer = yield* api.call("GET", `/v1/messages?${query}`)
        expect(answer.status, query).toBe(400)
        expect(answer.headers["content-type"], query).toBe("application/problem+json")
        expect(answer.body.field, query).toBe(field)
      }
    }))

  it.scopedLive("retry and purge: two streams and two domains, and an action never touches a message outside its filter", () =>
    Effect.gen(function*() {
      // The sink answers 451 to an address with +451 in it: those messages wait, deferred for an hour.
      const api = yield* start({ streams, retry: { initialDelay: "1 hour" } })
      const submit = (seq: number, stream: string, to: string) =>
        api.call("POST", "/v1/messages", { json: message(seq, { stream, to: [to] }) }).pipe(Effect.map((a) => a.body.id as string))
      const ta = yield* submit(1, "transactional", "x+451@a.example")
      const tb = yield* submit(2, "transactional", "y+451@b.example")
      const ba = yield* submit(3, "bulk", "z+451@a.example")
      for (const id of [ta, tb, ba]) yield* statusUntil(api, id, "deferred")
      const failures = (yield* api.call("GET", "/v1/failures")).body.failures as Array<{ id: string; status: string; reply: { code: number } }>
      expect(failures.map((f) => f.id).sort()).toEqual([ta, tb, ba].sort())
      expect(failures.every((f) => f.status === "deferred" && f.reply.code === 451)).toBe(true)
      const attempts = (id: string) => api.call("GET", `/v1/messages/${id}`).pipe(Effect.map((a) => a.body.attempts as number))

      const counted = yield* api.call("POST", "/v1/queue/purge", { json: { stream: "bulk", action: "bounce", dryRun: true } })
      expect(counted.body).toEqual({ matched: 1, acted: 0, delivering: 0, dryRun: true })
      expect((yield* api.call("GET", `/v1/messages/${ba}`)).body.status).toBe("deferred")

      const retried = yield* api.call("POST", "/v1/queue/retry", { json: { domain: "b.example" } })
      expect(retried.body).toEqual({ matched: 1, acted: 1, delivering: 0, dryRun: false })
      for (let i = 0; i < 500 && (yield* attempts(tb)) < 2; i++) yield* Effect.sleep("20 millis")
      expect(yield* attempts(tb)).toBe(2)
      expect([yield* attempts(ta), yield* attempts(ba)]).toEqual([1, 1])

      const bounced = yield* api.call("POST", "/v1/queue/purge", { json: { stream: "bulk", domain: "a.example", action: "bounce", reason: "campaign withdrawn" } })
      expect(bounced.body).toMatchObject({ matched: 1, acted: 1 })
      expect((yield* api.call("GET", `/v1/messages/${ba}`)).body).toMatchObject({
        status: "bounced",
        recipients: [{ status: "bounced", category: "other", reply: { text: "campaign withdrawn" } }]
      })
      expect((yield* api.call("GET", `/v1/messages/${ta}`)).body.status).toBe("deferred")

      const deleted = yield* api.call("POST", "/v1/queue/purge", { json: { domain: "a.example", action: "delete" } })
      expect(deleted.body).toMatchObject({ matched: 1, acted: 1 })
      expect((yield* api.call("GET", `/v1/messages/${ta}`)).status).toBe(404)
      expect((yield* api.call("GET", `/v1/messages/${tb}`)).body.status).toBe("deferred")
      expect((yield* api.call("GET", "/v1/queue")).body).toMatchObject({ total: 1, byDomain: { "b.example": 1 } })
    }))

  it.scopedLive("a retry or purge without a filter, or with a bad one, is a 400 naming the field, and touches nothing", () =>
    Effect.gen(function*() {
      const api = yield* start({ streams })
      const cases: ReadonlyArray<readonly [string, unknown, string]> = [
        ["/v1/queue/retry", {}, "all"],
        ["/v1/queue/purge", { action: "delete" }, "all"],
        ["/v1/queue/purge", { stream: "bulk" }, "action"],
        ["/v1/queue/purge", { stream: "bulk", action: "explode" }, "action"],
        ["/v1/queue/retry", { stream: "news" }, "stream"],
        ["/v1/queue/retry", { olderThan: "soon" }, "olderThan"],
        ["/v1/queue/retry", { stream: "bulk", colour: "red" }, "colour"]
      ]
      for (const [path, json, field] of cases) {
        const answer = yield* api.call("POST", path, { json })
        expect(answer.status, JSON.stringify(json)).toBe(400)
        expect(answer.body.field, JSON.stringify(json)).toBe(field)
      }
      const everything = yield* api.call("POST", "/v1/queue/purge", { json: { all: true, action: "delete", dryRun: true } })
      expect(everything.body).toEqual({ matched: 0, acted: 0, delivering: 0, dryRun: true })
    }))

  it.scopedLive("a purge reaches what the scheduler holds for a suspended upstream: nothing of it is sent once resumed", () =>
    Effect.gen(function*() {
      const api = yield* start({ streams })
      const hold = yield* api.call("POST", "/v1/suspensions", { json: { scope: "upstream", target: "sink" } })
      for (const i of [1, 2, 3]) yield* api.call("POST", "/v1/messages", { json: message(i, { stream: "bulk" }) })
      yield* api.call("POST", "/v1/messages", { json: message(4, { stream: "transactional" }) })
      const purged = yield* api.call("POST", "/v1/queue/purge", { json: { stream: "bulk", action: "delete" } })
      expect(purged.body).toMatchObject({ matched: 3, acted: 3, delivering: 0 })
      yield* api.call("DELETE", `/v1/suspensions/${hold.body.id}`)
      for (let i = 0; i < 500 && api.sink.received < 1; i++) yield* Effect.sleep("20 millis")
      expect((yield* api.call("GET", "/v1/queue")).body.total).toBe(0)
      expect(api.sink.messages.map((m) => seqOf(m.data))).toEqual([4])
    }))
})
