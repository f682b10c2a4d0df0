import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import type { DeliveryQueueShape } from "../src/index.js"
import { Inspection, MemoryQueue, messageId } from "../src/index.js"

const message = (n: number) => ({
  id: messageId(n * 10_000),
  from: "a@example.com",
  to: [`r${n}@example.net`],
  content: new Uint8Array(0),
  stream: "default"
})

const delivered = { status: "delivered" as const, attempts: 1, recipients: [] }

describe("the oldest queued message", () => {
  for (const [name, order] of [["in id order", "id"], ["in no order (a whole summary each time)", undefined]] as const) {
    it.effect(`is found ${name}, and moves on as the oldest ones end`, () =>
      Effect.gen(function*() {
        const memory = yield* MemoryQueue.make()
        const queue: DeliveryQueueShape = { ...memory, scanOrder: order }
        const oldest = Inspection.oldestReader(queue)
        expect(yield* oldest).toBeUndefined()
        const ids: Array<string> = []
        for (const n of [1, 2, 3]) {
          ids.push(...(yield* queue.enqueue([message(n)])).map((e) => e.id))
          yield* TestClock.adjust("10 seconds")
        }
        expect(yield* oldest).toBe(0)
        yield* queue.take("default", 3)
        yield* queue.settle(ids[0]!, delivered)
        expect(yield* oldest).toBe(10_000)
        yield* queue.settle(ids[1]!, delivered)
        expect(yield* oldest).toBe(20_000)
        yield* queue.settle(ids[2]!, delivered)
        expect(yield* oldest).toBeUndefined()
      }))
  }
})
