import type { Scope } from "effect"
import { Effect, Either, Exit, Metric, Queue, Schedule } from "effect"
import type { SmtpError, SmtpSession } from "@sluice/smtp"
import { SmtpOptions, SmtpPool } from "@sluice/smtp"
import * as CircuitBreaker from "./CircuitBreaker.js"
import type * as Config from "./Config.js"
import { upstreamName } from "./Config.js"
import * as EngineMetrics from "./EngineMetrics.js"
import type { QueuedMessage } from "./Message.js"
import { pendingRecipients } from "./Message.js"
import * as RateLimit from "./RateLimit.js"

/** A leased message on its way through the scheduler and an actor. */
export interface Job {
  readonly message: QueuedMessage
  /** Upstreams that failed this message during this lease; failover skips them. */
  readonly excluded: Set<string>
}

export type SendOutcome = Either.Either<SmtpSession.SendResult, SmtpError>

export interface Handlers {
  /** Called by the worker with the result of one attempt; the worker takes its next job after it. */
  readonly onResult: (job: Job, upstream: string, outcome: SendOutcome) => Effect.Effect<void>
  /** A job whose worker was interrupted (shutdown) or died: it goes back to the queue. */
  readonly onLost: (job: Job) => Effect.Effect<void>
  readonly onCircuitChange: (upstream: string, state: CircuitBreaker.State) => Effect.Effect<void>
  /** The actor has room for another job. */
  readonly onRoom: () => void
}

/**
 * One upstream server as an actor: a bounded mailbox, worker fibers (one per allowed connection)
 * delivering over the actor's own pool of cached sessions, an optional rate limit, and a circuit
 * breaker the scheduler consults. Only the scheduler offers to the mailbox, and only when `room`
 * says there is some, so an offer never waits.
 */
export interface UpstreamActor {
  readonly name: string
  readonly role: "active" | "standby"
  readonly weight: number
  readonly spill: boolean
  readonly breaker: CircuitBreaker.CircuitBreaker
  /** How many more jobs the actor takes now: one per connection, and a few waiting in the mailbox. */
  readonly room: number
  /** Jobs in the mailbox or being delivered. */
  readonly load: number
  readonly offer: (job: Job) => Effect.Effect<void>
}

const smtpOptions = (upstream: Config.Upstream) =>
  SmtpOptions.make({
    name: upstreamName(upstream),
    host: upstream.host,
    port: upstream.port,
    tls: upstream.tls,
    verifyCertificate: upstream.tlsVerify,
    auth: upstream.auth,
    maxConnections: upstream.maxConnections,
    maxMessagesPerConnection: upstream.maxMessagesPerConnection,
    idleTimeout: upstream.idleTimeout,
    timeouts: Object.fromEntries(Object.entries(upstream.timeouts ?? {}).filter(([, v]) => v !== undefined))
  })

export const make = (
  upstream: Config.Upstream,
  breakerOptions: CircuitBreaker.Options,
  handlers: Handlers
): Effect.Effect<UpstreamActor, never, Scope.Scope> =>
  Effect.gen(function*() {
    const name = upstreamName(upstream)
    // One job per connection and a quarter more waiting, so a worker finds its next job at once;
    // more would hide jobs in the mailbox where the scheduler can no longer move them elsewhere.
    const capacity = Math.ceil(upstream.maxConnections * 1.25)
    const mailbox = yield* Queue.bounded<Job>(capacity)
    const pool = yield* SmtpPool.make(smtpOptions(upstream))
    const { circuitState: circuitGauge, inFlight: inFlightGauge } = EngineMetrics.forUpstream(name)
    const breaker = yield* CircuitBreaker.make({
      ...breakerOptions,
      onChange: (state) =>
        Metric.set(circuitGauge, CircuitBreaker.stateCode(state)).pipe(
          Effect.zipRight(handlers.onCircuitChange(name, state))
        )
    })
    yield* Metric.set(circuitGauge, 0)
    const limit = upstream.rateLimit === undefined
      ? <A, E, R>(effect: Effect.Effect<A, E, R>) => effect
      : yield* (yield* RateLimit.current).make(name, upstream.rateLimit)

    let load = 0
    const setLoad = (delta: number) =>
      Effect.suspend(() => {
        load += delta
        if (delta < 0) handlers.onRoom()
        return Metric.set(inFlightGauge, load)
      })

    const deliver = (job: Job) =>
      Effect.gen(function*() {
        const send = pool.send({ from: job.message.from, to: pendingRecipients(job.message.recipients) }, job.message.content)
        const outcome = yield* Effect.either(limit(send))
        yield* handlers.onResult(job, name, outcome)
      })

    const step = Queue.take(mailbox).pipe(
      Effect.flatMap((job) =>
        deliver(job).pipe(
          Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : handlers.onLost(job)),
          Effect.ensuring(setLoad(-1))
        )
      )
    )

    // A worker that dies (a defect) is logged and restarted; its job went back to the queue above.
    const worker = step.pipe(
      Effect.forever,
      Effect.sandbox,
      Effect.tapError((cause) => Effect.logError("upstream worker died; restarting", cause)),
      Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
      Effect.annotateLogs({ upstream: name })
    )
    yield* Effect.forkScoped(Effect.all(Array.from({ length: upstream.maxConnections }, () => worker), {
      concurrency: "unbounded",
      discard: true
    }))

    return {
      name,
      role: upstream.role,
      weight: upstream.weight,
      spill: upstream.spill,
      breaker,
      get room() {
        return capacity - load
      },
      get load() {
        return load
      },
      offer: (job) => setLoad(1).pipe(Effect.zipRight(Queue.offer(mailbox, job)), Effect.asVoid)
    }
  })
