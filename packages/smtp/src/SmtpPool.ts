import type { Scope } from "effect"
import { Data, Effect, Exit, Metric, Pool, Scope as Scopes } from "effect"
import type { SmtpError } from "./SmtpError.js"
import * as SmtpMetrics from "./SmtpMetrics.js"
import type { SmtpPoolOptions } from "./SmtpOptions.js"
import type { Envelope, SendResult, SmtpSession } from "./SmtpSession.js"
import * as SmtpSessionModule from "./SmtpSession.js"

/** Cached SMTP sessions to one upstream (the "SMTP connection caching" of the design). */
export interface SmtpPool {
  readonly upstream: string
  readonly options: SmtpPoolOptions
  /** Sends one message over a cached session, opening one when none is free and the cap allows. */
  readonly send: (envelope: Envelope, content: Uint8Array) => Effect.Effect<SendResult, SmtpError>
}

/** A cached session that turned out to be dead before the message was committed to it. */
class StaleSession extends Data.TaggedError("StaleSession")<{ readonly error: SmtpError }> {}

/**
 * A reused session the server closed while it sat idle (a 421 idle-timeout notice, a RST) shows up as
 * a drop or a 421 at the first command. Nothing of the message has been accepted then, so it is safe
 * to try again on another session instead of failing the message.
 */
const isStale = (error: SmtpError): boolean =>
  error.phase === "mail" &&
  ((error._tag === "SmtpConnectionError" && error.reason === "dropped") ||
    (error._tag === "SmtpReplyError" && error.code === 421))

/**
 * One connection's place in the pool. The pool caches slots, and a slot holds a session when it has
 * one: a connect that fails leaves the slot empty instead of failing the pool's acquisition, so the
 * pool never has to cope with failed items, and the next message simply connects again.
 */
class Slot {
  private current: { readonly session: SmtpSession; readonly scope: Scope.CloseableScope } | undefined

  get session(): SmtpSession | undefined {
    return this.current?.session
  }

  readonly open = (options: SmtpPoolOptions): Effect.Effect<SmtpSession, SmtpError> =>
    Effect.gen(this, function*() {
      const scope = yield* Scopes.make()
      const session = yield* SmtpSessionModule.open(options).pipe(
        Scopes.extend(scope),
        Effect.onError(() => Scopes.close(scope, Exit.void))
      )
      this.current = { session, scope }
      return session
    })

  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    const current = this.current
    this.current = undefined
    return current === undefined ? Effect.void : Scopes.close(current.scope, Exit.void)
  })
}

/**
 * Builds the pool in the scope: at most `maxConnections` sessions, each retired after
 * `maxMessagesPerConnection` transactions, closed after `idleTimeout` unused; a session that errored is
 * closed, never reused. Closing the scope QUITs every session.
 */
export const make = (options: SmtpPoolOptions): Effect.Effect<SmtpPool, never, Scope.Scope> =>
  Effect.gen(function*() {
    const metrics = SmtpMetrics.forUpstream(options.name)
    const slots = yield* Pool.makeWithTTL({
      acquire: Effect.acquireRelease(Effect.sync(() => new Slot()), (slot) => slot.close),
      min: 0,
      max: options.maxConnections,
      timeToLive: options.idleTimeout,
      timeToLiveStrategy: "usage"
    })

    const attempt = (envelope: Envelope, content: Uint8Array) =>
      Effect.scoped(
        Effect.gen(function*() {
          const slot = yield* Pool.get(slots)
          let session = slot.session
          const reused = session !== undefined && session.isOpen
          if (session !== undefined && !session.isOpen) {
            // The server closed it while idle: detected before use, so nothing is lost.
            yield* slot.close
            session = undefined
          }
          if (reused) yield* Metric.increment(metrics.connection.reused)
          session ??= yield* slot.open(options)
          const result = yield* session.send(envelope, content).pipe(
            Effect.tapError(() => slot.close),
            Effect.mapError((error) => reused && isStale(error) ? new StaleSession({ error }) : error)
          )
          if (!session.isOpen || session.transactions >= options.maxMessagesPerConnection) yield* slot.close
          return result
        })
      )

    const send = (envelope: Envelope, content: Uint8Array): Effect.Effect<SendResult, SmtpError> =>
      attempt(envelope, content).pipe(
        // Each retry takes another cached session or opens a new one; a new one is never stale.
        Effect.retry({ while: (error) => error._tag === "StaleSession", times: options.maxConnections }),
        Effect.catchTag("StaleSession", (stale) => Effect.fail(stale.error))
      )

    return { upstream: options.name, options, send }
  })
