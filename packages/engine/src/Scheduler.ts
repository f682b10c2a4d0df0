import type { Scope } from "effect"
import { Clock, Duration, Effect, Metric, PubSub, Schedule } from "effect"
import { SmtpReply } from "@sluice/smtp"
import type { Category, Classifier } from "./Bounce.js"
import * as Bounce from "./Bounce.js"
import type * as Config from "./Config.js"
import type { DeliveryEvent } from "./DeliveryEvent.js"
import type { DeliveryQueueShape, Settlement } from "./DeliveryQueue.js"
import * as EngineMetrics from "./EngineMetrics.js"
import { FairQueue } from "./FairQueue.js"
import { Deque } from "./internal/deque.js"
import { Signal } from "./Signal.js"
import type { QueuedMessage, RecipientStatus } from "./Message.js"
import { statusOf } from "./Message.js"
import * as Outcome from "./Outcome.js"
import * as Retry from "./Retry.js"
import type { Assignment, Circuits } from "./Router.js"
import { Router } from "./Router.js"
import type { SuppressionsShape } from "./Suppressions.js"
import type { Job, SendOutcome, UpstreamActor } from "./UpstreamActor.js"
import * as Actor from "./UpstreamActor.js"

export interface SchedulerShape {
  /** Leased messages held by the scheduler, not yet handed to an actor (bounded by the prefetch). */
  readonly buffered: number
  /** The upstream each message being delivered right now went to. */
  readonly delivering: ReadonlyMap<string, string>
  /** True while at least one upstream can take mail (closed or probing circuit). */
  readonly canDeliver: Effect.Effect<boolean>
  /**
   * Stops leasing and dispatching, hands buffered messages back to the queue, and waits (up to
   * `timeout`) for the actors to finish what they hold.
   */
  readonly drain: (timeout: Duration.DurationInput) => Effect.Effect<void>
}

interface Settings {
  readonly config: Config.SluiceConfig
  readonly queue: DeliveryQueueShape
  readonly events: PubSub.PubSub<DeliveryEvent>
  readonly classify: Classifier
  /** Where bad-mailbox and bad-domain bounces suppress their address; none when `suppressions.auto` is off. */
  readonly suppressions: SuppressionsShape | undefined
}

/** A recipient as a log line shows it: flat fields a log store can index. */
const logged = (r: RecipientStatus) => ({
  address: r.address,
  status: r.status,
  code: r.reply?.code,
  enhanced: r.reply?.enhanced,
  category: r.category
})

/**
 * The scheduler actor: leases from the queue only as there is room, orders the leased messages by
 * weighted fair queuing across streams, and hands each to an upstream chosen by smooth weighted
 * round-robin among those whose circuit is closed and whose mailbox has room; standby upstreams only
 * while no active one can take mail. Outcomes come back here and are settled in the queue.
 */
export const make = ({ classify, config, events, queue, suppressions }: Settings): Effect.Effect<SchedulerShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const weights = new Map(Object.entries(config.streams).map(([name, { weight }]) => [name, weight]))
    const fair = new FairQueue<Job>(weights)
    // Messages that an upstream failed (connect error, timeout, 421): they go to another upstream
    // first, ahead of fresh ones, without waiting for a retry delay.
    const failover = new Deque<Job>()
    const delivering = new Map<string, string>()
    const work = new Signal() // a job arrived, or an actor has room again
    const room = new Signal() // the scheduler's own buffer has room again
    const policy: Retry.Policy = config.retry
    let draining = false
    const publish = (event: DeliveryEvent) => PubSub.publish(events, event)

    const actors: Array<UpstreamActor> = []
    const handlers: Actor.Handlers = {
      onResult: (job, upstream, outcome) => settle(job, upstream, outcome),
      onLost: (job) =>
        Effect.suspend(() => {
          delivering.delete(job.message.id)
          return queue.release([job.message.id]).pipe(Effect.ignoreLogged)
        }),
      onCircuitChange: (upstream, state) =>
        Effect.gen(function*() {
          const at = yield* Clock.currentTimeMillis
          yield* publish({ _tag: "CircuitChanged", upstream, state, at })
          yield* Effect.logInfo(`circuit ${state}`).pipe(Effect.annotateLogs({ upstream }))
          work.notify() // a probe settled, or an upstream left: routes change
        }),
      onRoom: () => work.notify()
    }
    for (const upstream of config.upstreams) {
      actors.push(yield* Actor.make(upstream, config.circuitBreaker, handlers))
    }
    const byName = new Map(actors.map((actor) => [actor.name, actor]))
    const connections = config.upstreams.reduce((n, u) => n + u.maxConnections, 0)
    const router = new Router<Job, UpstreamActor>(actors, connections)
    // Enough leased messages per stream to keep every connection busy, no more: memory stays
    // bounded whatever the queue depth.
    const prefetch = Math.max(8, 2 * connections)
    // A job no upstream could take this round (every circuit open); it goes first next time.
    let held: Job | undefined

    const next = (): Job | undefined => {
      const job = held ?? failover.shift() ?? fair.pop()?.item
      held = undefined
      return job
    }

    const circuitsNow = Effect.gen(function*() {
      const circuits: Circuits = { available: new Set<string>(), probing: new Set<string>() }
      for (const actor of actors) {
        if (yield* actor.breaker.available) circuits.available.add(actor.name)
        else if ((yield* actor.breaker.state) === "half-open") circuits.probing.add(actor.name)
      }
      return circuits
    })

    // `circuits` is this round's view; taking a probe changes it, so it is updated here. Otherwise a job
    // refused by a half-open circuit would be routed straight back to it, in a loop that never yields.
    const hand = ({ job, target: actor }: Assignment<Job, UpstreamActor>, circuits: Circuits) =>
      Effect.gen(function*() {
        const passed = yield* actor.breaker.tryPass
        if ((yield* actor.breaker.state) === "half-open") {
          circuits.available.delete(actor.name)
          circuits.probing.add(actor.name)
        }
        if (!passed) {
          failover.push(job) // another job took the half-open probe; route this one again
          return
        }
        delivering.set(job.message.id, actor.name)
        const at = yield* Clock.currentTimeMillis
        yield* publish({ _tag: "Attempt", id: job.message.id, at, upstream: actor.name, attempt: job.message.attempts + 1 })
        yield* actor.offer(job)
      })

    const dispatch = Effect.gen(function*() {
      while (!draining) {
        const woken = work.next()
        const circuits = yield* circuitsNow
        let progress = false
        for (const job of router.evict(circuits)) failover.push(job)
        for (const assignment of router.release(circuits)) {
          yield* hand(assignment, circuits)
          progress = true
        }
        while (!router.isFull) {
          const job = next()
          if (job === undefined) break
          room.notify()
          const routed = router.route(job, circuits)
          if (routed === "unavailable") {
            held = job
            break
          } else if (routed === "excluded") {
            // Every upstream that can take mail already failed it in this lease: a real deferral.
            const last = [...job.excluded].at(-1)!
            yield* record(job, last, Outcome.deferred(job.message.recipients, "every available upstream failed it", classify))
            progress = true
          } else {
            if (routed !== "queued") yield* hand(routed, circuits)
            progress = true
          }
        }
        if (!progress) {
          // Wake for new work or room, or to look again at circuits whose cooldown may have ended.
          const stuck = held !== undefined || router.queued > 0
          yield* stuck ? Effect.race(woken, Effect.sleep(100)) : woken
        }
      }
    })

    const lease = (stream: string) =>
      Effect.gen(function*() {
        while (!draining) {
          const roomAgain = room.next()
          const room_ = prefetch - fair.size(stream)
          if (room_ <= 0) {
            yield* roomAgain
            continue
          }
          const messages = yield* queue.take(stream, room_).pipe(
            Effect.tapError((error) => Effect.logError("queue take failed", error)),
            Effect.orElseSucceed(() => []),
            Effect.tap((taken) => taken.length === 0 ? Effect.sleep("1 second") : Effect.void)
          )
          if (draining) {
            yield* queue.release(messages.map((m) => m.id)).pipe(Effect.ignoreLogged)
            return
          }
          for (const message of messages) fair.push(stream, { message, excluded: new Set() })
          work.notify()
        }
      })

    const settle = (job: Job, upstream: string, outcome: SendOutcome): Effect.Effect<void> =>
      Effect.gen(function*() {
        const actor = byName.get(upstream)!
        if (outcome._tag === "Right") {
          yield* actor.breaker.onSuccess
          return yield* record(job, upstream, Outcome.fromResult(job.message.recipients, outcome.right, classify))
        }
        const error = outcome.left
        const { upstreamFault, verdict } = SmtpReply.classifyError(error)
        yield* upstreamFault ? actor.breaker.onFailure : actor.breaker.onSuccess
        if (upstreamFault && !draining) {
          // Failover: try the other upstreams before calling it a deferral.
          job.excluded.add(upstream)
          delivering.delete(job.message.id)
          yield* Effect.logWarning("upstream failed; failing over").pipe(
            Effect.annotateLogs({ messageId: job.message.id, upstream, error: error.message })
          )
          failover.push(job)
          work.notify()
          return
        }
        yield* record(job, upstream, Outcome.fromError(job.message.recipients, error, verdict, classify))
      })

    /** Writes one attempt's outcome to the queue, with its retry decision, then reports it. */
    const record = (job: Job, upstream: string, judged: Outcome.Judged) =>
      Effect.gen(function*() {
        const message = job.message
        const attempts = message.attempts + 1
        let { reason, recipients } = judged
        let retryAt: number | undefined
        if (recipients.some((r) => r.status === "deferred")) {
          const decision = yield* Retry.decide(policy, attempts, message.submittedAt)
          if (decision._tag === "RetryAt") {
            retryAt = decision.at
          } else {
            recipients = Outcome.giveUp(recipients)
            reason = decision.reason === "attempts"
              ? `out of attempts (${attempts} of ${policy.maxAttempts})`
              : `older than the maximum age (${Duration.format(policy.maxAge)})`
          }
        }
        const settlement: Settlement = {
          status: statusOf(recipients),
          attempts,
          upstream,
          lastReply: judged.reply,
          recipients,
          retryAt
        }
        yield* queue.settle(message.id, settlement).pipe(
          Effect.tapError((error) => Effect.logError("settling a message failed; it will come back", error)),
          Effect.ignore
        )
        delivering.delete(message.id)
        yield* report(message, settlement, judged.category, reason)
      })

    const suppressAfter = config.suppressions.expireAfter === undefined ? undefined : Duration.toMillis(config.suppressions.expireAfter)
    const recipientCounters = new Map<string, Metric.Metric.Counter<number>>()
    const count = (metric: () => Metric.Metric.Counter<number>, key: string) => {
      let counter = recipientCounters.get(key)
      if (counter === undefined) recipientCounters.set(key, counter = metric())
      return Metric.increment(counter)
    }

    /** The outcome's metrics, event, log line and suppressions. */
    const report = (message: QueuedMessage, settlement: Settlement, category: Category | undefined, reason: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const { attempts, lastReply: reply, recipients, status } = settlement
        const upstream = settlement.upstream!
        const stream = message.stream
        const durationMs = now - message.submittedAt
        yield* Metric.increment(EngineMetrics.outcome[status])
        if (status !== "deferred") yield* Metric.update(EngineMetrics.deliveryDuration, durationMs / 1000)
        for (const r of Outcome.changed(message.recipients, recipients)) {
          const outcome = r.status as "delivered" | "deferred" | "bounced" | "failed"
          yield* count(() => EngineMetrics.recipients(outcome, stream), `r/${outcome}/${stream}`)
          if ((r.status === "bounced" || r.status === "deferred") && r.category !== undefined) {
            const kind = r.status === "bounced" ? "bounce" : "deferral"
            yield* count(() => EngineMetrics.bounces(r.category!, upstream, kind), `b/${r.category}/${upstream}/${kind}`)
          }
          if (r.status === "bounced" && r.category !== undefined && suppressions !== undefined && Bounce.suppresses(r.category)) {
            const why = r.reply === undefined ? r.category : `${r.reply.code} ${r.reply.enhanced ?? ""} ${r.reply.text}`.replace(/\s+/g, " ")
            yield* suppressions.add(r.address, `bounced: ${why}`, suppressAfter === undefined ? undefined : now + suppressAfter)
          }
        }
        const base = { id: message.id, at: now, upstream, stream, attempt: attempts, reply, category, recipients }
        const log = Effect.annotateLogs({
          messageId: message.id,
          upstream,
          stream,
          attempt: attempts,
          code: reply?.code,
          enhanced: reply?.enhanced,
          category,
          durationMs,
          recipients: recipients.map(logged)
        })
        switch (status) {
          case "delivered":
            yield* publish({ _tag: "Delivered", ...base, durationMs })
            return yield* Effect.logInfo("delivered").pipe(log)
          case "bounced":
            yield* publish({ _tag: "Bounced", ...base, durationMs })
            return yield* Effect.logInfo("bounced").pipe(log)
          case "partial":
            yield* publish({ _tag: "Partial", ...base, durationMs })
            return yield* Effect.logInfo("partial").pipe(log)
          case "failed":
            yield* publish({ _tag: "Failed", ...base, reason, durationMs })
            return yield* Effect.logWarning(`failed: ${reason}`).pipe(log)
          case "deferred":
            yield* publish({ _tag: "Deferred", ...base, retryAt: settlement.retryAt!, reason })
            return yield* Effect.logInfo(`deferred: ${reason}`).pipe(log)
        }
      })

    // A defect in a loop must not stall delivery for good: it is logged and the loop starts again.
    const supervised = (loop: Effect.Effect<void>, what: string) =>
      loop.pipe(
        Effect.sandbox,
        Effect.tapError((cause) => Effect.logError(`${what} died; restarting`, cause)),
        Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
        Effect.ignore
      )
    for (const stream of weights.keys()) yield* Effect.forkScoped(supervised(lease(stream), `lease loop of ${stream}`))
    yield* Effect.forkScoped(supervised(dispatch, "dispatch loop"))

    const drain = (timeout: Duration.DurationInput) =>
      Effect.gen(function*() {
        draining = true
        work.notify()
        room.notify()
        const buffered = router.clear().map((job) => job.message.id)
        for (let job = next(); job !== undefined; job = next()) buffered.push(job.message.id)
        yield* queue.release(buffered).pipe(Effect.ignoreLogged)
        // Every job an actor finishes notifies `work` (onRoom).
        const idle = Effect.gen(function*() {
          for (;;) {
            const woken = work.next()
            if (actors.every((a) => a.load === 0)) return
            yield* woken
          }
        })
        // The bound is wall-clock time: it bounds the process's exit, also under a TestClock.
        yield* idle.pipe(Effect.timeout(timeout), Effect.withClock(Clock.make()), Effect.ignore)
      })

    return {
      get buffered() {
        return fair.size() + failover.length + router.queued + (held === undefined ? 0 : 1)
      },
      delivering,
      canDeliver: Effect.gen(function*() {
        for (const actor of actors) {
          if (yield* actor.breaker.available) return true
        }
        return false
      }),
      drain
    }
  })
