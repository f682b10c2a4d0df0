import type { Either, Exit, Fiber } from "effect"
import { Cause, Duration, Effect, Either as E, Option } from "effect"
import type { SmtpError } from "../SmtpError.js"
import { SmtpConnectionError } from "../SmtpError.js"
import type * as SmtpMetrics from "../SmtpMetrics.js"
import type { SmtpPoolOptions } from "../SmtpOptions.js"
import type { SendResult } from "../SmtpSession.js"
import type { Owner, Settings } from "./connection.js"
import { Connection } from "./connection.js"
import type { Delivery } from "./envelope.js"
import { checkAddresses } from "./envelope.js"
import * as Handshake from "./handshake.js"
import type { Timers } from "./timers.js"

/** Where a pool's connections get their work and report it. Called synchronously from socket events. */
export interface Source<D extends Delivery> {
  /** The next transaction to send now, or undefined when there is none (the engine applies its rate limit here). */
  readonly next: () => D | undefined
  /** One transaction's end: each recipient's result, or the error that ended the whole transaction. */
  readonly done: (delivery: D, outcome: Either.Either<SendResult, SmtpError>, info: { readonly reused: boolean }) => void
}

const reusedInfo = { reused: true } as const
const freshInfo = { reused: false } as const

/** A connection being set up, with the delivery it was opened for (none for a probe). */
interface Opening<D> {
  readonly delivery: D | undefined
  /** A probe's report: how the set-up went. */
  readonly probed: ((error: SmtpError | undefined) => void) | undefined
  fiber: Fiber.RuntimeFiber<void> | undefined
}

/**
 * The connections to one upstream and the rules for when they pull work, open and close. Plain
 * JavaScript driven by `wake` and by the connections' own events; the set-up of a connection is the
 * only Effect it runs, once per connection, forked on the runtime the pool was made in.
 *
 * Why not Effect's `Pool` (`makeWithTTL`, `invalidate`): a Pool lends a resource to one borrower per
 * `get`, in a Scope, as an Effect. Here a connection carries two transactions at once (RFC 2920: the
 * next one's commands ride with the body of the one awaiting its final reply), pulls its next
 * transaction itself, synchronously, the moment it can take one, and is judged per transaction from
 * its socket's events. A `get` per message cost ~135 Effect steps and ~70 KB (measured for issue 13),
 * more than the transaction itself; what Pool would add is here already: the idle timeout (its TTL),
 * `maxMessagesPerConnection`, and retiring a connection that failed (its invalidate).
 */
export class Pool<D extends Delivery> implements Owner<D> {
  readonly upstream: string
  /** Set up and not yet closed (open, retiring or saying QUIT): they count against maxConnections. */
  private readonly live: Array<Connection<D>> = []
  private readonly openings = new Set<Opening<D>>()
  inFlight = 0
  private closing = false
  private waking = false
  private wakeAgain = false
  private whenEmpty: (() => void) | undefined = undefined
  private readonly settings: Settings

  constructor(
    private readonly options: SmtpPoolOptions,
    private readonly source: Source<D>,
    private readonly metrics: SmtpMetrics.UpstreamMetrics,
    private readonly timers: Timers,
    private readonly fork: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<void>
  ) {
    this.upstream = options.name
    this.settings = {
      upstream: options.name,
      commandMillis: Duration.toMillis(options.timeouts.command),
      dataMillis: Duration.toMillis(options.timeouts.data),
      idleMillis: Duration.toMillis(options.idleTimeout),
      maxTransactions: options.maxMessagesPerConnection,
      retireOnRefusedMail: true
    }
  }

  get connections(): number {
    return this.live.length + this.openings.size
  }

  /**
   * Work arrived. Idle connections pull first; then new connections open, each for a delivery pulled
   * before it connects (none: no connection); then connections whose transaction awaits its final
   * reply pull the next to pipeline behind it (RFC 2920). Stops as soon as the source has nothing.
   */
  readonly wake = (): void => {
    if (this.closing) return
    if (this.waking) {
      // Called back from a `done` or `next` of this very wake: go round once more when it ends.
      this.wakeAgain = true
      return
    }
    this.waking = true
    try {
      do {
        this.wakeAgain = false
        if (!this.fill()) return
      } while (this.wakeAgain)
    } finally {
      this.waking = false
    }
  }

  /** False once the source has nothing more. */
  private fill(): boolean {
    const live = this.live
    for (let i = 0; i < live.length; i++) {
      const connection = live[i]!
      if (connection.first === undefined && connection.canTake && !connection.take()) return false
    }
    while (this.live.length + this.openings.size < this.options.maxConnections && !this.closing) {
      const delivery = this.next()
      if (delivery === undefined) return false
      const invalid = checkAddresses(this.upstream, delivery)
      if (invalid !== undefined) this.done(delivery, E.left(invalid), false)
      else this.open(delivery)
    }
    for (let i = 0; i < live.length; i++) {
      const connection = live[i]!
      if (connection.first !== undefined && connection.canTake && !connection.take()) return false
    }
    return true
  }

  readonly next = (): D | undefined => {
    if (this.closing) return undefined
    const delivery = this.source.next()
    if (delivery !== undefined) this.inFlight++
    return delivery
  }

  readonly done = (delivery: D, outcome: Either.Either<SendResult, SmtpError>, reused: boolean): void => {
    this.inFlight--
    this.source.done(delivery, outcome, reused ? reusedInfo : freshInfo)
  }

  readonly closed = (connection: Connection<D>): void => {
    const index = this.live.indexOf(connection)
    if (index >= 0) this.live.splice(index, 1)
    if (this.closing) this.checkEmpty()
    else this.wake() // a connection's place is free
  }

  /**
   * Opens a connection for no delivery: the probe of a circuit that cooled down, so that no message
   * is risked on an upstream that just failed. `probed` hears how the set-up (connect, greeting,
   * EHLO, STARTTLS, AUTH) went; a connection set up stays, and serves like any other.
   */
  probe(probed: (error: SmtpError | undefined) => void): void {
    if (this.closing) {
      return probed(new SmtpConnectionError({ upstream: this.upstream, phase: "connect", reason: "dropped", text: "the pool is closing" }))
    }
    this.open(undefined, probed)
  }

  private open(delivery: D | undefined, probed?: (error: SmtpError | undefined) => void): void {
    const opening: Opening<D> = { delivery, probed, fiber: undefined }
    this.openings.add(opening)
    opening.fiber = this.fork(
      Handshake.open(this.options, this.metrics).pipe(
        Effect.onExit((exit) => Effect.sync(() => this.opened(opening, exit)))
      ).pipe(Effect.ignore)
    )
  }

  private opened(opening: Opening<D>, exit: Exit.Exit<Handshake.Established, SmtpError>): void {
    this.openings.delete(opening)
    if (exit._tag === "Success") {
      const connection = new Connection(exit.value, this.settings, this, this.metrics, this.timers)
      this.live.push(connection)
      // Closing: the delivery it was opened for is in flight already; it goes, then QUIT.
      if (this.closing) connection.retiring = true
      connection.begin(opening.delivery)
      opening.probed?.(undefined)
      return
    }
    // A set-up that fails ends the delivery it was opened for with the error, so the engine's circuit
    // breaker sees a connect failure as it would have without a pool.
    const error = Option.getOrElse(Cause.failureOption(exit.cause), () =>
      new SmtpConnectionError({
        upstream: this.upstream,
        phase: "connect",
        reason: "dropped",
        text: Cause.isInterruptedOnly(exit.cause) ? "the pool closed before the connection was set up" : Cause.pretty(exit.cause)
      }))
    if (opening.delivery !== undefined) this.done(opening.delivery, E.left(error), false)
    opening.probed?.(error)
    if (this.closing) this.checkEmpty()
    else this.wake()
  }

  /** Ends the delivery's connection at once (the one waiting for it was interrupted). */
  abandon(delivery: D): void {
    for (const opening of this.openings) {
      if (opening.delivery === delivery && opening.fiber !== undefined) return this.interrupt(opening.fiber)
    }
    for (const connection of this.live) {
      if (connection.carries(delivery)) return connection.abort("closed by the client: a transaction on it was abandoned")
    }
  }

  private interrupt(fiber: Fiber.RuntimeFiber<void>): void {
    fiber.unsafeInterruptAsFork(fiber.id())
  }

  /**
   * The scope closes: no more pulls; connections being set up are interrupted (their deliveries end
   * with an error); the others finish what they carry, bounded by their timeouts, then say QUIT.
   * Completes when every socket is closed.
   */
  readonly shutdown: Effect.Effect<void> = Effect.suspend(() => {
    this.closing = true
    for (const opening of this.openings) if (opening.fiber !== undefined) this.interrupt(opening.fiber)
    for (const connection of [...this.live]) connection.retire()
    return Effect.async<void>((resume) => {
      this.whenEmpty = () => resume(Effect.void)
      this.checkEmpty()
      return Effect.sync(() => {
        this.whenEmpty = undefined
      })
    })
  })

  private checkEmpty(): void {
    if (this.live.length > 0 || this.openings.size > 0) return
    const whenEmpty = this.whenEmpty
    this.whenEmpty = undefined
    whenEmpty?.()
  }
}
