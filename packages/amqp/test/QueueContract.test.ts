import { describe, expect, it } from "@effect/vitest"
import type { DeliveryQueueShape, QueuedMessage, RecipientStatus, Settlement } from "@sluice/engine"
import { DeliveryQueue, MemoryQueue, messageId, StatusStore } from "@sluice/engine"
import { Spool } from "@sluice/spool"
import type { Scope } from "effect"
import { Clock, Context, Effect, Fiber, Layer, Option, TestClock } from "effect"
import { AmqpQueue } from "../src/index.js"
import { freshPrefix, url } from "./support/broker.js"
import { message } from "./support/messages.js"

// The DeliveryQueue port's promises, held by every implementation alike: the engine's memory queue,
// the embedded spool and RabbitMQ.

interface Backend {
  readonly name: string
  readonly open: (maxDepth: number) => Effect.Effect<DeliveryQueueShape, unknown, Scope.Scope>
  /**
   * Whose time a deferral waits on: Effect's Clock (so the TestClock drives it), or the broker's own
   * (its delay queues' TTLs run in real time).
   */
  readonly clock: "effect" | "broker"
}

const backends: ReadonlyArray<Backend> = [
  { name: "memory", clock: "effect", open: (maxDepth) => MemoryQueue.make({ maxDepth }) },
  { name: "spool", clock: "effect", open: (maxDepth) => Spool.temporary({ maxDepth }) },
  {
    name: "rabbitmq",
    clock: "broker",
    open: (maxDepth) =>
      Effect.flatMap(freshPrefix, (prefix) =>
        Effect.map(
          Layer.build(
            AmqpQueue.layer({ url, prefix, streams: ["default"], maxDepth, delayTiers: ["100 millis"] }).pipe(
              Layer.provide(StatusStore.layerMemory())
            )
          ),
          (context) => Context.get(context, DeliveryQueue)
        ))
  }
]

/** The broker may hand a deferred message back this much before its time (its `toleranceMs`). */
const brokerEarlyMs = 25

const takeAll = (queue: DeliveryQueueShape, count: number) =>
  Effect.gen(function*() {
    const taken: Array<QueuedMessage> = []
    while (taken.length < count) taken.push(...(yield* queue.take("default", count - taken.length)))
    return taken
  }).pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`fewer than ${count} came`) }))

/**
 * What is ready now is only a message enqueued after the others: anything settled or leased before it
 * that came back would be ready first, or with it. Waits on the queue itself, not on a guessed time.
 */
const onlyNewcomer = (queue: DeliveryQueueShape) =>
  Effect.gen(function*() {
    const [newcomer] = yield* queue.enqueue([message(99)])
    const taken = yield* queue.take("default", 10)
    expect(taken.map((m) => m.id)).toEqual([newcomer!.id])
  })

const ok = { code: 250, enhanced: "2.0.0", text: "ok" }
const unknownUser = { code: 550, enhanced: "5.1.1", text: "user unknown" }
const delivered = (address: string): RecipientStatus => ({ address, status: "delivered", reply: ok })
const bounced = (address: string): RecipientStatus => ({ address, status: "bounced", reply: unknownUser, category: "bad-mailbox" })
const settlement = (status: Settlement["status"], recipients: ReadonlyArray<RecipientStatus>): Settlement => ({
  status,
  attempts: 1,
  upstream: "relay",
  lastReply: recipients.at(-1)?.reply,
  recipients
})

for (const backend of backends) {
  const { open } = backend
  describe(`DeliveryQueue: ${backend.name}`, () => {
    it.scopedLive("kept under the engine's id; queued, taken, delivered: the record follows, and a settled message does not come back", () =>
      Effect.gen(function*() {
        const queue = yield* open(100)
        const id = messageId(yield* Clock.currentTimeMillis)
        expect(yield* queue.enqueue([message(1, { id })])).toEqual([{ id, duplicate: false }])
        expect(Option.map(yield* queue.status(id), (r) => r.status)).toEqual(Option.some("queued"))
        const [m] = yield* takeAll(queue, 1)
        expect(m!.id).toBe(id)
        expect(m!.attempts).toBe(0)
        yield* queue.settle(id, settlement("delivered", [delivered("r1@example.net")]))
        const record = Option.getOrThrow(yield* queue.status(id))
        expect(record).toMatchObject({ id, status: "delivered", attempts: 1, upstream: "relay" })
        yield* onlyNewcomer(queue)
      }))

    it.scopedLive("released comes back; an idempotency key answers the first id", () =>
      Effect.gen(function*() {
        const queue = yield* open(100)
        const [first, repeat] = yield* queue.enqueue([message(1, { idempotencyKey: "k" }), message(1, { idempotencyKey: "k" })])
        expect(repeat).toEqual({ id: first!.id, duplicate: true })
        const [m] = yield* takeAll(queue, 1)
        yield* queue.release([m!.id])
        expect((yield* takeAll(queue, 1))[0]!.id).toBe(first!.id)
      }))

    it.scopedLive("an idempotency key repeated with another message: a conflict naming the first id, never queued", () =>
      Effect.gen(function*() {
        const queue = yield* open(100)
        // In one batch: the other message is a conflict, the same one again a duplicate.
        const [first, other, same] = yield* queue.enqueue([
          message(1, { idempotencyKey: "k" }),
          message(2, { idempotencyKey: "k" }),
          message(1, { idempotencyKey: "k" })
        ])
        expect(first!.duplicate).toBe(false)
        expect(other).toEqual({ id: first!.id, duplicate: true, conflict: true })
        expect(same).toEqual({ id: first!.id, duplicate: true })
        // Later, the engine's fingerprint of what was submitted decides, not the bytes (which carry a
        // Message-ID of their own each time).
        const keyed = { idempotencyKey: "order-9", fingerprint: "fp-order-9" }
        const [a] = yield* queue.enqueue([message(3, keyed)])
        expect(yield* queue.enqueue([message(4, keyed)])).toEqual([{ id: a!.id, duplicate: true }])
        expect(yield* queue.enqueue([message(3, { ...keyed, fingerprint: "fp-other" })])).toEqual([{ id: a!.id, duplicate: true, conflict: true }])
        const taken = yield* takeAll(queue, 2)
        expect(taken.map((m) => m.id).sort()).toEqual([first!.id, a!.id].sort())
        // Nothing else was queued: what comes next is only a message enqueued now.
        yield* onlyNewcomer(queue)
      }))

    const onClock = backend.clock === "effect" ? it.scoped : it.scopedLive
    onClock("deferred: not before its time, then again with its attempts, its recipients' categories and the upstream that deferred it", () =>
      Effect.gen(function*() {
        const queue = yield* open(100)
        const { id } = (yield* queue.enqueue([message(1)]))[0]!
        yield* takeAll(queue, 1)
        const retryAt = (yield* Clock.currentTimeMillis) + 1_000
        const later: RecipientStatus = {
          address: "r1@example.net",
          status: "deferred",
          reply: { code: 451, enhanced: "4.7.1", text: "try later" },
          category: "transient"
        }
        yield* queue.settle(id, { ...settlement("deferred", [later]), retryAt })
        expect(Option.getOrThrow(yield* queue.status(id))).toMatchObject({ status: "deferred", nextAttemptAt: retryAt })
        let back: QueuedMessage
        if (backend.clock === "effect") {
          const taking = yield* Effect.fork(takeAll(queue, 1))
          yield* TestClock.adjust(999)
          expect(Option.isNone(yield* Fiber.poll(taking))).toBe(true)
          yield* TestClock.adjust(1)
          back = (yield* Fiber.join(taking))[0]!
        } else {
          back = (yield* takeAll(queue, 1))[0]!
          expect(yield* Clock.currentTimeMillis).toBeGreaterThanOrEqual(retryAt - brokerEarlyMs)
        }
        expect(back).toMatchObject({ id, attempts: 1, recipients: [later], lastUpstream: "relay" })
      }))

    it.scopedLive("partial is final: each recipient keeps its own status, reply and category", () =>
      Effect.gen(function*() {
        const queue = yield* open(100)
        const { id } = (yield* queue.enqueue([message(1, { to: ["a@example.net", "b@example.net"] })]))[0]!
        yield* takeAll(queue, 1)
        const recipients = [delivered("a@example.net"), bounced("b@example.net")]
        yield* queue.settle(id, settlement("partial", recipients))
        expect(Option.getOrThrow(yield* queue.status(id))).toMatchObject({ status: "partial", recipients })
        yield* onlyNewcomer(queue)
      }))

    it.scopedLive("amend: a later bounce turns a delivered recipient bounced, and the message's status follows", () =>
      Effect.gen(function*() {
        const queue = yield* open(100)
        const to = ["a@example.net", "b@example.net"]
        const { id } = (yield* queue.enqueue([message(1, { to })]))[0]!
        yield* takeAll(queue, 1)
        yield* queue.settle(id, settlement("delivered", to.map(delivered)))
        // The report may spell the address in another case; the record keeps the submitted one.
        const once = Option.getOrThrow(yield* queue.amend(id, bounced("B@Example.NET")))
        expect(once).toMatchObject({ id, status: "partial", recipients: [delivered("a@example.net"), bounced("b@example.net")] })
        expect(Option.getOrThrow(yield* queue.status(id))).toEqual(once)
        const twice = Option.getOrThrow(yield* queue.amend(id, bounced("a@example.net")))
        expect(twice).toMatchObject({ status: "bounced", recipients: to.map(bounced) })
        // Nothing to amend: a recipient no longer delivered, one the message never had, an unknown message.
        expect(yield* queue.amend(id, bounced("a@example.net"))).toEqual(Option.none())
        expect(yield* queue.amend(id, bounced("c@example.net"))).toEqual(Option.none())
        expect(yield* queue.amend(messageId(0), bounced("a@example.net"))).toEqual(Option.none())
        expect(Option.getOrThrow(yield* queue.status(id)).status).toBe("bounced")
      }))

    it.scopedLive("over its depth, QueueFull", () =>
      Effect.gen(function*() {
        const queue = yield* open(2)
        yield* queue.enqueue([message(1), message(2)])
        expect((yield* Effect.flip(queue.enqueue([message(3)])))._tag).toBe("QueueFull")
      }))
  })
}
