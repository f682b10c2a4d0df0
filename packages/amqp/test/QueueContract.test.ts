import { describe, expect, it } from "@effect/vitest"
import type { DeliveryQueueShape, QueuedMessage } from "@sluice/engine"
import { DeliveryQueue, MemoryQueue, StatusStore } from "@sluice/engine"
import { Spool } from "@sluice/spool"
import type { Scope } from "effect"
import { Context, Effect, Layer, Option } from "effect"
import { AmqpQueue } from "../src/index.js"
import { freshPrefix, url } from "./support/broker.js"
import { message } from "./support/messages.js"

// The DeliveryQueue port's promises, held by every implementation alike: the engine's memory queue,
// the embedded spool and RabbitMQ.

type Open = (maxDepth: number) => Effect.Effect<DeliveryQueueShape, unknown, Scope.Scope>

const backends: ReadonlyArray<readonly [string, Open]> = [
  ["memory", (maxDepth) => MemoryQueue.make({ maxDepth })],
  ["spool", (maxDepth) => Spool.temporary({ maxDepth })],
  ["rabbitmq", (maxDepth) =>
    Effect.flatMap(freshPrefix, (prefix) =>
      Effect.map(
        Layer.build(
          AmqpQueue.layer({ url, prefix, streams: ["default"], maxDepth, delayTiers: ["100 millis"] }).pipe(
            Layer.provide(StatusStore.layerMemory())
          )
        ),
        (context) => Context.get(context, DeliveryQueue)
      ))]
]

const takeAll = (queue: DeliveryQueueShape, count: number) =>
  Effect.gen(function*() {
    const taken: Array<QueuedMessage> = []
    while (taken.length < count) taken.push(...(yield* queue.take("default", count - taken.length)))
    return taken
  }).pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`fewer than ${count} came`) }))

/** Nothing to take within `ms`. */
const nothingFor = (queue: DeliveryQueueShape, ms: number) =>
  Effect.map(Effect.option(Effect.timeout(queue.take("default", 10), ms)), Option.isNone)

for (const [name, open] of backends) {
  describe(`DeliveryQueue: ${name}`, () => {
    it.scopedLive("queued, taken, delivered: the record follows, and a settled message does not come back", () =>
      Effect.gen(function*() {
        const queue = yield* open(100)
        const { id } = (yield* queue.enqueue([message(1)]))[0]!
        expect(Option.map(yield* queue.status(id), (r) => r.status)).toEqual(Option.some("queued"))
        const [m] = yield* takeAll(queue, 1)
        expect(m!.id).toBe(id)
        expect(m!.attempts).toBe(0)
        yield* queue.settle(id, {
          status: "delivered",
          attempts: 1,
          upstream: "relay",
          lastReply: { code: 250, enhanced: undefined, text: "ok" },
          recipients: [{ address: "r1@example.net", status: "delivered" }]
        })
        const record = Option.getOrThrow(yield* queue.status(id))
        expect(record).toMatchObject({ status: "delivered", attempts: 1, upstream: "relay" })
        expect(yield* nothingFor(queue, 500)).toBe(true)
      }))

    it.scopedLive("released comes back; an idempotency key answers the first id", () =>
      Effect.gen(function*() {
        const queue = yield* open(100)
        const [first, repeat] = yield* queue.enqueue([message(1, { idempotencyKey: "k" }), message(2, { idempotencyKey: "k" })])
        expect(repeat).toEqual({ id: first!.id, duplicate: true })
        const [m] = yield* takeAll(queue, 1)
        yield* queue.release([m!.id])
        expect((yield* takeAll(queue, 1))[0]!.id).toBe(first!.id)
      }))

    it.scopedLive("deferred: not before its time, then again with its attempts", () =>
      Effect.gen(function*() {
        const queue = yield* open(100)
        const { id } = (yield* queue.enqueue([message(1)]))[0]!
        yield* takeAll(queue, 1)
        yield* queue.settle(id, {
          status: "deferred",
          attempts: 1,
          recipients: [{ address: "r1@example.net", status: "deferred" }],
          retryAt: Date.now() + 1_000
        })
        expect(Option.getOrThrow(yield* queue.status(id)).status).toBe("deferred")
        expect(yield* nothingFor(queue, 300)).toBe(true)
        const [back] = yield* takeAll(queue, 1)
        expect(back).toMatchObject({ id, attempts: 1 })
      }))

    it.scopedLive("over its depth, QueueFull", () =>
      Effect.gen(function*() {
        const queue = yield* open(2)
        yield* queue.enqueue([message(1), message(2)])
        expect((yield* Effect.flip(queue.enqueue([message(3)])))._tag).toBe("QueueFull")
      }))
  })
}
