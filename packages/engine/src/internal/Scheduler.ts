import type { Scope } from "effect"
import { Clock, Duration, Effect, Either, Schedule } from "effect"
import { domainOf } from "../Address.js"
import * as Alarm from "../Alarm.js"
import * as Capacity from "../Capacity.js"
import type { Classifier } from "../Bounce.js"
import type * as Config from "../Config.js"
import type { DeliveryQueueShape } from "../DeliveryQueue.js"
import { FairQueue } from "./FairQueue.js"
import { Deque } from "./deque.js"
import * as Outcome from "./Outcome.js"
import type { Reporter } from "./Report.js"
import type { Circuits } from "./Router.js"
import { Router } from "./Router.js"
import * as Settlements from "./Settlements.js"
import { Signal } from "../Signal.js"
import type { SuspensionsShape } from "../Suspensions.js"
import * as Actor from "./UpstreamActor.js"
import { Job, UpstreamActor } from "./UpstreamActor.js"

export interface SchedulerShape {
  /** Leased messages held by the scheduler, not yet handed to an actor (bounded by the prefetch). */
  readonly buffered: number
  /** The upstream each message being delivered right now went to. */
  readonly delivering: ReadonlyMap<string, string>
  /** True while at least one upstream can take mail: it has answered, and its circuit is closed. */
  readonly canDeliver: () => boolean
  /** Transactions written to upstream connections and not yet answered. */
  readonly onWire: () => number
  /**
   * Takes the jobs of `ids` that wait with the scheduler (buffered, in a line, in a mailbox; not on a
   * connection) out of its hands and answers their ids: leased still, for the caller to hand back.
   */
  readonly giveBack: (ids: ReadonlySet<string>) => Array<string>
  /**
   * Stops leasing and dispatching, hands back what no connection has taken, waits (up to `timeout`)
   * for the deliveries in flight, and settles them.
   */
  readonly drain: (timeout: Duration.DurationInput) => Effect.Effect<void>
}

interface Settings {
  readonly config: Config.SluiceConfig
  readonly queue: DeliveryQueueShape
  readonly classify: Classifier
  readonly reporter: Reporter
  readonly suspensions?: SuspensionsShape | undefined
}

/** How long a message held by a suspended domain waits before it is looked at again, at most. */
const domainRecheck = 30_000

/**
 * The scheduler actor: leases from the queue only as there is room, orders the leased messages by
 * weighted fair queuing across streams, and hands each to an upstream the Router chooses. Per message
 * it is plain synchronous code (DESIGN.md, "Per message vs per lifetime"): `dispatch` runs whenever
 * something changed — jobs leased, an actor freed room, a circuit changed, a cooldown ended — and a
 * connection's result waits in `ended` and is judged at the start of the next round, then handed to
 * the settlement batch. Suspensions (Suspensions.ts) are looked up there too. Effect runs what lives
 * long: the lease loops, the settlement flusher, the suspensions watch, the actors' scopes, the drain.
 */
export const make = ({ classify, config, queue, reporter, suspensions }: Settings): Effect.Effect<SchedulerShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const weights = new Map(Object.entries(config.streams).map(([name, { weight }]) => [name, weight]))
    const fair = new FairQueue<Job>(weights)
    // Messages that an upstream failed (connect error, timeout, 421): they go to another upstream
    // first, ahead of fresh ones, without waiting for a retry delay.
    const failover = new Deque<Job>()
    const delivering = new Map<string, string>()
    const room = new Signal() // the scheduler's own buffer has room again
    let draining = false
    // A job no upstream could take this round (every circuit open); it goes first next time.
    let held: Job | undefined

    const settlements = yield* Settlements.make({ config, queue, reporter, delivering })

    // What the actors' connections ended, drained at the start of each round.
    const ended = new Deque<Actor.Ended>()
    const handlers: Actor.Handlers = {
      ended,
      wake: () => dispatch(),
      onCircuitChange: (actor, state) => {
        reporter.circuit(actor.name, state)
        // What waits in its mailbox would wait for the cooldown, or fail on it in turn: it moves now.
        if (state === "open") {
          for (const job of actor.takeWaiting()) {
            delivering.delete(job.message.id)
            if (draining) settlements.release(job)
            else failover.push(job)
          }
        }
        // A probe settled, or an upstream left: routes change.
        dispatch()
      }
    }
    const actors: Array<UpstreamActor> = []
    for (const upstream of config.upstreams) actors.push(yield* Actor.make(upstream, config.circuitBreaker, handlers))
    const connections = config.upstreams.reduce((n, u) => n + u.maxConnections, 0)
    const router = new Router<Job, UpstreamActor>(actors, connections)
    // Enough leased messages per stream to keep every connection busy, no more: memory stays
    // bounded whatever the queue depth.
    const prefetch = Capacity.schedulerBuffer(connections)
    const refill = Math.ceil(prefetch / 2)
    const streams = [...weights.keys()]
    // Looks again when an open circuit's cooldown ends, if work is waiting for it.
    const cooldowns = yield* Alarm.make(() => dispatch())

    const next = (): Job | undefined => {
      const job = held ?? failover.shift() ?? fair.pop()?.item
      held = undefined
      return job
    }

    // This round's view of the circuits, brought up to date on each round rather than allocated:
    // entries are added and deleted as they change, not cleared and added again (a Set's clear()
    // allocates a new table, and this runs at every round).
    const circuits: Circuits = { available: new Set(), probing: new Set() }
    const mark = (set: Set<string>, name: string, member: boolean) => {
      if (member) set.add(name)
      else set.delete(name)
    }
    // A circuit that cooled down is probed here, with a connection and no message (UpstreamActor.probe):
    // only a closed circuit takes mail.
    const look = (now: number) => {
      for (const actor of actors) {
        let available = false
        let probing = false
        // Suspended: neither given mail nor probed, whatever its circuit says.
        if (suspensions?.holding("upstream", actor.name, now) === undefined) {
          const breaker = actor.breaker
          if (breaker.state === "closed") {
            available = true
          } else {
            if (breaker.available(now) && breaker.tryPass(now)) actor.probe()
            probing = breaker.state === "half-open"
          }
        }
        mark(circuits.available, actor.name, available)
        mark(circuits.probing, actor.name, probing)
      }
    }

    const hand = (actor: UpstreamActor, job: Job, now: number) => {
      delivering.set(job.message.id, actor.name)
      reporter.attempt(job, actor.name, now)
      actor.offer(job)
    }

    let dispatching = false
    let again = false
    /** Hands out every job an upstream can take now. Re-entrant calls (from an offer) run once more after. */
    const dispatch = (): void => {
      if (dispatching) {
        again = true
        return
      }
      dispatching = true
      try {
        do {
          again = false
          round()
        } while (again && !draining)
      } finally {
        dispatching = false
      }
    }

    const round = () => {
      for (let next = ended.shift(); next !== undefined; next = ended.shift()) judge(next)
      if (draining) return
      const now = clock.unsafeCurrentTimeMillis()
      look(now)
      for (const job of router.evict(circuits)) failover.push(job)
      for (const { job, target } of router.release(circuits)) hand(target, job, now)
      while (!router.isFull) {
        const job = next()
        if (job === undefined) break
        const until = suspensions === undefined ? undefined : domainHold(job, now)
        if (until !== undefined) {
          settlements.hold(job, Math.min(until, now + domainRecheck))
          continue
        }
        const routed = router.route(job, circuits)
        if (routed === "unavailable") {
          held = job
          break
        } else if (routed === "excluded") {
          // Every upstream that can take mail already failed it in this lease: a real deferral.
          const last = [...job.excluded!].at(-1)!
          settlements.add(job, last, Outcome.deferred(job.message.recipients, "every available upstream failed it", classify))
        } else if (routed !== "queued") {
          hand(routed.target, routed.job, now)
        }
      }
      // A lease loop waits until its stream has room for a refill: wake it then, not per message.
      for (const stream of streams) {
        if (prefetch - fair.size(stream) >= refill) {
          room.notify()
          break
        }
      }
      // A circuit cools down (or its probe is presumed lost): look again then, to probe it.
      let probeAt = Infinity
      for (const actor of actors) probeAt = Math.min(probeAt, actor.breaker.probeAt ?? Infinity)
      if (probeAt !== Infinity) cooldowns.set(probeAt)
    }

    /**
     * When a recipient of the job waits on a suspended domain: the end of that suspension (Infinity
     * for one without an end); else undefined. The message waits whole: it is not split.
     */
    const domainHold = (job: Job, now: number): number | undefined => {
      let until: number | undefined
      for (const recipient of job.message.recipients) {
        if (recipient.status !== "pending" && recipient.status !== "deferred") continue
        const held = suspensions!.holding("domain", domainOf(recipient.address), now)
        if (held !== undefined) until = Math.max(until ?? 0, held.until ?? Infinity)
      }
      return until
    }

    /**
     * The suspensions changed: a suspended upstream's mailbox moves to the others and a suspended
     * stream's buffered messages go back to the queue (its lease loop takes none meanwhile); then a
     * round, for what was lifted.
     */
    const suspended = () => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const actor of actors) {
        if (suspensions!.holding("upstream", actor.name, now) === undefined) continue
        for (const job of actor.takeWaiting()) {
          delivering.delete(job.message.id)
          failover.push(job)
        }
      }
      for (const stream of streams) {
        if (suspensions!.holding("stream", stream, now) === undefined) continue
        const jobs = fair.takeAll(stream)
        if (held !== undefined && held.message.stream === stream) {
          jobs.push(held)
          held = undefined
        }
        for (const job of jobs) settlements.release(job)
      }
      room.notify()
      dispatch()
    }

    /** An attempt that ended: judged, and settled or failed over. */
    const judge = ({ actor, classification, job, outcome }: Actor.Ended) => {
      if (Either.isRight(outcome)) {
        return settlements.add(job, actor.name, Outcome.fromResult(job.message.recipients, outcome.right, classify))
      }
      const error = outcome.left
      const { upstreamFault, verdict } = classification!
      if (upstreamFault && draining) {
        // Shutting down: the connection closed under it. Not an attempt: it goes back untouched.
        delivering.delete(job.message.id)
        settlements.release(job)
      } else if (upstreamFault) {
        // Failover: try the other upstreams before calling it a deferral.
        job.exclude(actor.name)
        delivering.delete(job.message.id)
        reporter.failover(job, actor.name, error)
        failover.push(job)
      } else {
        settlements.add(job, actor.name, Outcome.fromError(job.message.recipients, error, verdict, classify))
      }
    }

    const lease = (stream: string) =>
      Effect.gen(function*() {
        while (!draining) {
          if (suspensions?.holding("stream", stream, clock.unsafeCurrentTimeMillis()) !== undefined) {
            const lifted = suspensions.changed.next()
            if (suspensions.holding("stream", stream, clock.unsafeCurrentTimeMillis()) !== undefined) yield* lifted
            continue
          }
          // Refilled by halves: one take for many messages, not one per message delivered.
          if (prefetch - fair.size(stream) < refill) {
            const roomAgain = room.next()
            if (prefetch - fair.size(stream) < refill) yield* roomAgain
            continue
          }
          const wanted = prefetch - fair.size(stream)
          const messages = yield* queue.take(stream, wanted).pipe(
            Effect.tapError((error) => Effect.logError("queue take failed", error)),
            Effect.orElseSucceed(() => []),
            Effect.tap((taken) => taken.length === 0 ? Effect.sleep("1 second") : Effect.void)
          )
          if (draining) {
            yield* queue.release(messages.map((m) => m.id)).pipe(Effect.ignoreLogged)
            return
          }
          // Suspended while this take waited: what it got goes back.
          if (suspensions?.holding("stream", stream, clock.unsafeCurrentTimeMillis()) !== undefined) {
            yield* queue.release(messages.map((m) => m.id)).pipe(Effect.ignoreLogged)
            continue
          }
          for (const message of messages) fair.push(stream, new Job(message))
          dispatch()
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
    // An upstream that has never answered is probed (a connection, no message) until it does, so
    // readiness means one that takes mail, not one that is merely configured.
    const reachOut = Effect.sync(() => {
      for (const actor of actors) {
        if (!actor.breaker.reached && actor.breaker.state === "closed" && !actor.probing) actor.probe()
      }
    })
    yield* reachOut
    yield* Effect.forkScoped(supervised(
      reachOut.pipe(Effect.repeat({ schedule: Schedule.spaced("1 second"), until: () => actors.every((a) => a.breaker.reached) }), Effect.asVoid),
      "probes of unreached upstreams"
    ))
    if (suspensions !== undefined) {
      const changes = Effect.gen(function*() {
        for (;;) {
          yield* suspensions.changed.next()
          if (!draining) suspended()
        }
      })
      yield* Effect.forkScoped(supervised(changes, "suspensions watch"))
    }

    const drain = (timeout: Duration.DurationInput) =>
      Effect.gen(function*() {
        draining = true
        cooldowns.cancel()
        room.notify()
        const waiting = [...router.clear()]
        for (let job = next(); job !== undefined; job = next()) waiting.push(job)
        for (const actor of actors) waiting.push(...actor.takeWaiting())
        for (const job of waiting) delivering.delete(job.message.id)
        yield* queue.release(waiting.map((job) => job.message.id)).pipe(Effect.ignoreLogged)
        // The bound is wall-clock time: it bounds the process's exit, also under a TestClock.
        yield* settlements.idle(() => actors.every((actor) => actor.load === 0)).pipe(
          Effect.timeout(timeout),
          Effect.withClock(Clock.make()),
          Effect.ignore
        )
        yield* settlements.flush
      })

    return {
      get buffered() {
        return fair.size() + failover.length + router.queued + (held === undefined ? 0 : 1)
      },
      delivering,
      canDeliver: () => actors.some((actor) => actor.breaker.state === "closed" && actor.breaker.reached),
      onWire: () => {
        let n = 0
        for (const actor of actors) n += actor.inFlight
        return n
      },
      giveBack: (ids) => {
        const mine = (job: Job) => ids.has(job.message.id)
        const back = fair.takeWhere(mine)
        if (held !== undefined && mine(held)) {
          back.push(held)
          held = undefined
        }
        // What waits in a line or a mailbox is routed again, after the jobs failed over already.
        const elsewhere = [...router.clear(), ...actors.flatMap((actor) => actor.takeWaiting())]
        const rest: Array<Job> = []
        for (let job = failover.shift(); job !== undefined; job = failover.shift()) (mine(job) ? back : rest).push(job)
        for (const job of elsewhere) (mine(job) ? back : rest).push(job)
        for (const job of rest) {
          delivering.delete(job.message.id)
          failover.push(job)
        }
        for (const job of back) delivering.delete(job.message.id)
        room.notify()
        dispatch()
        return back.map((job) => job.message.id)
      },
      drain
    }
  })
