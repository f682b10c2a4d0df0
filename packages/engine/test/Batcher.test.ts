import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Batcher from "../src/internal/batcher.js"

/** Lets the event loop go round `n` times (setImmediate: after each turn's I/O, as the batcher runs). */
const turns = (n: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
  })

/** A batcher counting its flushes, with `gathered` items waiting for it. */
const counting = (gapMs: number) =>
  Effect.gen(function*() {
    const state = { flushes: 0, gathered: 0 }
    const batcher = yield* Batcher.make(
      Effect.sync(() => {
        state.flushes++
        state.gathered = 0
      }),
      () => state.gathered > 0,
      gapMs
    )
    const gather = () => {
      state.gathered++
      batcher.schedule()
    }
    return { state, gather }
  })

describe("Batcher", () => {
  it.scoped("what is gathered in one turn goes in one flush, in the next turn", () =>
    Effect.gen(function*() {
      const { gather, state } = yield* counting(0)
      gather()
      gather()
      gather()
      expect(state.flushes).toBe(0)
      yield* turns(3)
      expect(state).toEqual({ flushes: 1, gathered: 0 })
      gather()
      yield* turns(3)
      expect(state.flushes).toBe(2)
    }))

  it.scoped("with a gap, the first flush runs at once and the next waits for the gap", () =>
    Effect.gen(function*() {
      // A gap no test run reaches: what the assertions see is the order, not a duration.
      const { gather, state } = yield* counting(60_000)
      gather()
      yield* turns(3)
      expect(state.flushes).toBe(1)
      gather()
      yield* turns(10)
      expect(state).toEqual({ flushes: 1, gathered: 1 })
    }))
})
