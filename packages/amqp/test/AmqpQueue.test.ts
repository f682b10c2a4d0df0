import { describe, expect, it } from "@effect/vitest"
import * as amqp from "amqplib"
import type { DeliveryQueueShape, QueuedMessage, Settlement } from "@sluice/engine"
import { DeliveryQueue, StatusStore } from "@sluice/engine"
import type { Scope } from "effect"
import { Context, Effect, Layer, Option, Schedule, TestClock } from "effect"
import { AmqpQueue } from "../src/index.js"
import { cutConnections, freshPrefix, readyIn, url } from "./support/broker.js"
import { message } from "./support/messages.js"
import * as Proxy from "./support/proxy.js"

const options = (prefix: string, extra: Partial<AmqpQueue.Options> = {}): AmqpQueue.Options => ({
  url,
  prefix,
  streams: ["default", "bulk"],
  delayTiers: ["100 millis", "400 millis"],
  reconnect: Schedule.spaced("100 millis"),
  openTimeout: "10 seconds",
  ...extra
})

/** A queue (a node) open until the test's scope closes; nodes given the same store share records. */
const open = (
  prefix: string,
  extra: Partial<AmqpQueue.Options> = {},
  store: Layer.Layer<StatusStore.StatusStore> = StatusStore.layerMemory()
): Effect.Effect<DeliveryQueueShape, unknown, Scope.Scope> =>
  Effect.map(
    Layer.build(AmqpQueue.layer(options(prefix, extra)).pipe(Layer.provide(store))),
    (context) => Context.get(context, DeliveryQueue)
  )

/** Waits real time, also under TestClock: for sockets, not for schedules. */
const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Polls (in real time) until the queue's `isOpen` is `open`. */
const openBecomes = (queue: DeliveryQueueShape, open: boolean) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 15_000
    while ((yield* queue.isOpen) !== open) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`isOpen did not become ${open}`))
      yield* realSleep(20)
    }
  })

/** Takes until `count` messages came, bounded in time. */
const takeAll = (queue: DeliveryQueueShape, stream: string, count: number) =>
  Effect.gen(function*() {
    const taken: Array<QueuedMessage> = []
    while (taken.length < count) taken.push(...(yield* queue.take(stream, count - taken.length)))
    return taken
  }).pipe(Effect.timeout("20 seconds"))

const delivered = (m: QueuedMessage): Settlement => ({
  status: "delivered",
  attempts: m.attempts + 1,
  upstream: "relay-a",
  lastReply: { code: 250, enhanced: "2.0.0", text: "ok" },
  recipients: m.recipients.map((r) => ({ ...r, status: "delivered" as const }))
})

describe("AmqpQueue", () => {
  it.scopedLive("enqueue is confirmed, take leases, settle acks and records the status", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const queue = yield* open(prefix)
      expect(yield* queue.isOpen).toBe(true)
      const enqueued = yield* queue.enqueue([message(1), message(2), message(3, { stream: "bulk" })])
      expect(enqueued.map((e) => e.duplicate)).toEqual([false, false, false])
      expect(yield* readyIn(`${prefix}.work.default`)).toBe(2)
      const record = yield* queue.status(enqueued[0]!.id)
      expect(Option.map(record, (r) => r.status)).toEqual(Option.some("queued"))

      const taken = yield* takeAll(queue, "default", 2)
      expect(taken.map((m) => m.id).sort()).toEqual([enqueued[0]!.id, enqueued[1]!.id].sort())
      expect(new TextDecoder().decode(taken.find((m) => m.id === enqueued[0]!.id)!.content)).toContain("body 1")
      for (const m of taken) yield* queue.settle(m.id, delivered(m))
      const after = Option.getOrThrow(yield* queue.status(enqueued[0]!.id))
      expect(after.status).toBe("delivered")
      expect(after.lastReply).toEqual({ code: 250, enhanced: "2.0.0", text: "ok" })
      expect((yield* takeAll(queue, "bulk", 1))[0]!.id).toBe(enqueued[2]!.id)
      expect(yield* Effect.option(queue.status("no-such-id").pipe(Effect.flatten))).toEqual(Option.none())
    }))

  it.scopedLive("acked messages are gone: another node opened afterwards gets none; released ones come back", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const a = yield* open(prefix)
      const [one, two] = yield* a.enqueue([message(1), message(2)])
      const taken = yield* takeAll(a, "default", 2)
      const first = taken.find((m) => m.id === one!.id)!
      yield* a.settle(first.id, delivered(first))
      yield* a.release([two!.id])
      const again = yield* takeAll(a, "default", 1)
      expect(again.map((m) => m.id)).toEqual([two!.id])
      yield* a.settle(two!.id, delivered(again[0]!))
      const b = yield* open(prefix)
      expect(yield* b.take("default", 10).pipe(Effect.timeout("1 second"), Effect.option)).toEqual(Option.none())
      expect(yield* readyIn(`${prefix}.work.default`)).toBe(0)
    }))

  it.scopedLive("an idempotency key maps to the first id, in one batch and across nodes sharing a store", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const storeLayer = Layer.succeedContext(yield* Layer.build(StatusStore.layerMemory()))
      const a = yield* open(prefix, {}, storeLayer)
      const b = yield* open(prefix, {}, storeLayer)
      const [first, repeat] = yield* a.enqueue([message(1, { idempotencyKey: "order-1" }), message(1, { idempotencyKey: "order-1" })])
      expect(first!.duplicate).toBe(false)
      expect(repeat).toEqual({ id: first!.id, duplicate: true })
      const [elsewhere] = yield* b.enqueue([message(1, { idempotencyKey: "order-1" })])
      expect(elsewhere).toEqual({ id: first!.id, duplicate: true })
      // Another message under the key, on the other node: a conflict naming the first id, not published.
      const [other] = yield* b.enqueue([message(3, { idempotencyKey: "order-1" })])
      expect(other).toEqual({ id: first!.id, duplicate: true, conflict: true })
      expect(yield* readyIn(`${prefix}.work.default`)).toBe(1)
    }))

  it.scopedLive("a deferral waits in a delay queue, comes back due with its attempts, and a failure is dead-lettered", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const queue = yield* open(prefix)
      const { id } = (yield* queue.enqueue([message(1)]))[0]!
      const [m] = yield* takeAll(queue, "default", 1)
      const retryAt = Date.now() + 700 // rides the 400 ms tier, then the 100 ms one (at least twice), then is due
      yield* queue.settle(id, {
        status: "deferred",
        attempts: 1,
        upstream: "relay-a",
        lastReply: { code: 451, enhanced: "4.3.0", text: "try later" },
        recipients: m!.recipients.map((r) => ({ ...r, status: "deferred" as const })),
        retryAt
      })
      const record = Option.getOrThrow(yield* queue.status(id))
      expect(record.status).toBe("deferred")
      expect(record.nextAttemptAt).toBe(retryAt)
      const [back] = yield* takeAll(queue, "default", 1)
      expect(Date.now()).toBeGreaterThanOrEqual(retryAt - 25)
      expect(back!.id).toBe(id)
      expect(back!.attempts).toBe(1)
      expect(back!.recipients[0]!.status).toBe("deferred")

      yield* queue.settle(id, {
        status: "failed",
        attempts: 2,
        upstream: "relay-a",
        lastReply: { code: 451, enhanced: "4.3.0", text: "try later" },
        recipients: back!.recipients.map((r) => ({ ...r, status: "failed" as const }))
      })
      expect(Option.getOrThrow(yield* queue.status(id)).status).toBe("failed")
      expect(yield* readyIn(`${prefix}.dead`)).toBe(1)
      expect(yield* readyIn(`${prefix}.work.default`)).toBe(0)
    }))

  it.scopedLive("above maxDepth, enqueue answers QueueFull and stores nothing", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const queue = yield* open(prefix, { maxDepth: 3 })
      yield* queue.enqueue([message(1), message(2)])
      const full = yield* Effect.flip(queue.enqueue([message(3), message(4)]))
      expect(full._tag).toBe("QueueFull")
      yield* queue.enqueue([message(3)])
      expect(yield* queue.depth).toBe(3)
      expect((yield* Effect.flip(queue.enqueue([message(4)])))._tag).toBe("QueueFull")
      expect(yield* readyIn(`${prefix}.work.default`)).toBe(3)
    }))

  it.scopedLive("a broker message that cannot be read goes to the dead-letter queue; the rest goes on", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const queue = yield* open(prefix)
      yield* Effect.promise(async () => {
        const connection = await amqp.connect(url)
        const channel = await connection.createConfirmChannel()
        await new Promise<void>((resolve, reject) =>
          channel.sendToQueue(`${prefix}.work.default`, Buffer.from("not msgpack at all"), { messageId: "garbage" }, (error) =>
            error ? reject(error) : resolve())
        )
        await connection.close()
      })
      const { id } = (yield* queue.enqueue([message(1)]))[0]!
      const [taken] = yield* takeAll(queue, "default", 1)
      expect(taken!.id).toBe(id)
      expect(yield* readyIn(`${prefix}.dead`)).toBe(1)
    }))

  it.scopedLive("a stream with no queue is refused rather than published into nothing", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const queue = yield* open(prefix)
      const error = yield* Effect.flip(queue.enqueue([message(1), message(2, { stream: "nope" })]))
      expect(error._tag).toBe("QueueError")
      expect(error.message).toContain("\"nope\"")
      expect(yield* readyIn(`${prefix}.work.default`)).toBe(0)
    }))

  it.scopedLive("a lost connection: not open meanwhile, reconnects, old leases are never acked, nothing is lost", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const queue = yield* open(prefix)
      const ids = (yield* queue.enqueue(Array.from({ length: 20 }, (_, i) => message(i)))).map((e) => e.id)
      const before = yield* takeAll(queue, "default", 5)
      expect(yield* cutConnections).toBeGreaterThan(0)
      yield* queue.isOpen.pipe(Effect.repeat({ until: (open) => !open, schedule: Schedule.spaced("10 millis") }), Effect.timeout("5 seconds"))
      yield* queue.isOpen.pipe(Effect.repeat({ until: (open) => open, schedule: Schedule.spaced("50 millis") }), Effect.timeout("15 seconds"))
      // Settling leases of the dead connection records the outcome but acks nothing: the broker
      // redelivers those messages, and a copy whose attempt was recorded is not handed out again.
      const settledEarly = before.slice(0, 2)
      for (const m of settledEarly) yield* queue.settle(m.id, delivered(m))
      const after = yield* takeAll(queue, "default", 18)
      expect(new Set(after.map((m) => m.id)).size).toBe(18)
      expect(new Set([...after.map((m) => m.id), ...settledEarly.map((m) => m.id)])).toEqual(new Set(ids))
      for (const m of after) yield* queue.settle(m.id, delivered(m))
      // Had a dead tag been acked on the new channel, the broker would have closed it.
      expect(yield* queue.isOpen).toBe(true)
      expect(yield* readyIn(`${prefix}.work.default`)).toBe(0)
      const b = yield* open(prefix)
      expect(yield* b.take("default", 10).pipe(Effect.timeout("1 second"), Effect.option)).toEqual(Option.none())
    }))

  it.scoped("while the broker is away, reconnect attempts wait on the schedule (TestClock), then pick up where it left", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const proxy = yield* Proxy.make()
      const queue = yield* open(prefix, {
        url: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
        reconnect: Schedule.spaced("10 seconds"),
        openTimeout: "5 seconds"
      })
      const ids = (yield* queue.enqueue([message(1), message(2), message(3)])).map((e) => e.id)
      yield* takeAll(queue, "default", 3)
      yield* proxy.down
      yield* openBecomes(queue, false)
      yield* realSleep(300) // the first attempt, right after the loss, is refused
      yield* proxy.up
      // The broker is back, but the next attempt is 10 seconds away on the schedule's clock.
      yield* realSleep(500)
      expect(yield* queue.isOpen).toBe(false)
      // A submit meanwhile waits for the connection up to openTimeout, then is refused: not accepted, not lost.
      const submit = yield* Effect.fork(queue.enqueue([message(4)]))
      yield* realSleep(50) // until it waits on the clock
      yield* TestClock.adjust("5 seconds")
      const refused = yield* Effect.flip(submit.await.pipe(Effect.flatten))
      expect(refused._tag).toBe("QueueError")
      yield* TestClock.adjust("5 seconds")
      yield* openBecomes(queue, true)
      // The leases of the lost connection went back to the broker: all three come again.
      const again = yield* takeAll(queue, "default", 3)
      expect(again.map((m) => m.id).sort()).toEqual([...ids].sort())
      for (const m of again) yield* queue.settle(m.id, delivered(m))
    }))

  it.scopedLive("a queue that cannot reach the broker fails to open, naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        open("unused", { url: "amqp://guest:guest@127.0.0.1:1", openTimeout: "300 millis" })
      )
      expect(String((error as Error).message)).toContain("127.0.0.1:1")
    }))
})
