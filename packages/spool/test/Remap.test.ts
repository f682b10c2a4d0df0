import * as fs from "node:fs"
import * as nodePath from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Option, Schema } from "effect"
import type { DeliveryQueueShape, QueuedMessage, Settlement } from "@sluice/engine"
import { Config, DeliveryQueue } from "@sluice/engine"
import { mappedResident } from "../src/internal/residency.js"
import { Spool, SpoolConfig } from "../src/index.js"
import { message, tempDir } from "./support/spool.js"

const MiB = 2 ** 20
const onLinux = mappedResident() !== undefined
// The spool's section where a configuration file has it, so a refusal names the field as the file does.
const inQueue = Schema.Struct({ queue: SpoolConfig.Config })

const delivered = (m: QueuedMessage): Settlement => ({
  status: "delivered",
  attempts: 1,
  recipients: m.recipients.map((r) => ({ ...r, status: "delivered" as const }))
})

/** 2 KiB that say which message they are. */
const bulky = (i: number) => message(i, { content: Buffer.from(`Subject: ${i}\r\n\r\n${"x".repeat(2000)} ${i}\r\n`) })
/** The number `bulky` was given, read back from the recipient address. */
const numberOf = (m: QueuedMessage) => Number(m.to[0]!.slice(1, m.to[0]!.indexOf("@")))

/**
 * Queues `count` bulky messages, then takes and settles them all, checking each content; returns
 * how far the process's resident file pages rose above where they were once the queue was full.
 */
const drain = (spool: DeliveryQueueShape, count: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < count; i += 500) yield* spool.enqueue(Array.from({ length: 500 }, (_, j) => bulky(i + j)))
    const floor = mappedResident()!
    let highest = 0
    let altered = 0
    for (let done = 0; done < count;) {
      const taken = yield* spool.take("default", 200)
      altered += taken.filter((m) => !Buffer.from(m.content).equals(bulky(numberOf(m)).content)).length
      yield* Effect.forEach(taken, (m) => spool.settle(m.id, delivered(m)), { concurrency: "unbounded" })
      done += taken.length
      highest = Math.max(highest, mappedResident()! - floor)
    }
    expect(altered).toBe(0)
    expect(yield* spool.depth).toBe(0)
    return highest
  })

describe("the spool's memory map stays within its budget", () => {
  it.scoped.skipIf(!onLinux)("draining 40 MB keeps under 8 MiB of the file resident; without a budget it would not", () =>
    Effect.gen(function*() {
      // The budget as a configuration file's `queue` section gives it.
      const queue = yield* Config.decodeSection(SpoolConfig.Config)({ kind: "embedded", path: yield* tempDir, maxMappedBytes: 8 * MiB })
      const fromConfig = Context.get(yield* Layer.build(Spool.layerFromConfig(queue)), DeliveryQueue)
      const bounded = yield* drain(fromConfig, 20_000)
      // The budget is checked every few accesses: a little more may come in before the reopen.
      expect(bounded).toBeLessThan(12 * MiB)
      const unbounded = yield* drain(yield* Spool.temporary({ maxMappedBytes: Infinity }), 20_000)
      expect(unbounded).toBeGreaterThan(30 * MiB)
    }), 60_000)

  it.effect("a budget that is not a positive whole number of bytes is refused, naming the field", () =>
    Effect.gen(function*() {
      for (const maxMappedBytes of [0, 1.5, "16 MiB"]) {
        const error = yield* Effect.flip(Config.decodeSection(inQueue)({ queue: { kind: "embedded", maxMappedBytes } }))
        expect(error.issues.map((issue) => issue.path)).toContain("queue.maxMappedBytes")
      }
    }))

  it.scoped("enqueues, takes and settles running during remaps all land, each message once", () =>
    Effect.gen(function*() {
      const spool = yield* Spool.temporary({ maxMappedBytes: Infinity })
      const count = 3000
      const enqueued = yield* Effect.forEach(
        Array.from({ length: count / 100 }, (_, k) => k),
        (k) => spool.enqueue(Array.from({ length: 100 }, (_, j) => bulky(k * 100 + j))),
        { concurrency: 10 }
      ).pipe(Effect.fork)
      const remaps = yield* Effect.fork(Effect.repeatN(Effect.zipRight(spool.remap, Effect.yieldNow()), 50))
      const seen = new Map<string, number>()
      while (seen.size < count) {
        const taken = yield* spool.take("default", 50)
        yield* Effect.forEach(taken, (m) => {
          seen.set(m.id, (seen.get(m.id) ?? 0) + 1)
          return spool.settle(m.id, delivered(m))
        }, { concurrency: "unbounded" })
      }
      yield* Fiber.join(remaps)
      const ids = (yield* Fiber.join(enqueued)).flat().map((e) => e.id)
      expect(new Set(ids).size).toBe(count)
      expect([...seen.values()].every((n) => n === 1)).toBe(true)
      expect(yield* spool.depth).toBe(0)
      for (const id of [ids[0]!, ids[count - 1]!]) {
        expect(Option.getOrThrow(yield* spool.status(id)).status).toBe("delivered")
      }
    }), 60_000)

  it.scoped("a spool that cannot be opened again fails each call, naming why, and recovers with its messages", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      const spool = yield* Spool.make({ path, maxMappedBytes: Infinity })
      const [kept] = yield* spool.enqueue([message(1)])
      // The data file is swapped for one that is not LMDB's; the open environment still has the old one.
      const data = nodePath.join(path, "data.mdb")
      fs.linkSync(data, `${data}.kept`)
      fs.writeFileSync(`${data}.other`, Buffer.alloc(64 * 1024, 0x5a))
      fs.renameSync(`${data}.other`, data)
      const failed = yield* Effect.exit(spool.remap)
      expect(failed).toEqual(Exit.fail(expect.objectContaining({ _tag: "SpoolError", reason: "Corrupt", path })))
      const refused = yield* Effect.flip(spool.enqueue([message(2)]))
      expect(refused.message).toContain(data)
      expect(refused.message).toContain("not an LMDB data file")
      // Put back, the next call opens it again.
      fs.renameSync(`${data}.kept`, data)
      const taken = yield* spool.take("default", 10)
      expect(taken.map((m) => m.id)).toEqual([kept!.id])
      expect((yield* spool.enqueue([message(3)])).length).toBe(1)
    }))
})
