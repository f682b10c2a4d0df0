import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Effect, Either } from "effect"
import { statusUntil, startEngine, upstream } from "./support/engine.js"

// `submitBatch` in two halves (the HTTP adapter prepares each request as it is read and queues a
// group of them in one commit): what `prepare` judged is what `submitPrepared` answers and queues.

const config = (sink: Sink.Sink) => ({ upstreams: [upstream("relay", sink)], streams: { default: { weight: 1 } } })

const ok = (n: number) => ({ from: "sender@example.com", to: [`r${n}@example.net`], subject: `hello ${n}`, text: "body" })

describe("Sluice.prepare and submitPrepared", () => {
  it.scoped("a refused message keeps its place; the others are queued with the ids prepare gave, and delivered", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(config(sink))
      const prepared = sluice.prepare([ok(1), { ...ok(2), stream: "nowhere" }, ok(3)])
      expect(prepared).toBeDefined()
      expect(prepared!.map(Either.isRight)).toEqual([true, false, true])
      const results = yield* sluice.submitPrepared(prepared!)
      expect(results.map(Either.isRight)).toEqual([true, false, true])
      expect(Either.getLeft(results[1]!).pipe((e) => e._tag === "Some" && e.value._tag)).toBe("InvalidMessage")
      const ids = results.flatMap((r) => Either.isRight(r) ? [r.right.id] : [])
      expect(ids).toEqual(prepared!.flatMap((p) => Either.isRight(p) ? [p.right.id] : []))
      for (const id of ids) yield* statusUntil(sluice, id, (r) => r.status === "delivered", `${id} delivered`)
      // Two connections may deliver them in either order.
      expect(sink.messages.map((m) => m.to[0]).sort()).toEqual(["r1@example.net", "r3@example.net"])
    }))

  it.scoped("a message that needs an Effect to prepare (a template) is left to submitBatch", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine(config(sink))
      expect(sluice.prepare([ok(1), { from: "sender@example.com", to: ["a@example.net"], template: { id: "welcome" } }])).toBeUndefined()
      const [refused] = yield* sluice.submitBatch([{ from: "sender@example.com", to: ["a@example.net"], template: { id: "welcome" } }])
      expect(Either.isLeft(refused!)).toBe(true)
    }))
})
