import type { HttpMiddleware } from "@effect/platform"
import { HttpApp, HttpServerResponse } from "@effect/platform"
import type { Duration } from "effect"
import { Effect } from "effect"
import type * as Http from "node:http"

/**
 * Stops the listener without cutting anyone off: no new connections, idle ones closed, answers to
 * requests already in flight carry `Connection: close`, and once they are all answered (or the
 * timeout passes) what is left is closed. It runs before the engine drains, so requests in flight
 * still reach a running engine and get their answer. Requests are counted in plain code (`enter`,
 * `leave`), so the fast path (fast.ts) counts its own without a fiber.
 */
export const make = Effect.sync(() => {
  let inFlight = 0
  let draining = false
  let onIdle: (() => void) | undefined

  const enter = () => {
    inFlight++
  }
  const leave = () => {
    if (--inFlight === 0) onIdle?.()
  }

  const middleware: HttpMiddleware.HttpMiddleware = (app) =>
    Effect.acquireUseRelease(
      Effect.sync(enter),
      // The app writes its response itself: a pre-response handler is the last word on its headers.
      () =>
        HttpApp.withPreResponseHandler(app, (_request, response) =>
          Effect.succeed(draining ? HttpServerResponse.setHeader(response, "connection", "close") : response)
        ),
      () => Effect.sync(leave)
    )

  const close = (server: Http.Server, timeout: Duration.DurationInput) =>
    Effect.gen(function*() {
      draining = true
      server.close()
      server.closeIdleConnections()
      yield* Effect.logInfo("http closing").pipe(Effect.annotateLogs({ inFlight }))
      if (inFlight > 0) {
        yield* Effect.async<void>((resume) => {
          onIdle = () => resume(Effect.void)
          return Effect.sync(() => onIdle = undefined)
        }).pipe(Effect.timeoutOption(timeout))
      }
      server.closeAllConnections()
    })

  return {
    middleware,
    close,
    enter,
    leave,
    /** Closing has begun: answers say `Connection: close`. */
    get draining() {
      return draining
    }
  } as const
})
