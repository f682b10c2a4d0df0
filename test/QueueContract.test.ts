import { expect, it } from "@effect/vitest"
import type { DeliveryQueueShape, NewMessage, QueuedMessage, RecipientStatus, Settlement } from "@sluice/engine"
import { DeliveryQueue, messageId } from "@sluice/engine"
import { Clock, Duration, Effect, Fiber, Option, TestClock } from "effect"
import { message as messageNumbered } from "../packages/amqp/test/support/messages.js"
import { backends } from "./support/queues.js"

// The DeliveryQueue port's promises, held by every implementation alike: the engine's memory queue,
// the embedded spool and RabbitMQ. Each backend's cases share one queue (its layer); each case has a
// stream of its own, so that what one leaves ready or leased never meets another.

const streams = ["settled", "released", "conflict", "deferred", "partial", "amend", "scan", "act"] as const
type Stream = (typeof streams)[number]

/** The broker may hand a deferred message back this much before its time (its `toleranceMs`). */
const brokerEarlyMs = 25

/**
 * Fails `effect` when it has not finished within 20 seconds of real time, whichever clock the backend
 * goes by: a queue that never gives what it owes fails the case instead of hanging it (a TestClock
 * never reaches an Effect timeout by itself).
 */
const realClock = Clock.make()
const withinRealTime = (what: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.raceFirst(
    effect,
    realClock.sleep(Duration.seconds(20)).pipe(Effect.zipRight(Effect.fail(new Error(`${what} within 20 seconds of real time`))))
  )

/** The backend's queue, seen through one stream. */
const inStream = (stream: Stream) =>
  Effect.map(DeliveryQueue, (queue) => {
    const message = (n: number, extra: Partial<NewMessage> = {}) => messageNumbered(n, { stream, ...extra })

    /** Takes until `count` came; the broker's only wait is its own (delay queues, deliveries). */
    const takeAll = (count: number) =>
      Effect.gen(function*() {
        const taken: Array<QueuedMessage> = []
        while (taken.length < count) taken.push(...(yield* queue.take(stream, count - taken.length)))
        return taken
      }).pipe(withinRealTime(`fewer than ${count} came`))

    /**
     * What is ready now is only a message enqueued after the others: anything settled or leased before it
     * that came back would be ready first, or with it. Waits on the queue itself, not on a guessed time.
     */
    const onlyNewcomer = Effect.gen(function*() {
      const [newcomer] = yield* queue.enqueue([message(99)])
      const taken = yield* queue.take(stream, 10).pipe(withinRealTime("the newcomer did not come"))
      expect(taken.map((m) => m.id)).toEqual([newcomer!.id])
    })

    return { queue, message, takeAll, onlyNewcomer }
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
  // On TestClock where the backend's time is Effect's; on the live clock where it is the broker's.
  const options = { excludeTestServices: backend.clock === "broker", timeout: "40 seconds" } as const
  it.layer(backend.layer({ maxDepth: 100, streams }), options)(`DeliveryQueue: ${backend.name}`, (it) => {
    it.effect("kept under the engine's id; queued, taken, delivered: the record follows, and a settled message does not come back", () =>
      Effect.gen(function*() {
        const { message, onlyNewcomer, queue, takeAll } = yield* inStream("settled")
        const id = messageId(yield* Clock.currentTimeMillis)
        expect(yield* queue.enqueue([message(1, { id })])).toEqual([{ id, duplicate: false }])
        expect(Option.map(yield* queue.status(id), (r) => r.status)).toEqual(Option.some("queued"))
        const [m] = yield* takeAll(1)
        expect(m!.id).toBe(id)
        expect(m!.attempts).toBe(0)
        yield* queue.settle(id, settlement("delivered", [delivered("r1@example.net")]))
        const record = Option.getOrThrow(yield* queue.status(id))
        expect(record).toMatchObject({ id, status: "delivered", attempts: 1, upstream: "relay" })
        yield* onlyNewcomer
      }))

    it.effect("released comes back; an idempotency key answers the first id", () =>
      Effect.gen(function*() {
        const { message, queue, takeAll } = yield* inStream("released")
        // Keys are the queue's, not a stream's: each case uses keys of its own.
        const [first, repeat] = yield* queue.enqueue([
          message(1, { idempotencyKey: "released-k" }),
          message(1, { idempotencyKey: "released-k" })
        ])
        expect(repeat).toEqual({ id: first!.id, duplicate: true })
        const [m] = yield* takeAll(1)
        yield* queue.release([m!.id])
        expect((yield* takeAll(1))[0]!.id).toBe(first!.id)
      }))

    it.effect("an idempotency key repeated with another message: a conflict naming the first id, never queued", () =>
      Effect.gen(function*() {
        const { message, onlyNewcomer, queue, takeAll } = yield* inStream("conflict")
        // In one batch: the other message is a conflict, the same one again a duplicate.
        const [first, other, same] = yield* queue.enqueue([
          message(1, { idempotencyKey: "conflict-k" }),
          message(2, { idempotencyKey: "conflict-k" }),
          message(1, { idempotencyKey: "conflict-k" })
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
        const taken = yield* takeAll(2)
        expect(taken.map((m) => m.id).sort()).toEqual([first!.id, a!.id].sort())
        // Nothing else was queued: what comes next is only a message enqueued now.
        yield* onlyNewcomer
      }))

    it.effect("deferred: not before its time, then again with its attempts, its recipients' categories and the upstream that deferred it", () =>
      Effect.gen(function*() {
        const { message, queue, takeAll } = yield* inStream("deferred")
        const { id } = (yield* queue.enqueue([message(1)]))[0]!
        yield* takeAll(1)
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
          // The TestClock is the queue's time: a millisecond short of it nothing comes, then it does.
          const taking = yield* Effect.fork(takeAll(1))
          yield* TestClock.adjust(999)
          expect(Option.isNone(yield* Fiber.poll(taking))).toBe(true)
          yield* TestClock.adjust(1)
          back = (yield* Fiber.join(taking))[0]!
        } else {
          // The broker's delay queue runs in real time: wait for the message itself, then check the clock.
          back = (yield* takeAll(1))[0]!
          expect(yield* Clock.currentTimeMillis).toBeGreaterThanOrEqual(retryAt - brokerEarlyMs)
        }
        expect(back).toMatchObject({ id, attempts: 1, recipients: [later], lastUpstream: "relay" })
      }))

    it.effect("partial is final: each recipient keeps its own status, reply and category", () =>
      Effect.gen(function*() {
        const { message, onlyNewcomer, queue, takeAll } = yield* inStream("partial")
        const { id } = (yield* queue.enqueue([message(1, { to: ["a@example.net", "b@example.net"] })]))[0]!
        yield* takeAll(1)
        const recipients = [delivered("a@example.net"), bounced("b@example.net")]
        yield* queue.settle(id, settlement("partial", recipients))
        expect(Option.getOrThrow(yield* queue.status(id))).toMatchObject({ status: "partial", recipients })
        yield* onlyNewcomer
      }))

    it.effect("amend: a later bounce turns a delivered recipient bounced, and the message's status follows", () =>
      Effect.gen(function*() {
        const { message, queue, takeAll } = yield* inStream("amend")
        const to = ["a@example.net", "b@example.net"]
        const { id } = (yield* queue.enqueue([message(1, { to })]))[0]!
        yield* takeAll(1)
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

    // Depth is the whole queue's, so this case has a queue of its own, two deep.
    it.effect("scan: every message not final, page by page from its cursor; a final one is not in it", () =>
      Effect.gen(function*() {
        const { message, queue, takeAll } = yield* inStream("scan")
        const ids = (yield* queue.enqueue([1, 2, 3, 4, 5].map((n) => message(n)))).map((e) => e.id)
        const [first] = yield* takeAll(1)
        yield* queue.settle(first!.id, settlement("delivered", [delivered("r1@example.net")]))
        const seen: Array<string> = []
        let cursor: string | undefined
        let pages = 0
        do {
          const page = yield* queue.scan(cursor, 2)
          expect(page.records.length).toBeLessThanOrEqual(2)
          for (const record of page.records) {
            expect(record.status === "queued" || record.status === "deferred").toBe(true)
            if (record.stream === "scan") seen.push(record.id)
          }
          cursor = page.cursor
        } while (cursor !== undefined && ++pages < 1000)
        expect(new Set(seen)).toEqual(new Set(ids.filter((id) => id !== first!.id)))
        if (backend.clock !== "broker") expect(seen).toHaveLength(4)
      }))

    it.effect("act: retry makes a waiting deferred message due now, bounce ends one, delete drops one and its key; a leased one is left alone", () =>
      Effect.gen(function*() {
        const { message, queue, takeAll } = yield* inStream("act")
        if (queue.act === undefined) {
          // A broker keeps deferred messages in delay queues out of reach: it says so by having none.
          expect(backend.name).toBe("rabbitmq")
          return
        }
        const act = queue.act
        const [a, b, c] = (yield* queue.enqueue([message(1), message(2), message(3)])).map((e) => e.id)
        yield* takeAll(3)
        const later = (yield* Clock.currentTimeMillis) + 3_600_000
        yield* queue.settle(a!, { ...settlement("deferred", [{ address: "r1@example.net", status: "deferred" }]), retryAt: later })
        yield* queue.release([b!])
        // c stays leased.
        expect(yield* act([a!, b!, c!], { _tag: "retry" })).toEqual([a])
        const [again] = yield* takeAll(1)
        expect(again!.id === a || again!.id === b).toBe(true)
        yield* queue.release([again!.id])
        expect([...(yield* act([a!, b!, c!], { _tag: "bounce", reason: "campaign withdrawn" }))].sort()).toEqual([a, b].sort())
        const bounced = Option.getOrThrow(yield* queue.status(b!))
        expect(bounced).toMatchObject({ status: "bounced", recipients: [{ status: "bounced", category: "other", reply: { text: "campaign withdrawn" } }] })
        expect(yield* act([c!], { _tag: "delete" })).toEqual([])
        yield* queue.settle(c!, settlement("delivered", [delivered("r3@example.net")]))

        const [keyed] = yield* queue.enqueue([message(4, { idempotencyKey: "act-k" })])
        expect(yield* act([keyed!.id], { _tag: "delete" })).toEqual([keyed!.id])
        expect(yield* queue.status(keyed!.id)).toEqual(Option.none())
        const [fresh] = yield* queue.enqueue([message(4, { idempotencyKey: "act-k" })])
        expect(fresh).toMatchObject({ duplicate: false })
        expect(fresh!.id).not.toBe(keyed!.id)
        yield* takeAll(1)
      }))

    it.layer(backend.layer({ maxDepth: 2, streams: ["full"] }))("two deep", (it) => {
      it.effect("over its depth, QueueFull", () =>
        Effect.gen(function*() {
          const queue: DeliveryQueueShape = yield* DeliveryQueue
          const message = (n: number) => messageNumbered(n, { stream: "full" })
          yield* queue.enqueue([message(1), message(2)])
          expect((yield* Effect.flip(queue.enqueue([message(3)])))._tag).toBe("QueueFull")
        }))
    })
  })
}
