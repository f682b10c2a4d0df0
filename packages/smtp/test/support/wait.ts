import { Effect } from "effect"

/** Waits in real time, whatever clock the fiber has: for sockets and servers to catch up. */
export const realSleep = (millis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/** Polls `condition` in real time until it holds, failing the test after `millis`. */
export const eventually = (condition: () => boolean, millis = 2_000): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`condition not met within ${millis} ms`))
      yield* realSleep(10)
    }
  })
