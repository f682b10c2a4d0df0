import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { message, start } from "./support/adapter.js"

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
})
