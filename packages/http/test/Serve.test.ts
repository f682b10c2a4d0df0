import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import { join } from "node:path"
import type { Answer, CallOptions } from "./support/adapter.js"
import { attempt, call, message, readyWithin, realSleep, seqOf, statusUntil } from "./support/adapter.js"
import { cases } from "./support/badInput.js"
import { serve, workspace } from "./support/process.js"
import { dsn } from "./support/reports.js"
import * as WebhookReceiver from "./support/WebhookReceiver.js"

const config = (dir: string, sink: { host: string; port: number }, extra: Record<string, unknown> = {}) => ({
  http: { port: 0 },
  queue: { kind: "embedded", path: join(dir, "spool") },
  upstreams: [{ name: "sink", host: sink.host, port: sink.port }],
  ...extra
})

/** Waits, in real time, until `check` holds. */
const eventually = (check: () => boolean, what: string, timeoutMs = 60_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* realSleep(50)
    }
  })

/** The distinct X-Seq values a sink received. */
const received = (...sinks: ReadonlyArray<Sink.Sink>) => new Set(sinks.flatMap((s) => s.messages.map((m) => seqOf(m.data))))

const batchOf = (from: number, count: number) => ({
  messages: Array.from({ length: count }, (_, i) => message(from + i))
})

describe("sluice serve with its HTTP API, as a process", () => {
  it.scopedLive("every endpoint, every bad input, API keys; SIGTERM exits 0", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { dir, file } = workspace((dir) => config(dir, sink, { http: { port: 0, apiKeys: ["secret-key"], publicMetrics: false } }))
      const sluice = yield* serve(["--config", file], dir)
      const auth = { authorization: "Bearer secret-key" }
      const v1 = (method: string, path: string, options: CallOptions = {}): Effect.Effect<Answer> =>
        call(sluice.base, method, path, { ...options, headers: { ...auth, ...options.headers } })
      const api = { call: v1 }

      expect((yield* call(sluice.base, "GET", "/healthz")).status).toBe(200)
      yield* readyWithin(sluice.base, 20_000)
      const refused = yield* call(sluice.base, "POST", "/v1/messages", { json: message(1) })
      expect(refused.status).toBe(401)
      const wrongKey = yield* v1("POST", "/v1/messages", { json: message(1), headers: { authorization: "Bearer nope" } })
      expect(wrongKey.status).toBe(401)

      const one = yield* v1("POST", "/v1/messages", { json: message(1, { text: "hello\n.\n..dots\n" }) })
      expect(one.status).toBe(202)
      const batch = yield* v1("POST", "/v1/messages/batch", { json: batchOf(2, 3) })
      expect(batch.status).toBe(202)
      expect(batch.body.results).toHaveLength(3)
      const put = yield* v1("PUT", "/v1/templates/receipt", { json: { subject: "Receipt {{n}}", text: "Order {{n}}" } })
      expect(put.body).toEqual({ id: "receipt", version: 1 })
      const templated = yield* v1("POST", "/v1/messages", {
        json: { from: "shop@example.com", to: ["buyer@example.net"], headers: { "X-Seq": "5" }, template: { id: "receipt", vars: { n: 42 } } }
      })
      expect(templated.status).toBe(202)
      expect((yield* v1("POST", "/v1/suppressions", { json: { address: "no@example.net", reason: "complained" } })).status).toBe(200)
      const suppressed = yield* v1("POST", "/v1/messages", { json: message(6, { to: ["no@example.net"] }) })
      expect([suppressed.status, suppressed.body.field]).toEqual([422, "to[0]"])
      expect((yield* v1("DELETE", "/v1/suppressions/no@example.net")).status).toBe(204)

      for (const id of [one.body.id, ...batch.body.results.map((r: { id: string }) => r.id), templated.body.id]) {
        yield* statusUntil(api, id, "delivered")
      }
      expect([...received(sink)].sort()).toEqual([1, 2, 3, 4, 5])
      const dots = sink.messages.find((m) => seqOf(m.data) === 1)!.data.toString()
      expect(dots).toContain("hello\r\n.\r\n..dots\r\n")
      expect(sink.messages.find((m) => seqOf(m.data) === 5)!.data.toString()).toContain("Subject: Receipt 42")

      const complaint = yield* v1("POST", "/v1/complaints", { json: { id: one.body.id } })
      expect(complaint.status).toBe(202)
      // The engine suppresses on the list the adapter checks (one store on disk): a complaint, a later bounce.
      expect((yield* v1("POST", "/v1/messages", { json: message(8, { to: ["r1@example.net"] }) })).status).toBe(422)
      const original = sink.messages.find((m) => m.to.includes("r2@example.net"))!.data
      const bounce = yield* v1("POST", "/v1/feedback", { raw: dsn(original, "r2@example.net").whole, headers: { "content-type": "message/rfc822" } })
      expect(bounce.body).toMatchObject({ matched: true, status: "bounced", recipients: [{ category: "bad-mailbox", suppressed: true }] })
      const bounced = yield* v1("POST", "/v1/messages", { json: message(9, { to: ["r2@example.net"] }) })
      expect([bounced.status, bounced.body.detail]).toEqual([422, "r2@example.net is suppressed: bounced: 550 5.1.1 <r2@example.net>: Recipient address rejected: User unknown"])
      // Behind the key like /v1/ (http.publicMetrics is false in this config).
      expect((yield* call(sluice.base, "GET", "/metrics")).status).toBe(401)
      const metrics = (yield* v1("GET", "/metrics")).text
      expect(metrics).toMatch(/^sluice_messages_total\{outcome="delivered"\} 5$/m)
      expect(metrics).toMatch(/^sluice_complaints_total 1$/m)
      expect((yield* v1("GET", "/openapi.json")).body.paths["/v1/messages"]).toBeDefined()
      expect((yield* v1("GET", "/docs")).status).toBe(200)

      for (const c of cases) {
        const answer = yield* v1("POST", c.path ?? "/v1/messages", c.send)
        expect(answer.status, c.name).toBe(c.status)
        if (c.field !== undefined) expect(answer.body.field, c.name).toBe(c.field)
      }
      expect((yield* v1("POST", "/v1/messages", { json: message(7) })).status).toBe(202)

      yield* sluice.kill("SIGTERM")
      expect(yield* sluice.exited).toBe(0)
      const messages = sluice.logs().map((line) => line.msg)
      expect(messages).toEqual(expect.arrayContaining(["http listening", "serving", "http closing", "draining", "stopped"]))
      expect(messages.indexOf("http closing")).toBeLessThan(messages.indexOf("draining"))
      expect(sluice.stderr()).toBe("")
    }))

  it.scopedLive("10,000 messages through the batch API, every one delivered to the sink", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { dir, file } = workspace((dir) => config(dir, sink))
      const sluice = yield* serve(["--config", file], dir)
      const ids = yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i * 1000),
        (from) =>
          call(sluice.base, "POST", "/v1/messages/batch", { json: batchOf(from, 1000) }).pipe(Effect.map((answer) => {
            expect(answer.status).toBe(202)
            return answer.body.results.map((r: { id?: string }) => r.id!)
          })),
        { concurrency: 2 }
      ).pipe(Effect.map((batches) => batches.flat()))
      expect(new Set(ids).size).toBe(10_000)
      yield* eventually(() => received(sink).size === 10_000, "10,000 distinct messages at the sink", 120_000)
      // Each is final as delivered, not just received: sample across the run.
      for (let i = 0; i < ids.length; i += 997) yield* statusUntil({ call: (m, p, o) => call(sluice.base, m, p, o) }, ids[i]!, "delivered")
      yield* sluice.kill("SIGTERM")
      expect(yield* sluice.exited).toBe(0)
    }), { timeout: 180_000 })

  it.scopedLive("SIGTERM under load exits 0; after a restart on the same spool every accepted message is delivered", () =>
    Effect.gen(function*() {
      // A slow upstream keeps a backlog in the spool when the signal comes.
      const slow = yield* Sink.make({ dataDelayMs: 20 })
      const fast = yield* Sink.make()
      const { dir, file } = workspace((dir) => config(dir, slow, { upstreams: [{ name: "slow", host: slow.host, port: slow.port, maxConnections: 2 }] }))
      const first = yield* serve(["--config", file, "--drain-timeout", "2 seconds"], dir)

      const accepted = new Set<number>()
      let stop = false
      let next = 0
      const load = Effect.gen(function*() {
        while (!stop) {
          const from = next
          next += 100
          const answer = yield* Effect.either(attempt(first.base, "POST", "/v1/messages/batch", { json: batchOf(from, 100) }))
          if (answer._tag === "Left" || answer.right.status !== 202) return
          answer.right.body.results.forEach((r: { id?: string }, i: number) => r.id !== undefined && accepted.add(from + i))
        }
      })
      const loaders = yield* Effect.forkScoped(Effect.all([load, load], { concurrency: 2 }))
      yield* eventually(() => accepted.size >= 1000, "a thousand messages accepted")
      yield* first.kill("SIGTERM")
      expect(yield* first.exited).toBe(0)
      stop = true
      yield* loaders.await
      const before = received(slow)
      expect(before.size).toBeLessThan(accepted.size) // the backlog was real

      const { file: restartFile } = workspace(() => config(dir, fast))
      const second = yield* serve(["--config", restartFile], dir)
      yield* eventually(
        () => {
          const all = received(slow, fast)
          return [...accepted].every((seq) => all.has(seq))
        },
        `all ${accepted.size} accepted messages delivered`,
        120_000
      )
      expect(first.logs().filter((line) => line.level === "error" || line.level === "fatal")).toEqual([])
      yield* second.kill("SIGTERM")
      expect(yield* second.exited).toBe(0)
    }), { timeout: 240_000 })

  it.scopedLive("with a webhook configured, each message's Accepted and Delivered events are posted to it", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const receiver = yield* WebhookReceiver.make(() => 200)
      const { dir, file } = workspace((dir) =>
        config(dir, sink, { webhook: { url: receiver.url, batchSize: 10, flushInterval: "100 millis" } })
      )
      const sluice = yield* serve(["--config", file], dir)
      const batch = yield* call(sluice.base, "POST", "/v1/messages/batch", { json: batchOf(1, 20) })
      expect(batch.status).toBe(202)
      const ids = new Set<string>(batch.body.results.map((r: { id: string }) => r.id))
      const deliveredIds = () => new Set(receiver.accepted().filter((e) => e._tag === "Delivered").map((e) => e.id))
      yield* eventually(() => [...ids].every((id) => deliveredIds().has(id)), "a Delivered event for every message")
      expect(receiver.accepted().filter((e) => e._tag === "Accepted" && ids.has(e.id!))).toHaveLength(20)
      yield* sluice.kill("SIGTERM")
      expect(yield* sluice.exited).toBe(0)
    }))
})
