import type { Config } from "@sluice/engine"
import { Sluice } from "@sluice/engine"
import { Duration, Effect, Layer } from "effect"
import { run } from "./internal/webhook/webhook.js"

export { WebhookPostFailed } from "./internal/webhook/post.js"
export { defaultRetry, dropped, type Options, posted, run } from "./internal/webhook/webhook.js"

/**
 * Posts Sluice's delivery events as JSON batches (`{"events": [...]}`) to `config.webhook.url`, for
 * as long as the layer lives; without a `webhook` section it does nothing.
 */
export const layer = (config: Config.SluiceConfig): Layer.Layer<never, never, Sluice> => {
  const webhook = config.webhook
  if (webhook === undefined) return Layer.empty
  return Layer.scopedDiscard(Effect.gen(function*() {
    const sluice = yield* Sluice
    const subscription = yield* sluice.subscribe
    yield* run({ ...webhook, flushInterval: Duration.decode(webhook.flushInterval) }, subscription)
    yield* Effect.logInfo("webhook on", { url: webhook.url, batchSize: webhook.batchSize })
  }))
}
