import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Scope } from "effect"
import { Effect, Fiber, Option } from "effect"
import type { NewMessage } from "@sluice/engine"

/** A fresh directory removed with the scope. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-spool-test-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

let minted = 0

/**
 * A message id in the engine's shape (acceptance time in base 36, then 16 hex digits), increasing from
 * one call to the next: a test's messages sort in the order it made them, as they are accepted.
 */
export const testId = (now = 0): string => `${now.toString(36).padStart(9, "0")}${(++minted).toString(16).padStart(16, "0")}`

export const message = (i: number, extra: Partial<NewMessage> = {}): NewMessage => ({
  id: testId(),
  from: "sender@example.com",
  to: [`r${i}@example.net`],
  content: Buffer.from(`Subject: message ${i}\r\n\r\nbody ${i}\r\n`),
  stream: "default",
  ...extra
})

/** Waits until `fiber` is parked (on a sleep or a signal), so moving the TestClock reaches it. */
export const parked = <A, E>(fiber: Fiber.RuntimeFiber<A, E>): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      if ((yield* Fiber.status(fiber))._tag === "Suspended") return
      yield* Effect.yieldNow()
    }
    return yield* Effect.die(new Error("the fiber never parked"))
  })

/** Whether `fiber` is still running. */
export const running = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) => Effect.map(Fiber.poll(fiber), Option.isNone)

/** Waits real time, also under TestClock: for commits on LMDB's write thread. */
export const eventually = <A, E>(check: Effect.Effect<A, E>, until: (a: A) => boolean, what: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 10_000
    for (;;) {
      const value = yield* check
      if (until(value)) return value
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
    }
  })
