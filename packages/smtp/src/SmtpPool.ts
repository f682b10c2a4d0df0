import type { Either, Scope } from "effect"
import { Effect, Runtime } from "effect"
import type { Delivery } from "./internal/envelope.js"
import type { Source } from "./internal/pool.js"
import { Pool } from "./internal/pool.js"
import * as Timer from "./internal/timers.js"
import type { SmtpError } from "./SmtpError.js"
import * as SmtpMetrics from "./SmtpMetrics.js"
import type { SmtpPoolOptions } from "./SmtpOptions.js"
import type { Envelope, SendResult } from "./SmtpSession.js"

export type { Delivery } from "./internal/envelope.js"
export type { Source } from "./internal/pool.js"

/**
 * The connections to one upstream (the "SMTP connection caching" of the design): each connection is
 * a state machine that pulls its transactions from the Source — when it is idle, and with PIPELINING
 * as soon as its current transaction's DATA got 354, so the body, its end and the next transaction's
 * commands leave in one write (RFC 2920 §3) — and ends each in `source.done`.
 */
export interface SmtpPool {
  readonly upstream: string
  /** Work arrived: an idle connection pulls it, or a new connection opens (up to maxConnections). */
  readonly wake: () => void
  /** Connections open or opening. */
  readonly connections: number
  /** Transactions pulled and not yet done. */
  readonly inFlight: number
  /**
   * Opens one more connection, for no message: a circuit breaker's probe. `probed` hears how its
   * set-up went (undefined: it is up, and now serves like any other).
   */
  readonly probe: (probed: (error: SmtpError | undefined) => void) => void
}

/**
 * A session reused for this transaction that the server had closed meanwhile (a 421 idle-timeout
 * notice, a RST) shows up as a drop or a 421 at MAIL. Nothing of the message has been accepted then,
 * so it is safe to try again on another connection instead of failing the message (`info.reused`
 * tells whether the session was reused).
 */
export const isStale = (error: SmtpError): boolean =>
  error.phase === "mail" &&
  ((error._tag === "SmtpConnectionError" && error.reason === "dropped") ||
    (error._tag === "SmtpReplyError" && error.code === 421))

const build = <D extends Delivery>(options: SmtpPoolOptions, source: Source<D>) =>
  Effect.gen(function*() {
    const timers = yield* Timer.current
    const runtime = yield* Effect.runtime<never>()
    const pool = new Pool(options, source, SmtpMetrics.forUpstream(options.name), timers, Runtime.runFork(runtime))
    yield* Effect.addFinalizer(() => pool.shutdown)
    return pool
  })

/**
 * Builds the pool in the scope: at most `maxConnections` connections, each retired after
 * `maxMessagesPerConnection` transactions and closed (QUIT) after `idleTimeout` idle. A connection
 * that timed out, dropped or had its MAIL refused is not reused. Closing the scope stops the pulling,
 * lets the transactions in flight finish (bounded by the timeouts), says QUIT and closes every
 * connection; a delivery whose connection was still being set up ends with an error.
 */
export const make = <D extends Delivery>(options: SmtpPoolOptions, source: Source<D>): Effect.Effect<SmtpPool, never, Scope.Scope> =>
  Effect.map(build(options, source), (pool) => ({
    upstream: pool.upstream,
    wake: pool.wake,
    probe: (probed) => pool.probe(probed),
    get connections() {
      return pool.connections
    },
    get inFlight() {
      return pool.inFlight
    }
  }))

/** Sends one message at a time as an Effect, over a pool: for tests, tools and benchmarks. */
export interface Sender {
  readonly upstream: string
  /**
   * One transaction over the pool. A stale reused session (see isStale) is retried on another, up
   * to maxConnections times. Interrupting a send that is on the wire closes its connection.
   */
  readonly send: (envelope: Envelope, content: Uint8Array) => Effect.Effect<SendResult, SmtpError>
}

interface Queued extends Delivery {
  readonly resume: (outcome: Either.Either<SendResult, SmtpError>) => void
  attempts: number
  cancelled: boolean
}

/** A pool whose Source is a queue of Effect sends. */
export const sender = (options: SmtpPoolOptions): Effect.Effect<Sender, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue: Array<Queued> = []
    let wake = () => {}
    const pool = yield* build<Queued>(options, {
      next: () => queue.shift(),
      done: (queued, outcome, info) => {
        if (queued.cancelled) return
        if (outcome._tag === "Left" && info.reused && isStale(outcome.left) && queued.attempts < options.maxConnections) {
          // Each retry takes another session or opens a new one; a new one is never stale.
          queued.attempts++
          queue.unshift(queued)
          return wake()
        }
        queued.resume(outcome)
      }
    })
    wake = pool.wake
    const send = (envelope: Envelope, content: Uint8Array) =>
      Effect.async<SendResult, SmtpError>((resume) => {
        const queued: Queued = { from: envelope.from, to: envelope.to, content, resume, attempts: 0, cancelled: false }
        queue.push(queued)
        pool.wake()
        return Effect.sync(() => {
          queued.cancelled = true
          const index = queue.indexOf(queued)
          if (index >= 0) queue.splice(index, 1)
          else pool.abandon(queued)
        })
      })
    return { upstream: options.name, send }
  })
