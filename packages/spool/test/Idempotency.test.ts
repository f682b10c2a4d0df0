import { describe, expect, it } from "@effect/vitest"
import { Config, IdempotencyConflict, Sluice } from "@sluice/engine"
import { Sink } from "@sluice/sink"
import { Context, Effect, Layer, Logger, LogLevel, Option, TestClock } from "effect"
import { commit, idempotencyKey, openStore } from "../src/internal/store.js"
import { Spool } from "../src/index.js"
import { eventually, message, tempDir } from "./support/spool.js"

// Issue 14, item 8: a repeated idempotency key with another message was answered the first id, and
// the message dropped. The spool keeps a fingerprint with each key: the same message is a duplicate,
// another one a conflict naming the first id — within a batch, across callers and across restarts.

describe("Spool: idempotency keys and what they were first used for", () => {
  it.scoped("another message under a used key is a conflict naming the first id, never stored: in a batch, across callers, after a restart", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const spool = yield* Spool.make({ path })
        const [a, b, c] = yield* spool.enqueue([
          message(1, { idempotencyKey: "order-1" }),
          message(2, { idempotencyKey: "order-1" }),
          message(1, { idempotencyKey: "order-1" })
        ])
        expect(a).toEqual({ id: a!.id, duplicate: false })
        expect(b).toEqual({ id: a!.id, duplicate: true, conflict: true })
        expect(c).toEqual({ id: a!.id, duplicate: true })
        // Callers at once, half with one message and half with another: whichever is first, the
        // others with its message are duplicates and those with the other are conflicts.
        const concurrent = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i % 2 === 0 ? 10 : 11),
          (n) => Effect.map(spool.enqueue([message(n, { idempotencyKey: "order-2" })]), ([r]) => ({ n, ...r! })),
          { concurrency: "unbounded" }
        )
        const winners = concurrent.filter((r) => !r.duplicate)
        expect(winners).toHaveLength(1)
        expect(new Set(concurrent.map((r) => r.id))).toEqual(new Set([winners[0]!.id]))
        for (const r of concurrent) expect(r.conflict === true, `message ${r.n}`).toBe(r.n !== winners[0]!.n)
        expect(yield* spool.depth).toBe(2)
        return a!.id
      }))
      const spool = yield* Spool.make({ path })
      expect(yield* spool.enqueue([message(3, { idempotencyKey: "order-1" })])).toEqual([{ id: first, duplicate: true, conflict: true }])
      expect(yield* spool.enqueue([message(1, { idempotencyKey: "order-1" })])).toEqual([{ id: first, duplicate: true }])
      expect(yield* spool.depth).toBe(2)
    }))

  it.scoped("a key stored before fingerprints were kept holds the id alone: a repeat is a duplicate, as it was", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* openStore(path)
        yield* Effect.promise(() => commit(store, () => store.db.idempotency.put(idempotencyKey("old-key"), "0000000000000000000000009")))
      }))
      const spool = yield* Spool.make({ path })
      expect(yield* spool.enqueue([message(1, { idempotencyKey: "old-key" })])).toEqual([{ id: "0000000000000000000000009", duplicate: true }])
    }))

  it.scoped("compaction drops a key with its fingerprint once its message is gone", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary({ retention: "1 hour" })
      const [a] = yield* spool.enqueue([message(1, { idempotencyKey: "k" })])
      yield* spool.take("default", 10)
      yield* spool.settle(a!.id, { status: "delivered", attempts: 1, upstream: "relay", recipients: [] })
      yield* TestClock.adjust("61 minutes")
      yield* eventually(spool.status(a!.id), Option.isNone, "compaction")
      // The key is free again: another message takes it.
      const [b] = yield* spool.enqueue([message(2, { idempotencyKey: "k" })])
      expect(b).toEqual({ id: b!.id, duplicate: false })
    }))
})

describe("the engine on the spool: a repeated idempotency key", () => {
  it.scoped("the same message (composed anew, another Message-ID) is the first id; another is IdempotencyConflict, after a restart too", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      const sink = yield* Sink.make()
      const config = yield* Config.decode({ upstreams: [{ name: "relay", host: sink.host, port: sink.port }] })
      const engine = Effect.map(
        Layer.build(Sluice.layer(config, { drainTimeout: "2 seconds" }).pipe(Layer.provide(Spool.layer({ path })))),
        (context) => Context.get(context, Sluice)
      ).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Error)))
      const order = { from: "shop@example.com", to: ["ada@example.net"], subject: "Your order", text: "It ships today.", idempotencyKey: "order-7" }
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const sluice = yield* engine
        const a = yield* sluice.submit(order)
        expect(yield* sluice.submit(order)).toEqual({ id: a.id, status: "queued", duplicate: true })
        const conflict = yield* Effect.flip(sluice.submit({ ...order, text: "It ships tomorrow." }))
        expect(conflict).toBeInstanceOf(IdempotencyConflict)
        expect(conflict).toMatchObject({ idempotencyKey: "order-7", firstId: a.id })
        return a.id
      }))
      const sluice = yield* engine
      expect(yield* sluice.submit(order)).toEqual({ id: first, status: "queued", duplicate: true })
      expect(yield* Effect.flip(sluice.submit({ ...order, to: ["bob@example.net"] }))).toMatchObject({ _tag: "IdempotencyConflict", firstId: first })
      yield* eventually(Effect.sync(() => sink.received), (n) => n >= 1, "the order delivered")
      expect(sink.messages.map((m) => m.to)).toEqual([["ada@example.net"]])
      expect(sink.messages[0]!.data.toString()).toContain("It ships today.")
    }))
})
