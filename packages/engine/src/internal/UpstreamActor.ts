import type { Clock, Scope } from "effect"
import { Effect, Either, Metric } from "effect"
import type { SmtpError, SmtpSession } from "@sluice/smtp"
import { SmtpOptions, SmtpPool, SmtpReply } from "@sluice/smtp"
import * as Capacity from "../Capacity.js"
import { CircuitBreaker } from "./CircuitBreaker.js"
import type * as CircuitBreakerModule from "./CircuitBreaker.js"
import type * as Config from "../Config.js"
import { upstreamName } from "../Config.js"
import * as EngineMetrics from "../EngineMetrics.js"
import { Deque } from "./deque.js"
import * as PlainMetrics from "./plainMetrics.js"
import type { QueuedMessage } from "../Message.js"
import { pendingRecipients } from "../Message.js"
import * as RateLimit from "../RateLimit.js"

/** A leased message on its way through the scheduler and an actor: what a connection sends. */
export class Job implements SmtpPool.Delivery {
  /** The recipients still to be tried: the envelope of this attempt. */
  readonly to: ReadonlyArray<string>
  /** Upstreams that failed this message during this lease; failover skips them. */
  excluded: Set<string> | undefined
  /** Times it went again after a cached session turned out stale. */
  staleRetries = 0
  /** A retry goes to another upstream than the one that deferred it, when another can take it. */
  readonly avoid: string | undefined

  constructor(readonly message: QueuedMessage) {
    this.to = pendingRecipients(message.recipients)
    this.avoid = message.lastUpstream
  }

  get from(): string {
    return this.message.from
  }

  get content(): Uint8Array {
    return this.message.content
  }

  exclude(upstream: string): void {
    ;(this.excluded ??= new Set()).add(upstream)
  }
}

export type SendOutcome = Either.Either<SmtpSession.SendResult, SmtpError>

/** One attempt's end, as the actor hands it back to the scheduler. */
export interface Ended {
  readonly job: Job
  readonly actor: UpstreamActor
  readonly outcome: SendOutcome
  /** How SmtpReply judged the error, when there was one. */
  readonly classification: SmtpReply.Classification | undefined
}

/** Where an actor hands back what ended, and says what changed. */
export interface Handlers {
  /** Attempts that ended: the actor queues them here, the scheduler drains them in its next round. */
  readonly ended: Deque<Ended>
  /** Asks the scheduler for a round (something ended, or the circuit changed). */
  readonly wake: () => void
  readonly onCircuitChange: (actor: UpstreamActor, state: CircuitBreakerModule.State) => void
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

/**
 * One upstream server as an actor: a bounded mailbox the scheduler offers to, the upstream's pool of
 * connections pulling from it, an optional rate gate, and a circuit breaker. Plain synchronous code on
 * state it owns: the scheduler offers only when `room` says there is some, connections pull as they
 * can take another transaction (SmtpPool's `Source`), results come back through `onResult`. Effect
 * owns its lifetime: the pool's connections live in the actor's scope.
 */
export class UpstreamActor implements SmtpPool.Source<Job> {
  readonly name: string
  readonly role: "active" | "standby"
  readonly weight: number
  readonly spill: boolean
  readonly breaker: CircuitBreaker
  /** Jobs it holds at most (Capacity.actorMailbox). */
  readonly capacity: number
  private readonly mailbox = new Deque<Job>()
  private held = 0
  private pool!: SmtpPool.SmtpPool
  private gate: RateLimit.Gate | undefined
  private waitingForGate = false
  private readonly maxStaleRetries: number

  constructor(
    upstream: Config.Upstream,
    breaker: CircuitBreakerModule.Options,
    private readonly clock: Clock.Clock,
    private readonly handlers: Handlers
  ) {
    this.name = upstreamName(upstream)
    this.role = upstream.role
    this.weight = upstream.weight
    this.spill = upstream.spill
    this.capacity = Capacity.actorMailbox(upstream.maxConnections)
    this.maxStaleRetries = upstream.maxConnections
    this.breaker = new CircuitBreaker({ ...breaker, onChange: (state) => handlers.onCircuitChange(this, state) })
  }

  /** How many more jobs it takes now. */
  get room(): number {
    return this.capacity - this.held
  }

  /** Jobs in the mailbox or being delivered. */
  get load(): number {
    return this.held
  }

  offer(job: Job): void {
    this.held++
    this.mailbox.push(job)
    this.pool.wake()
  }

  /** Jobs not yet handed to a connection, for a drain to give back. */
  takeWaiting(): Array<Job> {
    const waiting: Array<Job> = []
    for (let job = this.mailbox.shift(); job !== undefined; job = this.mailbox.shift()) waiting.push(job)
    this.held -= waiting.length
    return waiting
  }

  // SmtpPool.Source: a connection can take another transaction now.
  next(): Job | undefined {
    if (this.mailbox.length === 0) return undefined
    if (this.gate !== undefined && !this.gate.tryStart(this.clock.unsafeCurrentTimeMillis())) {
      if (!this.waitingForGate) {
        this.waitingForGate = true
        this.gate.whenReady(this.clock.unsafeCurrentTimeMillis(), () => {
          this.waitingForGate = false
          this.pool.wake()
        })
      }
      return undefined
    }
    return this.mailbox.shift()
  }

  // SmtpPool.Source: a transaction ended.
  done(job: Job, outcome: SendOutcome, info: { readonly reused: boolean }): void {
    if (Either.isLeft(outcome) && info.reused && SmtpPool.isStale(outcome.left) && job.staleRetries++ < this.maxStaleRetries) {
      // A cached session the server had closed while idle: nothing of the message was accepted, so
      // it goes again at once, first in line, on another session (as many times as there are
      // connections: a server that refuses every reused session fails it for real).
      this.mailbox.unshift(job)
      this.pool.wake()
      return
    }
    this.held--
    // The actor keeps its own circuit: an upstream's fault counts against it, anything else for it.
    const classification = Either.isLeft(outcome) ? SmtpReply.classifyError(outcome.left) : undefined
    if (classification?.upstreamFault === true) this.breaker.onFailure(this.clock.unsafeCurrentTimeMillis())
    else this.breaker.onSuccess()
    this.handlers.ended.push({ job, actor: this, outcome, classification })
    this.handlers.wake()
  }

  /**
   * The probe of a circuit that cooled down: a connection set up (connect, greeting, EHLO, STARTTLS,
   * AUTH) with no message on it. Its outcome closes the circuit or opens it again; a connection that
   * came up stays for the traffic that follows.
   */
  probe(): void {
    this.probing = true
    this.pool.probe((error) => {
      this.probing = false
      if (error === undefined) this.breaker.onSuccess()
      else this.breaker.onFailure(this.clock.unsafeCurrentTimeMillis())
    })
  }

  /** A probe is out and has not reported. */
  probing = false

  /** Opens the pool and the rate gate in the scope. */
  start(upstream: Config.Upstream): Effect.Effect<void, never, Scope.Scope> {
    return Effect.gen(this, function*() {
      const gauges = EngineMetrics.forUpstream(this.name)
      yield* PlainMetrics.sampled(gauges.inFlight, () => this.held)
      yield* Metric.set(gauges.circuitState, 0)
      if (upstream.rateLimit !== undefined) this.gate = yield* (yield* RateLimit.current).make(this.name, upstream.rateLimit)
      this.pool = yield* SmtpPool.make(smtpOptions(upstream), this)
    })
  }

  /** Transactions written and not yet answered. */
  get inFlight(): number {
    return this.pool.inFlight
  }
}

export const make = (
  upstream: Config.Upstream,
  breaker: CircuitBreakerModule.Options,
  handlers: Handlers
): Effect.Effect<UpstreamActor, never, Scope.Scope> =>
  Effect.gen(function*() {
    const actor = new UpstreamActor(upstream, breaker, yield* Effect.clock, handlers)
    yield* actor.start(upstream)
    return actor
  })
