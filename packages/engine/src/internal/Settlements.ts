import type { Scope } from "effect"
import { Effect, Metric } from "effect"
import type * as Config from "../Config.js"
import type { DeliveryQueueShape, SettleEntry, Settlement } from "../DeliveryQueue.js"
import * as EngineMetrics from "../EngineMetrics.js"
import * as Batcher from "./batcher.js"
import * as Outcome from "./Outcome.js"
import type { Reporter } from "./Report.js"
import * as Retry from "../Retry.js"
import { Signal } from "../Signal.js"
import type { Job } from "./UpstreamActor.js"

interface Pending {
  readonly job: Job
  readonly upstream: string
  readonly judged: Outcome.Judged
  /** When the outcome came (epoch ms). */
  readonly at: number
}

export interface Settlements {
  /** One attempt's outcome, to be settled with the next batch. */
  readonly add: (job: Job, upstream: string, judged: Outcome.Judged) => void
  /** A job that was not attempted after all (a drain), to be handed back untouched. */
  readonly release: (job: Job) => void
  /**
   * A job held by a suspension (its domain's): back to the queue as deferred until `retryAt`, its
   * attempts unchanged — no attempt was made, nothing is reported.
   */
  readonly hold: (job: Job, retryAt: number) => void
  /** Waits until `done()` holds, looking again whenever an outcome arrives. */
  readonly idle: (done: () => boolean) => Effect.Effect<void>
  /** Settles what is pending now. */
  readonly flush: Effect.Effect<void>
}

/**
 * Time between the end of a flush and the next: each one is a spool transaction, whose start alone
 * costs the event loop 0.1–0.2 ms in LMDB (lmdb-js's startWriting) besides the commit's fsync. Under
 * load a flush then takes some 50 outcomes, not a handful (CPU per delivered message ~7% lower on
 * the spool); an outcome arriving after a quiet spell is still settled in the next turn.
 */
const settleGapMs = 5

/**
 * Outcomes are settled in batches, off the connections: a connection's result is judged where it
 * arrives and added here, and a fiber writes what has gathered in one queue call (one spool
 * transaction), then reports it. A connection never waits for a disk. The retry policy runs here,
 * in Effect, where its Clock and Random are.
 */
export const make = (settings: {
  readonly config: Config.SluiceConfig
  readonly queue: DeliveryQueueShape
  readonly reporter: Reporter
  readonly delivering: Map<string, string>
}): Effect.Effect<Settlements, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { config, delivering, queue, reporter } = settings
    const clock = yield* Effect.clock
    const policy: Retry.Policy = config.retry
    let pending: Array<Pending> = []
    let released: Array<string> = []
    let holds: Array<SettleEntry> = []
    const arrived = new Signal()

    const settle = (batch: ReadonlyArray<Pending>) =>
      Effect.gen(function*() {
        const entries: Array<{ readonly id: string; readonly settlement: Settlement }> = []
        const reasons: Array<string> = []
        for (const { job, judged, upstream } of batch) {
          const message = job.message
          const decision = Outcome.needsDecision(judged)
            ? yield* Retry.decide(policy, message.attempts + 1, message.submittedAt)
            : undefined
          const { reason, settlement } = Outcome.settle(message, upstream, judged, decision, policy)
          entries.push({ id: message.id, settlement })
          reasons.push(reason)
        }
        yield* queue.settleAll(entries).pipe(
          Effect.tapError((error) => Effect.logError("settling messages failed; they will come back", error)),
          Effect.ignore
        )
        for (let i = 0; i < batch.length; i++) {
          const { at, job, judged } = batch[i]!
          delivering.delete(job.message.id)
          reporter.outcome(job.message, entries[i]!.settlement, judged.category, reasons[i]!, at)
        }
      })

    // One flush at a time: a drain's last flush must not return while the loop's batch is still being written.
    const lock = yield* Effect.makeSemaphore(1)
    const flush = lock.withPermits(1)(Effect.suspend(() => {
      const batch = pending
      const back = released
      const held = holds
      if (batch.length === 0 && back.length === 0 && held.length === 0) return Effect.void
      pending = []
      released = []
      holds = []
      return Effect.all([
        back.length === 0 ? Effect.void : queue.release(back).pipe(Effect.ignoreLogged),
        held.length === 0 ? Effect.void : queue.settleAll(held).pipe(
          Effect.tapError((error) => Effect.logError("holding suspended messages failed; they will come back", error)),
          Effect.ignore,
          Effect.zipRight(Effect.sync(() => {
            for (const { id } of held) delivering.delete(id)
          })),
          Effect.zipRight(Metric.incrementBy(EngineMetrics.held, held.length))
        ),
        batch.length === 0 ? Effect.void : settle(batch)
      ], { discard: true })
    }))

    const waiting = () => pending.length > 0 || released.length > 0 || holds.length > 0
    // A defect in a flush is logged; the outcomes it held come back to the queue when their leases end.
    const batcher = yield* Batcher.make(
      flush.pipe(Effect.catchAllCause((cause) => Effect.logError("settling failed", cause))),
      waiting,
      settleGapMs
    )

    return {
      add: (job, upstream, judged) => {
        pending.push({ job, upstream, judged, at: clock.unsafeCurrentTimeMillis() })
        arrived.notify()
        batcher.schedule()
      },
      release: (job) => {
        released.push(job.message.id)
        arrived.notify()
        batcher.schedule()
      },
      hold: (job, retryAt) => {
        const message = job.message
        holds.push({
          id: message.id,
          settlement: {
            status: "deferred",
            attempts: message.attempts,
            upstream: message.lastUpstream,
            recipients: message.recipients,
            retryAt
          }
        })
        batcher.schedule()
      },
      idle: (done) =>
        Effect.gen(function*() {
          for (;;) {
            const woken = arrived.next()
            if (done()) return
            yield* woken
          }
        }),
      flush
    }
  })
