import type { HttpMiddleware } from "@effect/platform"
import { HttpApp, HttpServerResponse } from "@effect/platform"
import type { Duration } from "effect"
import { Effect, Stream, SubscriptionRef } from "effect"
import type * as Http from "node:http"

/**
 * Stops the listener without cutting anyone off: no new connections, idle ones closed, answers to
 * requests already in flight carry `Connection: close`, and once they are all answered (or the
 * timeout passes) what is left is closed. It runs before the engine drains, so requests in flight
 * still reach a running engine and get their answer.
 */
export const make = Effect.gen(function*() {
  const inFlight = yield* SubscriptionRef.make(0)
  let draining = false

  const middleware: HttpMiddleware.HttpMiddleware = (app) =>
    Effect.acquireUseRelease(
      SubscriptionRef.update(inFlight, (n) => n + 1),
      // The app writes its response itself: a pre-response handler is the last word on its headers.
      () =>
        HttpApp.withPreResponseHandler(app, (_request, response) =>
          Effect.succeed(draining ? HttpServerResponse.setHeader(response, "connection", "close") : response)
        ),
      () => SubscriptionRef.update(inFlight, (n) => n - 1)
    )

  const close = (server: Http.Server, timeout: Duration.DurationInput) =>
    Effect.gen(function*() {
      draining = true
      server.close()
      server.closeIdleConnections()
      const left = yield* SubscriptionRef.get(inFlight)
      yield* Effect.logInfo("http closing").pipe(Effect.annotateLogs({ inFlight: left }))
      yield* inFlight.changes.pipe(
        Stream.takeUntil((n) => n === 0),
        Stream.runDrain,
        Effect.timeoutOption(timeout)
      )
      server.closeAllConnections()
    })

  return { middleware, close } as const
})
