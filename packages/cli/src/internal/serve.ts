import type { Duration } from "effect"
import { Config, Sluice } from "@sluice/engine"
import { HttpAdapter, Recipients, Templates } from "@sluice/http"
import { Effect, Layer } from "effect"
import * as CacheLayer from "../CacheLayer.js"
import * as QueueLayer from "../QueueLayer.js"
import * as ServeConfig from "../ServeConfig.js"

/**
 * Runs the engine behind its HTTP API until interrupted (SIGTERM/SIGINT). Layers close in the reverse
 * of their building: the HTTP listener stops first (answering what is in flight), then the engine
 * drains, then the queue closes.
 */
export const run = (flags: ServeConfig.ServeFlags & { readonly drainTimeout: Duration.Duration }) =>
  Effect.gen(function*() {
    const config = yield* ServeConfig.load(flags)
    // One cache for all (one Redis connection): the queue's status records, the engine's rate limits.
    const cache = CacheLayer.layer(config.cache)
    const engine = Sluice.layer(config, { drainTimeout: flags.drainTimeout }).pipe(
      Layer.provide(QueueLayer.layer(config).pipe(Layer.provide(cache))),
      Layer.provide(cache)
    )
    const app = HttpAdapter.layer(config).pipe(
      Layer.provide(Layer.mergeAll(
        engine,
        Templates.layerFromConfig(config),
        Recipients.layerFromConfig(config)
      ))
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
