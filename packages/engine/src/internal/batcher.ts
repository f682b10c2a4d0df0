import type { Fiber, Runtime } from "effect"
import { Effect, Runtime as Runtimes } from "effect"

/**
 * Runs `flush` once per turn of the event loop while something is waiting for it, one run at a time,
 * and no sooner than `gapMs` after the previous run ended (0: in the next turn).
 * What the hot path gathers (outcomes to settle, events to publish) is handed over in batches: a
 * wake-up per message (a Deferred, a fiber resumed) cost more than the work it woke for. Plain Node
 * scheduling (`setImmediate`: after the turn's I/O callbacks, so all replies read in one turn share a
 * batch), not the Clock: a TestClock never holds it back.
 */
export class Batcher {
  private scheduled: ReturnType<typeof setImmediate> | undefined
  private delayed: ReturnType<typeof setTimeout> | undefined
  private ended = -Infinity
  private running: Fiber.RuntimeFiber<void> | undefined
  private closed = false

  constructor(
    private readonly runtime: Runtime.Runtime<never>,
    private readonly flush: Effect.Effect<void>,
    private readonly waiting: () => boolean,
    private readonly gapMs = 0
  ) {}

  /** Something was gathered: flush it soon. */
  schedule(): void {
    if (this.scheduled !== undefined || this.delayed !== undefined || this.running !== undefined || this.closed) return
    const wait = this.gapMs - (performance.now() - this.ended)
    if (wait > 0) this.delayed = setTimeout(this.run, wait)
    else this.scheduled = setImmediate(this.run)
  }

  private readonly run = () => {
    this.scheduled = undefined
    this.delayed = undefined
    const fiber = Runtimes.runFork(this.runtime)(this.flush)
    this.running = fiber
    fiber.addObserver(() => {
      this.running = undefined
      this.ended = performance.now()
      if (this.waiting()) this.schedule()
    })
  }

  /** Stops scheduling (what is still gathered is for the owner's last flush). */
  close(): void {
    this.closed = true
    if (this.scheduled !== undefined) clearImmediate(this.scheduled)
    if (this.delayed !== undefined) clearTimeout(this.delayed)
    this.scheduled = undefined
    this.delayed = undefined
  }
}

/** A batcher that stops with the scope; the owner flushes what is left in its own finalizer. */
export const make = (flush: Effect.Effect<void>, waiting: () => boolean, gapMs = 0) =>
  Effect.gen(function*() {
    const batcher = new Batcher(yield* Effect.runtime<never>(), flush, waiting, gapMs)
    yield* Effect.addFinalizer(() => Effect.sync(() => batcher.close()))
    return batcher
  })
