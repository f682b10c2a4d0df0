import type { Fiber, Runtime } from "effect"
import { Effect, Runtime as Runtimes } from "effect"

/**
 * Runs `flush` once per turn of the event loop while something is waiting for it, one run at a time.
 * What the hot path gathers (outcomes to settle, events to publish) is handed over in batches: a
 * wake-up per message (a Deferred, a fiber resumed) cost more than the work it woke for. Plain Node
 * scheduling (`setImmediate`: after the turn's I/O callbacks, so all replies read in one turn share a
 * batch), not the Clock: a TestClock never holds it back.
 */
export class Batcher {
  private scheduled: ReturnType<typeof setImmediate> | undefined
  private running: Fiber.RuntimeFiber<void> | undefined
  private closed = false

  constructor(
    private readonly runtime: Runtime.Runtime<never>,
    private readonly flush: Effect.Effect<void>,
    private readonly waiting: () => boolean
  ) {}

  /** Something was gathered: flush it soon. */
  schedule(): void {
    if (this.scheduled !== undefined || this.running !== undefined || this.closed) return
    this.scheduled = setImmediate(this.run)
  }

  private readonly run = () => {
    this.scheduled = undefined
    const fiber = Runtimes.runFork(this.runtime)(this.flush)
    this.running = fiber
    fiber.addObserver(() => {
      this.running = undefined
      if (this.waiting()) this.schedule()
    })
  }

  /** Stops scheduling (what is still gathered is for the owner's last flush). */
  close(): void {
    this.closed = true
    if (this.scheduled !== undefined) clearImmediate(this.scheduled)
    this.scheduled = undefined
  }
}

/** A batcher that stops with the scope; the owner flushes what is left in its own finalizer. */
export const make = (flush: Effect.Effect<void>, waiting: () => boolean) =>
  Effect.gen(function*() {
    const batcher = new Batcher(yield* Effect.runtime<never>(), flush, waiting)
    yield* Effect.addFinalizer(() => Effect.sync(() => batcher.close()))
    return batcher
  })
