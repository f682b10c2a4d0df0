import { Sluice } from "@sluice/engine"
import type { Duration } from "effect"
import { Clock, Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { make, run } from "./internal/webhook/webhook.js"
import type { Config } from "./WebhookConfig.js"

export { WebhookPostFailed } from "./internal/webhook/post.js"
export { Config } from "./WebhookConfig.js"
export { defaultRetry, dropped, make, type Options, type Pipeline, posted, run } from "./internal/webhook/webhook.js"

/**
 * Posts Sluice's delivery events as JSON batches (`{"events": [...]}`) to the `webhook` section's `url`,
 * for as long as the layer lives; without a section it does nothing. Being built on the
 * engine, it closes before the engine drains: events of the drain are not posted (see `wrap`).
 */
export const layer = (webhook: Config | undefined): Layer.Layer<never, never, Sluice> => {
  if (webhook === undefined) return Layer.empty
  return Layer.scopedDiscard(Effect.gen(function*() {
    const sluice = yield* Sluice
    yield* run(webhook, yield* sluice.subscribe)
    yield* Effect.logInfo("webhook on", { url: webhook.url, batchSize: webhook.batchSize })
  }))
}

/**
 * The engine layer, with its events posted to the `webhook` section's `url` from its first to its last: the
 * webhook is set up before the engine and closed after it, so the events of a graceful shutdown's
 * drain (messages finishing in flight) are posted too. Without a `webhook` section, the engine as it is.
 */
export const wrap = (webhook: Config | undefined, options: { readonly drainTimeout?: Duration.DurationInput } = {}) =>
<E, R>(engine: Layer.Layer<Sluice, E, R>): Layer.Layer<Sluice, E, R> => {
  if (webhook === undefined) return engine
  return Layer.scopedContext(Effect.gen(function*() {
    // Acquired before the engine, so released after it.
    const pipeline = yield* make(webhook)
    const forwarding = yield* Scope.make()
    let forwarder: Fiber.RuntimeFiber<void> | undefined
    yield* Effect.addFinalizer(() =>
      // By now the engine has drained and shut its event stream, which ends the forwarder; the bound
      // only matters if it did not.
      (forwarder === undefined ? Effect.void : Fiber.await(forwarder)).pipe(
        Effect.interruptible,
        Effect.timeout(options.drainTimeout ?? "30 seconds"),
        Effect.withClock(Clock.make()),
        Effect.ignore,
        Effect.zipRight(Scope.close(forwarding, Exit.void))
      )
    )
    const context = yield* Layer.build(engine)
    const subscription = yield* Context.get(context, Sluice).subscribe.pipe(Scope.extend(forwarding))
    forwarder = yield* Effect.forkIn(pipeline.forward(subscription), forwarding)
    yield* Effect.logInfo("webhook on", { url: webhook.url, batchSize: webhook.batchSize })
    return context
  }))
}
