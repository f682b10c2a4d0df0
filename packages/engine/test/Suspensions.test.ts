import { KeyValueStore } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Context, Duration, Effect, Either, Layer, Logger, LogLevel, Option, TestClock } from "effect"
import { Config, DeliveryQueue, MemoryQueue, Sluice, Suspensions } from "../src/index.js"
import { eventually, message, statusUntil, upstream } from "./support/engine.js"

/** An engine on a memory queue with suspensions in memory, for the test's scope. */
const start = (input: unknown) =>
  Effect.gen(function*() {
    const config = yield* Config.decode(input).pipe(Effect.orDie)
    const queue = yield* MemoryQueue.make()
    const context = yield* Layer.build(
      Sluice.layer(config, { drainTimeout: "2 seconds" }).pipe(
        Layer.provideMerge(Suspensions.layerMemory(config)),
        Layer.provide(Layer.succeed(DeliveryQueue, queue))
      )
    ).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Error)))
    return { sluice: Context.get(context, Sluice), suspensions: Context.get(context, Suspensions.Suspensions) }
  })

const submitAll = (sluice: Sluice["Type"], messages: ReadonlyArray<ReturnType<typeof message>>) =>
  Effect.orDie(Effect.forEach(messages, (m) => Effect.map(sluice.submit(m), (s) => s.id)))

describe("suspensions", () => {
  it.live("a suspended stream's messages stay queued, saying why, while the other stream delivers; lifted, they go", () =>
    Effect.scoped(Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice, suspensions } = yield* start({
        upstreams: [upstream("only", sink)],
        streams: { transactional: { weight: 8 }, bulk: { weight: 1 } }
      })
      const hold = yield* suspensions.add({ scope: "stream", target: "bulk", reason: "campaign paused" })
      const bulk = yield* submitAll(sluice, [1, 2, 3].map((i) => message(i, [`b${i}@example.net`], "bulk")))
      yield* submitAll(sluice, [4, 5, 6].map((i) => message(i, [`t${i}@example.net`], "transactional")))
      yield* eventually(() => sink.received === 3, "the transactional messages")
      // More transactional mail after it goes too, and still no bulk: the hold is not mere slowness.
      yield* submitAll(sluice, [7, 8].map((i) => message(i, [`t${i}@example.net`], "transactional")))
      yield* eventually(() => sink.received === 5, "the later transactional messages")
      expect(sink.messages.every((m) => m.to[0]!.startsWith("t"))).toBe(true)
      const waiting = Option.getOrThrow(yield* Effect.orDie(sluice.status(bulk[0]!)))
      expect(waiting).toMatchObject({ status: "queued", attempts: 0, suspended: { id: hold.id, scope: "stream", target: "bulk", reason: "campaign paused" } })

      expect(yield* suspensions.remove(hold.id)).toBe(true)
      yield* eventually(() => sink.received === 8, "the bulk messages once lifted")
      const delivered = yield* statusUntil(sluice, bulk[0]!, (r) => r.status === "delivered", "a bulk message delivered")
      expect(delivered.suspended).toBeUndefined()
    })), 60_000)

  it.live("a suspended upstream gets no mail and the others take it all; lifted, it takes its share again", () =>
    Effect.scoped(Effect.gen(function*() {
      const [a, b] = [yield* Sink.make(), yield* Sink.make()]
      const { sluice, suspensions } = yield* start({ upstreams: [upstream("a", a), upstream("b", b)] })
      const hold = yield* suspensions.add({ scope: "upstream", target: "a" })
      yield* submitAll(sluice, Array.from({ length: 20 }, (_, i) => message(i)))
      yield* eventually(() => b.received === 20, "all 20 at b")
      expect(a.received).toBe(0)
      yield* suspensions.remove(hold.id)
      yield* submitAll(sluice, Array.from({ length: 40 }, (_, i) => message(100 + i)))
      yield* eventually(() => a.received + b.received === 60, "the next 40")
      expect(a.received).toBeGreaterThan(0)
    })), 60_000)

  it.scoped("a suspended domain's messages wait without an attempt, saying why, while other domains go; lifted, they go when due", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice, suspensions } = yield* start({ upstreams: [upstream("only", sink)] })
      const hold = yield* suspensions.add({ scope: "domain", target: "Held.Example", reason: "provider asked us to slow down" })
      expect(hold.target).toBe("held.example")
      const [held, other] = yield* submitAll(sluice, [message(1, ["x@held.example"]), message(2, ["y@ok.example"])])
      yield* statusUntil(sluice, other!, (r) => r.status === "delivered", "the other domain's message delivered")
      const waiting = yield* statusUntil(sluice, held!, (r) => r.status === "deferred", "the held message put back")
      expect(waiting).toMatchObject({ attempts: 0, suspended: { scope: "domain", target: "held.example" } })
      expect(sink.messages.map((m) => m.to)).toEqual([["y@ok.example"]])

      yield* suspensions.remove(hold.id)
      // It is looked at again within 30 seconds of being put back.
      yield* TestClock.adjust("31 seconds")
      const delivered = yield* statusUntil(sluice, held!, (r) => r.status === "delivered", "the held message delivered")
      expect(delivered.attempts).toBe(1)
    }), 60_000)

  it.scoped("kept in the store: another instance on it sees them (a restart, or another node within a second); one with a duration ends by itself", () =>
    Effect.gen(function*() {
      const targets = { streams: { default: {} }, upstreams: [{ name: "a", host: "127.0.0.1", port: 2525 }] }
      const store = yield* Layer.build(KeyValueStore.layerMemory)
      const open = Layer.build(Suspensions.layer(targets)).pipe(Effect.provide(store), Effect.map(Context.get(Suspensions.Suspensions)))
      const first = yield* open
      const second = yield* open
      const forever = yield* first.add({ scope: "upstream", target: "a" })
      const brief = yield* first.add({ scope: "domain", target: "example.org", duration: Duration.seconds(3) })
      const reopened = yield* open
      expect((yield* reopened.list).map((s) => s.id)).toEqual([forever.id, brief.id])
      yield* TestClock.adjust("1 second")
      expect((yield* second.list).map((s) => s.id)).toEqual([forever.id, brief.id])
      yield* TestClock.adjust("3 seconds")
      expect((yield* reopened.list).map((s) => s.id)).toEqual([forever.id])
    }))

  it.effect("bad input is refused naming the field", () =>
    Effect.scoped(Effect.gen(function*() {
      const suspensions = yield* Layer.build(Suspensions.layerMemory({ streams: { bulk: {} }, upstreams: [{ name: "a", host: "127.0.0.1", port: 2525 }] })).pipe(
        Effect.map(Context.get(Suspensions.Suspensions))
      )
      const refused = (input: Suspensions.NewSuspension) => Effect.map(Effect.either(suspensions.add(input)), Either.getLeft)
      expect(Option.getOrThrow(yield* refused({ scope: "stream", target: "news" }))).toMatchObject({ field: "target", reason: "\"news\" is not a configured stream (bulk)" })
      expect(Option.getOrThrow(yield* refused({ scope: "upstream", target: "b" }))).toMatchObject({ field: "target" })
      expect(Option.getOrThrow(yield* refused({ scope: "domain", target: "not a domain" }))).toMatchObject({ field: "target" })
      expect(Option.getOrThrow(yield* refused({ scope: "domain", target: "example.org", duration: Duration.zero }))).toMatchObject({ field: "duration" })
      expect(yield* suspensions.remove("no-such-id")).toBe(false)
      expect(yield* suspensions.list).toEqual([])
    })))
})
