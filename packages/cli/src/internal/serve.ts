import type { Duration } from "effect"
import { Config, Sluice } from "@sluice/engine"
import { Effect, Layer } from "effect"
import * as QueueLayer from "../QueueLayer.js"
import * as ServeConfig from "../ServeConfig.js"

/** Runs the engine until interrupted (SIGTERM/SIGINT), then drains it through the layers' scopes. */
export const run = (flags: ServeConfig.ServeFlags & { readonly drainTimeout: Duration.Duration }) =>
  Effect.gen(function*() {
    const config = yield* ServeConfig.load(flags)
    const app = Sluice.layer(config, { drainTimeout: flags.drainTimeout }).pipe(
      Layer.provide(QueueLayer.layer(config.queue))
    )
    yield* Layer.build(app)
    yield* Effect.logInfo("serving").pipe(Effect.annotateLogs({
      queue: config.queue.kind,
      upstreams: config.upstreams.map(Config.upstreamName)
    }))
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.onInterrupt(() => Effect.logInfo("stopped"))
  )
