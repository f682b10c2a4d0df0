import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Fiber, Option, TestClock } from "effect"
import type { QueuedMessage, RecipientStatus, Settlement } from "@sluice/engine"
import { Codec, messageId } from "@sluice/engine"
import * as Record from "../src/internal/record.js"
import { makeQueue } from "../src/internal/queue.js"
import { commit, empty, openStore } from "../src/internal/store.js"
import { Spool } from "../src/index.js"
import { eventually, message, parked, running, tempDir } from "./support/spool.js"

const delivered: Settlement = {
  status: "delivered",
  attempts: 1,
  upstream: "relay",
  lastReply: { code: 250, enhanced: "2.0.0", text: "ok" },
  recipients: []
}

const deferredUntil = (retryAt: number, attempts = 1): Settlement => ({
  status: "deferred",
  attempts,
  upstream: "relay",
  lastReply: { code: 451, enhanced: "4.7.1", text: "try later" },
  recipients: [],
  retryAt
})

// A spool record's bytes as record.ts lays them out: marker, place byte, record length, record, content.
const positional = 0x10
const inline = 1
const layout = (place: number, meta: Uint8Array, content: Uint8Array = Buffer.alloc(0)): Buffer => {
  const bytes = Buffer.concat([Buffer.from([0xc1, place, 0, 0, 0, 0]), meta, content])
  bytes.writeUInt32LE(meta.byteLength, 2)
  return bytes
}

describe("Spool", () => {
  it.scoped("take waits for an enqueue, and gives messages in acceptance order with their content", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary()
      const waiting = yield* Effect.fork(spool.take("default", 10))
      yield* parked(waiting)
      expect(yield* running(waiting)).toBe(true)
      const [first] = yield* spool.enqueue([message(1)])
      const taken = yield* Fiber.join(waiting)
      expect(taken.map((m) => m.id)).toEqual([first!.id])
      expect(Buffer.from(taken[0]!.content).toString()).toContain("body 1")
      expect(taken[0]).toMatchObject({ from: "sender@example.com", to: ["r1@example.net"], stream: "default", attempts: 0 })
      expect(taken[0]!.recipients).toEqual([{ address: "r1@example.net", status: "pending" }])

      const more = yield* spool.enqueue([message(2), message(3), message(4)])
      const next = yield* spool.take("default", 2)
      expect(next.map((m) => m.id)).toEqual(more.slice(0, 2).map((e) => e.id))
      expect((yield* spool.take("default", 10)).map((m) => m.id)).toEqual([more[2]!.id])
      expect(yield* spool.depth).toBe(4)
    }))

  it.scoped("streams are apart: a take of one never returns another's messages", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary()
      // "bulk" sorts next to "bulk2" in the due index: the range must stop at the stream's end.
      yield* spool.enqueue([message(1, { stream: "bulk2" }), message(2, { stream: "bulk" }), message(3, { stream: "a" })])
      const bulk = yield* spool.take("bulk", 10)
      expect(bulk.map((m) => m.stream)).toEqual(["bulk"])
      const other = yield* Effect.fork(spool.take("bulk", 10))
      yield* parked(other)
      expect(yield* running(other)).toBe(true)
      yield* Fiber.interrupt(other)
    }))

  it.scoped("settled outcomes are status records, per message and per recipient; final ones leave the queue", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary()
      const [a, b] = yield* spool.enqueue([message(1, { to: ["x@example.net", "y@example.net"] }), message(2)])
      yield* spool.take("default", 10)
      const reply = { code: 250, enhanced: "2.0.0", text: "ok" }
      yield* spool.settle(a!.id, {
        ...deferredUntil(60_000),
        recipients: [
          { address: "x@example.net", status: "delivered", reply },
          { address: "y@example.net", status: "deferred", reply: { code: 451, enhanced: "4.7.1", text: "try later" } }
        ]
      })
      yield* spool.settle(b!.id, { ...delivered, status: "bounced", lastReply: { code: 550, enhanced: "5.1.1", text: "no" } })
      const recordA = Option.getOrThrow(yield* spool.status(a!.id))
      expect(recordA).toMatchObject({ status: "deferred", attempts: 1, upstream: "relay", nextAttemptAt: 60_000 })
      expect(recordA.recipients.map((r) => r.status)).toEqual(["delivered", "deferred"])
      expect(recordA.recipients[0]!.reply).toEqual(reply)
      expect(Option.getOrThrow(yield* spool.status(b!.id))).toMatchObject({ status: "bounced", lastReply: { code: 550 } })
      expect(yield* spool.depth).toBe(1)
      // A second outcome for a final message changes nothing.
      yield* spool.settle(b!.id, delivered)
      expect(Option.getOrThrow(yield* spool.status(b!.id)).status).toBe("bounced")
      expect(Option.isNone(yield* spool.status("no-such-id"))).toBe(true)
    }))

  it.scoped("final records are kept apart: a walk over the queue in id order meets only what is still queued", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary()
      const accepted = yield* spool.enqueue(Array.from({ length: 30 }, (_, i) => message(i)))
      yield* spool.take("default", 30)
      yield* spool.settleAll(accepted.slice(0, 29).map(({ id }) => ({ id, settlement: delivered })))
      const last = accepted[29]!.id
      yield* spool.release([last])
      // One page of 5 keys reaches the one queued message: the 29 delivered before it are not walked.
      const page = yield* spool.scan(undefined, 5)
      expect(page.records.map((r) => r.id)).toEqual([last])
      expect(page.cursor).toBeUndefined()
      expect(Option.getOrThrow(yield* spool.status(accepted[0]!.id)).status).toBe("delivered")
    }))

  it.scoped("deferred messages come back at their due time, earliest due first", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary()
      const ids = (yield* spool.enqueue([message(1), message(2), message(3)])).map((e) => e.id)
      yield* spool.take("default", 10)
      yield* spool.settle(ids[0]!, deferredUntil(3000))
      yield* spool.settle(ids[1]!, deferredUntil(1000))
      yield* spool.settle(ids[2]!, deferredUntil(2000))
      const waiting = yield* Effect.fork(spool.take("default", 10))
      yield* parked(waiting)
      yield* TestClock.adjust(999)
      expect(yield* running(waiting)).toBe(true)
      yield* TestClock.adjust(1)
      const first = yield* Fiber.join(waiting)
      expect(first.map((m) => m.id)).toEqual([ids[1]])
      expect(first[0]!.attempts).toBe(1)
      // Its retry is to go elsewhere than the upstream that deferred it.
      expect(first[0]!.lastUpstream).toBe("relay")
      yield* TestClock.adjust(5000)
      expect((yield* spool.take("default", 10)).map((m) => m.id)).toEqual([ids[2], ids[0]])
    }))

  it.scoped("a lease that runs out makes the message ready again; release hands it back at once", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary({ leaseTimeout: "1 minute" })
      const [a, b] = yield* spool.enqueue([message(1), message(2)])
      expect((yield* spool.take("default", 10)).length).toBe(2)
      yield* spool.release([b!.id])
      expect((yield* spool.take("default", 10)).map((m) => m.id)).toEqual([b!.id])

      const again = yield* Effect.fork(spool.take("default", 10))
      yield* parked(again)
      yield* TestClock.adjust("59 seconds")
      expect(yield* running(again)).toBe(true)
      yield* TestClock.adjust("1 second")
      // Both leases (a's from the first take, b's from the second) ran out; a was due first.
      expect((yield* Fiber.join(again)).map((m) => m.id)).toEqual([a!.id, b!.id])
      // The first holder's outcome still counts; the message is not handed out again.
      yield* spool.settle(a!.id, delivered)
      expect(Option.getOrThrow(yield* spool.status(a!.id)).status).toBe("delivered")
      yield* TestClock.adjust("2 minutes")
      expect((yield* spool.take("default", 10)).map((m) => m.id)).toEqual([b!.id])
      expect(yield* spool.depth).toBe(1)
    }))

  it.scoped("a scan starts after what it handed out, and anything put back before that is found again", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary()
      const ids = (yield* spool.enqueue([1, 2, 3, 4, 5, 6].map((n) => message(n)))).map((e) => e.id)
      expect((yield* spool.take("default", 2)).map((m) => m.id)).toEqual(ids.slice(0, 2))
      expect((yield* spool.take("default", 2)).map((m) => m.id)).toEqual(ids.slice(2, 4))
      // Released: its key is before where the last scan stopped.
      yield* spool.release([ids[0]!])
      expect((yield* spool.take("default", 2)).map((m) => m.id)).toEqual([ids[0], ids[4]])
      // Deferred, due at once: its new key sorts before the last one handed out.
      yield* spool.settle(ids[1]!, deferredUntil(0))
      expect((yield* spool.take("default", 10)).map((m) => m.id)).toEqual([ids[1], ids[5]])
      // Enqueued at an earlier time than a retry already handed out (a batch that committed late).
      yield* spool.settle(ids[2]!, deferredUntil(500))
      yield* TestClock.adjust(500)
      expect((yield* spool.take("default", 10)).map((m) => m.id)).toEqual([ids[2]])
      const late = yield* spool.enqueue([message(7)])
      expect((yield* spool.take("default", 10)).map((m) => m.id)).toEqual([late[0]!.id])
    }))

  it.scoped("idempotency keys map to the first id: in a batch, across concurrent callers, and after a restart", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const spool = yield* Spool.make({ path })
        const [a, b, c] = yield* spool.enqueue([
          message(1, { idempotencyKey: "order-1" }),
          message(1, { idempotencyKey: "order-1" }),
          message(3, { idempotencyKey: "x".repeat(5000) })
        ])
        expect(a).toEqual({ id: a!.id, duplicate: false })
        expect(b).toEqual({ id: a!.id, duplicate: true })
        const concurrent = yield* Effect.forEach(
          Array.from({ length: 20 }),
          () => Effect.map(spool.enqueue([message(4, { idempotencyKey: "order-2" })]), ([r]) => r!),
          { concurrency: "unbounded" }
        )
        expect(new Set(concurrent.map((r) => r.id)).size).toBe(1)
        expect(concurrent.filter((r) => !r.duplicate).length).toBe(1)
        expect(yield* spool.depth).toBe(3)
        return { a: a!.id, c: c!.id, order2: concurrent[0]!.id }
      }))
      const spool = yield* Spool.make({ path })
      const again = yield* spool.enqueue([
        message(1, { idempotencyKey: "order-1" }),
        message(4, { idempotencyKey: "order-2" }),
        message(3, { idempotencyKey: "x".repeat(5000) }),
        message(8, { idempotencyKey: "order-3" })
      ])
      expect(again.slice(0, 3)).toEqual([
        { id: first.a, duplicate: true },
        { id: first.order2, duplicate: true },
        { id: first.c, duplicate: true }
      ])
      expect(again[3]!.duplicate).toBe(false)
      expect(yield* spool.depth).toBe(4)
    }))

  it.scoped("final records are kept for the retention, then compacted away with their idempotency keys", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary({ retention: "1 hour" })
      const [a] = yield* spool.enqueue([message(1, { idempotencyKey: "k" })])
      yield* spool.take("default", 10)
      yield* spool.settle(a!.id, delivered)
      yield* TestClock.adjust("59 minutes")
      expect(Option.getOrThrow(yield* spool.status(a!.id)).status).toBe("delivered")
      expect((yield* spool.enqueue([message(1, { idempotencyKey: "k" })]))[0]).toEqual({ id: a!.id, duplicate: true })
      yield* TestClock.adjust("2 minutes")
      // Compaction runs in the background, on the clock; its commit lands on LMDB's own thread.
      yield* eventually(spool.status(a!.id), Option.isNone, "compaction")
      const [b] = yield* spool.enqueue([message(3, { idempotencyKey: "k" })])
      expect(b!.duplicate).toBe(false)
      expect(b!.id).not.toBe(a!.id)
    }))

  it.scoped("above maxDepth, enqueue fails with QueueFull until messages leave", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary({ maxDepth: 3 })
      const accepted = yield* spool.enqueue([message(1), message(2), message(3)])
      const full = yield* Effect.exit(spool.enqueue([message(4)]))
      expect(full).toEqual(Exit.fail(expect.objectContaining({ _tag: "QueueFull", depth: 3, maxDepth: 3 })))
      yield* spool.take("default", 1)
      yield* spool.settle(accepted[0]!.id, delivered)
      expect((yield* spool.enqueue([message(4)])).length).toBe(1)
    }))

  it.scoped("a restart keeps every unfinished message, and hands the dead process's leases out again in order", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      const ids = yield* Effect.scoped(Effect.gen(function*() {
        const spool = yield* Spool.make({ path, leaseTimeout: "1 hour" })
        const ids = (yield* spool.enqueue([1, 2, 3, 4, 5].map((i) => message(i)))).map((e) => e.id)
        yield* spool.take("default", 2)
        yield* spool.settle(ids[1]!, delivered)
        yield* spool.settle(ids[0]!, deferredUntil(0))
        yield* spool.take("default", 1)
        return ids
      }))
      const spool = yield* Spool.make({ path, leaseTimeout: "1 hour" })
      expect(yield* spool.depth).toBe(4)
      expect(yield* spool.isOpen).toBe(true)
      // No waiting for the hour: the process that held these leases is gone.
      const taken = yield* spool.take("default", 10)
      expect(taken.map((m) => m.id)).toEqual([ids[0], ids[2], ids[3], ids[4]])
      expect(taken[0]!.attempts).toBe(1)
      expect(Option.getOrThrow(yield* spool.status(ids[1]!)).status).toBe("delivered")
    }))

  it.scoped("a closed spool says so", () =>
    Effect.gen(function*() {
      const spool = yield* Effect.scoped(Spool.temporary())
      expect(yield* spool.isOpen).toBe(false)
      const exit = yield* Effect.exit(spool.enqueue([message(1)]))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "QueueError", operation: "enqueue" })))
    }))

  it.scoped("a message is kept under the id the engine gave it", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary()
      const id = messageId(0)
      expect(yield* spool.enqueue([message(1, { id })])).toEqual([{ id, duplicate: false }])
      expect(Option.getOrThrow(yield* spool.status(id)).status).toBe("queued")
      expect((yield* spool.take("default", 10)).map((m) => m.id)).toEqual([id])
    }))

  it.scoped("partial is final: each recipient keeps its status, reply and category, and the message leaves the queue", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      const recipients: ReadonlyArray<RecipientStatus> = [
        { address: "x@example.net", status: "delivered", reply: { code: 250, enhanced: "2.0.0", text: "ok" } },
        { address: "y@example.net", status: "bounced", reply: { code: 550, enhanced: "5.1.1", text: "no such user" }, category: "bad-mailbox" }
      ]
      const id = yield* Effect.scoped(Effect.gen(function*() {
        const spool = yield* Spool.make({ path })
        const [a] = yield* spool.enqueue([message(1, { to: ["x@example.net", "y@example.net"] })])
        yield* spool.take("default", 10)
        yield* spool.settle(a!.id, { ...delivered, status: "partial", recipients })
        expect(yield* spool.depth).toBe(0)
        return a!.id
      }))
      // Read back from disk by another open.
      const spool = yield* Spool.make({ path })
      expect(Option.getOrThrow(yield* spool.status(id))).toMatchObject({ status: "partial", recipients })
      yield* spool.enqueue([message(2)])
      expect((yield* spool.take("default", 10)).map((m) => m.to)).toEqual([["r2@example.net"]])
    }))

  it.scoped("amend: a later bounce of a delivered recipient; the status follows, and reports at once all land", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary()
      const to = ["a@example.net", "b@example.net", "c@example.net"]
      const [m] = yield* spool.enqueue([message(1, { to })])
      yield* spool.take("default", 10)
      const ok = { code: 250, enhanced: "2.0.0", text: "ok" }
      yield* spool.settle(m!.id, { ...delivered, recipients: to.map((address) => ({ address, status: "delivered", reply: ok })) })
      yield* TestClock.adjust(5000)
      const bounce = (address: string): RecipientStatus => ({
        address,
        status: "bounced",
        reply: { code: 550, enhanced: "5.1.1", text: "user unknown" },
        category: "bad-mailbox"
      })
      const first = Option.getOrThrow(yield* spool.amend(m!.id, bounce("A@EXAMPLE.NET")))
      // The address as it was submitted, whatever case the report used.
      expect(first.recipients[0]).toEqual(bounce("a@example.net"))
      expect(first).toMatchObject({ status: "partial", updatedAt: 5000 })
      // Two reports at once: each is read and written in its own transaction, so neither is lost.
      yield* Effect.all([spool.amend(m!.id, bounce("b@example.net")), spool.amend(m!.id, bounce("c@example.net"))], {
        concurrency: "unbounded"
      })
      const record = Option.getOrThrow(yield* spool.status(m!.id))
      expect(record.status).toBe("bounced")
      expect(record.recipients.map((r) => [r.status, r.category])).toEqual(to.map(() => ["bounced", "bad-mailbox"]))
      // Nothing to amend: an unknown message, or a recipient that is not delivered (any more).
      expect(Option.isNone(yield* spool.amend("no-such-id", bounce("a@example.net")))).toBe(true)
      expect(Option.isNone(yield* spool.amend(m!.id, bounce("a@example.net")))).toBe(true)
      expect(Option.isNone(yield* spool.amend(m!.id, bounce("z@example.net")))).toBe(true)
    }))

  it.scoped("a message is handed out alike whether it is still in memory or read back from disk", () =>
    Effect.gen(function*() {
      const store = yield* openStore(yield* tempDir)
      // Room in memory for the first message only: the second is read back from disk.
      const queue = yield* makeQueue(store, { maxDepth: 100, leaseMs: 60_000, retentionMs: 60_000, recentBytes: 600 })
      const enqueued = yield* queue.enqueue([message(1), message(2)])
      const taken = yield* queue.take("default", 10)
      const plain = (m: QueuedMessage) => ({ ...m, content: Buffer.from(m.content).toString() })
      expect(taken.map(plain)).toEqual([1, 2].map((i) => ({
        ...plain({ ...message(i), submittedAt: 0, attempts: 0, recipients: [{ address: `r${i}@example.net`, status: "pending" }] }),
        id: enqueued[i - 1]!.id
      })))
      // Deferred, each comes back with its content.
      yield* queue.settleAll(taken.map(({ id }) => ({ id, settlement: deferredUntil(0) })))
      const again = yield* queue.take("default", 10)
      expect(again.map((m) => Buffer.from(m.content).toString())).toEqual(taken.map((m) => Buffer.from(m.content).toString()))
    }))

  it.scoped("records are appended: pages fill up, and an id behind the last (a clock stepped back, a restart) is kept all the same", () =>
    Effect.gen(function*() {
      const store = yield* openStore(yield* tempDir)
      const settings = { maxDepth: 1000, leaseMs: 60_000, retentionMs: 60_000 }
      const first = yield* makeQueue(store, settings)
      // ~1.3 KiB records, as a 1 KiB message makes: two fit in a 4 KiB page.
      const big = (i: number) => message(i, { content: Buffer.alloc(1200, "x") })
      yield* first.enqueue(Array.from({ length: 200 }, (_, i) => big(i)))
      const stats = store.db.messages.getStats() as { entryCount: number; treeLeafPageCount: number }
      expect(stats.entryCount).toBe(200)
      // Plain puts at the end of the tree would leave one record a page (200 pages).
      expect(stats.treeLeafPageCount).toBeLessThanOrEqual(101)
      const behind = "0-behind-1"
      yield* first.enqueue([message(1000, { id: behind })])
      // A queue opened again on the store reads where the ids end, and does not append behind them.
      const again = yield* makeQueue(store, settings)
      const alsoBehind = "0-behind-2"
      yield* again.enqueue([message(1001, { id: alsoBehind }), message(1002)])
      for (const id of [behind, alsoBehind]) expect(Option.getOrThrow(yield* again.status(id)).status).toBe("queued")
      expect(store.db.messages.getStats()).toMatchObject({ entryCount: 203 })
    }))

  it("a record of another run is checked as it is read: a bad field is named, a good one comes back whole", () => {
    const values = ["0000000000000000000000004", "queued", 0, "default", 0, 0, undefined, undefined,
      [{ address: "r1@example.net", status: "pending" }], undefined, undefined, "sender@example.com", ["r1@example.net"],
      undefined, 0, "another run"]
    const bytesOf = (values: ReadonlyArray<unknown>) => layout(positional, Record.pack(values))
    const good = Record.decode(bytesOf(values))
    expect(Either.getOrThrow(good).record).toMatchObject({ id: values[0], status: "queued", from: "sender@example.com", dueAt: 0 })
    const bad = Record.decode(bytesOf(values.map((v, i) => i === 2 ? "zero" : v)))
    expect(Either.isLeft(bad) && bad.left).toContain("attempts")
  })

  it("a record written with its nested optional fields undefined reads back whole, in this run and, checked, in another", () => {
    const record: Record.Complete = {
      id: "0000000000000000000000005",
      status: "deferred",
      attempts: 1,
      stream: "default",
      submittedAt: 1,
      updatedAt: 2,
      upstream: "relay",
      lastReply: { code: 451, enhanced: undefined, text: "try later" },
      recipients: [{ address: "r1@example.net", status: "deferred", reply: { code: 451, enhanced: undefined, text: "try later" }, category: undefined }],
      nextAttemptAt: 3,
      suspended: undefined,
      from: "sender@example.com",
      to: ["r1@example.net"],
      idempotencyKey: undefined,
      dueAt: 3
    }
    const bytes = Record.encode(record, Buffer.from("body"))
    expect(Either.getOrThrow(Record.decode(bytes)).record).toEqual(record)
    // The same values as another run wrote them: read through the schema, which takes the undefined fields.
    const meta = bytes.subarray(6, 6 + bytes.readUInt32LE(2))
    const values = Record.unpack(meta) as Array<unknown>
    const other = Codec.packWhole([...values.slice(0, -1), "another run"])
    const decoded = Either.getOrThrow(Record.decode(layout(positional | inline, other, Buffer.from("body"))))
    expect(decoded.record).toEqual(record)
    expect(Buffer.from(decoded.content as Buffer).toString()).toBe("body")
  })

  it.scoped("records of the map layout (content inline, an earlier run's) still decode and deliver", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      const record = {
        id: "0000000000000000000000003",
        stream: "default",
        from: "sender@example.com",
        to: ["r1@example.net"],
        submittedAt: 0,
        updatedAt: 0,
        dueAt: 0,
        attempts: 0,
        status: "queued",
        recipients: [{ address: "r1@example.net", status: "pending" }],
        run: "an earlier run"
      }
      // As spools wrote it before the positional layout: marker, place (inline), length, map, content.
      const meta = Record.pack(record)
      const content = Buffer.from("Subject: mapped\r\n\r\nbody\r\n")
      const bytes = layout(inline, meta, content)
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* openStore(path)
        yield* Effect.promise(() =>
          commit(store, () => {
            store.db.messages.put(record.id, bytes)
            store.db.due.put(["default", 0, record.id], empty)
          })
        )
      }))
      const spool = yield* Spool.make({ path })
      const [taken] = yield* spool.take("default", 10)
      expect(taken).toMatchObject({ id: record.id, from: record.from, to: record.to, attempts: 0 })
      expect(Buffer.from(taken!.content).toString()).toBe(content.toString())
      yield* spool.settle(record.id, delivered)
      expect(Option.getOrThrow(yield* spool.status(record.id))).toMatchObject({ status: "delivered", attempts: 1 })
    }))

  it.scoped("records written before partial and categories existed still decode and deliver", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      // Exactly what the spool wrote before: a deferred record (and its content and due key), a final one.
      const deferredRecord = {
        id: "0000000000000000000000001",
        stream: "default",
        from: "sender@example.com",
        to: ["r1@example.net"],
        submittedAt: 0,
        updatedAt: 10,
        dueAt: 0,
        attempts: 1,
        status: "deferred",
        recipients: [{ address: "r1@example.net", status: "deferred", reply: { code: 451, enhanced: "4.7.1", text: "later" } }],
        upstream: "relay",
        lastReply: { code: 451, enhanced: "4.7.1", text: "later" },
        nextAttemptAt: 0
      }
      const bouncedRecord = {
        ...deferredRecord,
        id: "0000000000000000000000002",
        status: "bounced",
        recipients: [{ address: "r1@example.net", status: "bounced", reply: { code: 550, text: "no" } }],
        lastReply: { code: 550, text: "no" }
      }
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* openStore(path)
        yield* Effect.promise(() =>
          commit(store, () => {
            store.db.messages.put(deferredRecord.id, Record.pack(deferredRecord))
            store.db.contents.put(deferredRecord.id, Buffer.from("Subject: old\r\n\r\nbody\r\n"))
            store.db.due.put(["default", 0, deferredRecord.id], empty)
            store.db.messages.put(bouncedRecord.id, Record.pack(bouncedRecord))
            // Its expiry as spools wrote it then: one entry per message, the id in the key.
            store.db.expiries.put([1000, bouncedRecord.id], empty)
          })
        )
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const spool = yield* Spool.make({ path })
        expect(Option.getOrThrow(yield* spool.status(bouncedRecord.id))).toMatchObject({
          status: "bounced",
          lastReply: { code: 550, enhanced: undefined, text: "no" }
        })
        const [taken] = yield* spool.take("default", 10)
        expect(taken).toMatchObject({ id: deferredRecord.id, attempts: 1, recipients: deferredRecord.recipients })
        expect(Buffer.from(taken!.content).toString()).toContain("Subject: old")
        // Deferred again, its content stays where it is, and comes with it; once final, it goes.
        yield* spool.settle(deferredRecord.id, deferredUntil(0, 2))
        const [again] = yield* spool.take("default", 10)
        expect(Buffer.from(again!.content).toString()).toContain("Subject: old")
        yield* spool.settle(deferredRecord.id, { ...delivered, attempts: 3 })
        yield* TestClock.adjust(1000)
        expect(yield* spool.compact).toBe(1)
        expect(Option.isNone(yield* spool.status(bouncedRecord.id))).toBe(true)
        expect(Option.getOrThrow(yield* spool.status(deferredRecord.id))).toMatchObject({ status: "delivered", attempts: 3 })
      }))
      const store = yield* openStore(path)
      expect(store.db.contents.get(deferredRecord.id)).toBeUndefined()
    }))
})
