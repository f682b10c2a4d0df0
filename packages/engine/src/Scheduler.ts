import type { Scope } from "effect"
import { Clock, Duration, Effect, LogLevel, Metric, PubSub, Schedule } from "effect"
import { SmtpReply } from "@sluice/smtp"
import type * as Config from "./Config.js"
import type { DeliveryEvent } from "./DeliveryEvent.js"
import type { DeliveryQueueShape, Settlement } from "./DeliveryQueue.js"
import * as EngineMetrics from "./EngineMetrics.js"
import { FairQueue } from "./FairQueue.js"
import { Deque } from "./internal/deque.js"
import { Signal } from "./Signal.js"
import type { RecipientStatus, Reply } from "./Message.js"
import { statusOf } from "./Message.js"
import * as Retry from "./Retry.js"
import type { Assignment, Circuits } from "./Router.js"
import { Router } from "./Router.js"
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
}

/**
 * The scheduler actor: leases from the queue only as there is room, orders the leased messages by
 * weighted fair queuing across streams, and hands each to an upstream chosen by smooth weighted
 * round-robin among those whose circuit is closed and whose mailbox has room; standby upstreams only
 * while no active one can take mail. Outcomes come back here and are settled in the queue.
 */
export const make = ({ config, events, queue }: Settings): Effect.Effect<SchedulerShape, never, Scope.Scope> =>
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
    const router = new Router(actors, connections)
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
    const hand = ({ actor, job }: Assignment, circuits: Circuits) =>
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
        const now = yield* Clock.currentTimeMillis
        const circuits = yield* circuitsNow
        let progress = false
        for (const job of router.evict(circuits)) failover.push(job)
        for (const assignment of router.release(now, circuits)) {
          yield* hand(assignment, circuits)
          progress = true
        }
        while (!router.isFull) {
          const job = next()
          if (job === undefined) break
          room.notify()
          const routed = router.route(job, now, circuits)
          if (routed === "unavailable") {
            held = job
            break
          } else if (routed === "excluded") {
            // Every upstream that can take mail already failed it in this lease: a real deferral.
            const last = [...job.excluded].at(-1)!
            yield* settleFailure(job, last, "every available upstream failed it", undefined)
            progress = true
          } else {
            if (routed !== "queued") yield* hand(routed, circuits)
            progress = true
          }
        }
        if (!progress) {
          // Wake for new work or room, when a waiting job may be taken by an idle upstream, or to
          // look again at circuits whose cooldown may have ended.
          const overdue = router.nextOverdue(now)
          const poll = held !== undefined || router.queued > 0 ? now + 100 : undefined
          const wake = Math.min(overdue ?? Infinity, poll ?? Infinity)
          yield* wake === Infinity ? work.wait : Effect.race(work.wait, Effect.sleep(wake - now))
        }
      }
    })

    const lease = (stream: string) =>
      Effect.gen(function*() {
        while (!draining) {
          const room_ = prefetch - fair.size(stream)
          if (room_ <= 0) {
            yield* room.wait
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
        if (outcome._tag === "Left") {
          const error = outcome.left
          const { upstreamFault, verdict } = SmtpReply.classifyError(error)
          yield* upstreamFault ? actor.breaker.onFailure : actor.breaker.onSuccess
          const reply = error._tag === "SmtpReplyError" ? { code: error.code, enhanced: error.enhanced, text: error.text } : undefined
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
          const judged = job.message.recipients.map((r): RecipientStatus =>
            r.status === "pending" || r.status === "deferred"
              ? { address: r.address, status: verdict === "permanent" ? "bounced" : "deferred", reply }
              : r
          )
          return yield* record(job, upstream, judged, reply, error.message)
        }
        yield* actor.breaker.onSuccess
        const results = new Map(outcome.right.recipients.map((r) => [r.address, r]))
        let lastReply: Reply | undefined
        const judged = job.message.recipients.map((r): RecipientStatus => {
          const result = results.get(r.address)
          if (result === undefined) return r
          lastReply = result.reply
          const status = result.verdict === "delivered" ? "delivered" : result.verdict === "permanent" ? "bounced" : "deferred"
          return { address: r.address, status, reply: result.reply }
        })
        yield* record(job, upstream, judged, lastReply, lastReply?.text ?? "")
      })

    const settleFailure = (job: Job, upstream: string, reason: string, reply: Reply | undefined) =>
      record(
        job,
        upstream,
        job.message.recipients.map((r) =>
          r.status === "pending" || r.status === "deferred" ? { address: r.address, status: "deferred" as const, reply } : r
        ),
        reply,
        reason
      )

    /** Writes one attempt's outcome to the queue, with its retry decision, metrics and events. */
    const record = (job: Job, upstream: string, judged: Array<RecipientStatus>, lastReply: Reply | undefined, reason: string) =>
      Effect.gen(function*() {
        const message = job.message
        const attempts = message.attempts + 1
        const now = yield* Clock.currentTimeMillis
        let recipients = judged
        let retryAt: number | undefined
        if (recipients.some((r) => r.status === "deferred")) {
          const decision = yield* Retry.decide(policy, attempts, message.submittedAt)
          if (decision._tag === "RetryAt") {
            retryAt = decision.at
          } else {
            recipients = recipients.map((r) => r.status === "deferred" ? { ...r, status: "failed" as const } : r)
            reason = decision.reason === "attempts"
              ? `out of attempts (${attempts} of ${policy.maxAttempts})`
              : `older than the maximum age (${Duration.format(policy.maxAge)})`
          }
        }
        const status = statusOf(recipients)
        const settlement: Settlement = {
          status: status === "queued" || status === "delivering" ? "deferred" : status,
          attempts,
          upstream,
          lastReply,
          recipients,
          retryAt
        }
        yield* queue.settle(message.id, settlement).pipe(
          Effect.tapError((error) => Effect.logError("settling a message failed; it will come back", error)),
          Effect.ignore
        )
        delivering.delete(message.id)
        const durationMs = now - message.submittedAt
        const base = { id: message.id, at: now, upstream, attempt: attempts, reply: lastReply }
        yield* Metric.increment(EngineMetrics.outcome[settlement.status])
        if (settlement.status !== "deferred") {
          yield* Metric.update(EngineMetrics.deliveryDuration, durationMs / 1000)
        }
        const log = Effect.annotateLogs({
          messageId: message.id,
          upstream,
          attempt: attempts,
          code: lastReply?.code,
          enhanced: lastReply?.enhanced,
          durationMs
        })
        switch (settlement.status) {
          case "delivered":
            yield* publish({ _tag: "Delivered", ...base, durationMs })
            // Checked first: building the annotations costs more than the rest of a delivery's
            // bookkeeping, and debug lines are usually filtered out.
            return yield* Effect.whenLogLevel(Effect.logDebug("delivered").pipe(log), LogLevel.Debug)
          case "bounced":
            yield* publish({ _tag: "Bounced", ...base, durationMs })
            return yield* Effect.logInfo("bounced").pipe(log)
          case "failed":
            yield* publish({ _tag: "Failed", ...base, reason, durationMs })
            return yield* Effect.logWarning(`failed: ${reason}`).pipe(log)
          case "deferred":
            yield* publish({ _tag: "Deferred", ...base, retryAt: retryAt!, reason })
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
        const idle = Effect.suspend(() => actors.every((a) => a.load === 0) ? Effect.void : Effect.fail("busy"))
        yield* idle.pipe(
          Effect.retry(Schedule.spaced("20 millis")),
          Effect.timeout(timeout),
          Effect.ignore
        )
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
