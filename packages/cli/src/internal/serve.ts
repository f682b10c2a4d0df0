import type { Duration } from "effect"
import { Config, Sluice, Suspensions } from "@sluice/engine"
import { Recipients, Storage, Templates } from "@sluice/content"
import { HttpAdapter, Webhook } from "@sluice/http"
import type { SluiceConfig } from "@sluice/sluice"
import { CacheLayer, Logging, QueueLayer } from "@sluice/sluice"
import { Effect, Layer, Option } from "effect"
import * as ServeConfig from "../ServeConfig.js"

/**
 * Runs the engine behind its HTTP API until interrupted (SIGTERM/SIGINT), logging from `log.level`
 * (or `--log-level`) up. Layers close in the reverse of their building: the HTTP listener stops first
 * (answering what is in flight), then the engine drains, then the queue closes.
 */
export const run = (flags: ServeConfig.ServeFlags & { readonly drainTimeout: Duration.Duration }) =>
  Effect.gen(function*() {
    const config = yield* ServeConfig.load(flags)
    return yield* serve(config, flags).pipe(Effect.provide(Logging.layer(config.log)))
  })

const serve = (config: SluiceConfig.SluiceConfig, flags: ServeConfig.ServeFlags & { readonly drainTimeout: Duration.Duration }) =>
  Effect.gen(function*() {
    yield* Effect.logDebug("configuration").pipe(Effect.annotateLogs({
      file: Option.getOrElse(flags.config, () => "(embedded default)"),
      logLevel: config.log.level,
      http: `${config.http.host}:${config.http.port}`
    }))
    // One cache for all (one Redis connection): the queue's status records, the engine's rate limits,
    // the HTTP adapter's templates and suppressions.
    const cache = CacheLayer.layer(config.cache)
    // With Redis, templates and suppressions are shared by every node through the cache's store.
    // So are suspensions: every node reads them from Redis; without it they are kept beside the spool.
    const stores = config.cache?.kind === "redis"
      ? Layer.mergeAll(
        Templates.layerWith(Templates.optionsFromConfig(config)),
        Recipients.Recipients.layer(Recipients.optionsFromConfig(config)),
        Suspensions.layer(config)
      ).pipe(Layer.provide(cache))
      : Layer.mergeAll(
        Templates.layerFromConfig(config),
        Recipients.layerFromConfig(config),
        Suspensions.layer(config).pipe(Layer.provide(Storage.layerFromConfig(config, "suspensions")))
      )
    const engine = Sluice.layer(config, { drainTimeout: flags.drainTimeout }).pipe(
      Layer.provide(cache),
      // The engine renders and checks submits with `stores`, and suppresses (hard bounces, complaints)
      // on the very list submits are checked against: `stores` is one layer, built once for all.
      Layer.provide(Recipients.layerSuppressions.pipe(Layer.provideMerge(stores))),
      // Set up before the engine and closed after it: the events of the drain are posted too.
      Webhook.wrap(config.webhook, { drainTimeout: flags.drainTimeout })
    )
    // The queue is opened first (a spool that cannot be opened is named before anything beside it)
    // and closed last, after the engine has drained into it.
    const queue = QueueLayer.layer(config).pipe(Layer.provide(cache))
    const app = HttpAdapter.layer(config.http).pipe(Layer.provide(Layer.mergeAll(engine, stores)), Layer.provide(queue))
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
