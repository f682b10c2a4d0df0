import { FileSystem } from "@effect/platform"
import type { Duration } from "effect"
import { Config, Sluice, Suspensions } from "@sluice/engine"
import { Recipients, Storage, Templates } from "@sluice/content"
import { HttpAdapter, Reload, Webhook } from "@sluice/http"
import type { SluiceConfig } from "@sluice/sluice"
import { CacheLayer, Logging, QueueLayer } from "@sluice/sluice"
import { Effect, Layer, Option, Queue } from "effect"
import * as ServeConfig from "../ServeConfig.js"
import * as Engines from "./engines.js"

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
    // Suspensions name streams and upstreams of the configuration in force, which a reload changes.
    const running = { config }
    const targets: Suspensions.Targets = {
      get streams() {
        return running.config.streams
      },
      get upstreams() {
        return running.config.upstreams
      }
    }
    // With Redis, templates and suppressions are shared by every node through the cache's store.
    // So are suspensions: every node reads them from Redis; without it they are kept beside the spool.
    const stores = config.cache?.kind === "redis"
      ? Layer.mergeAll(
        Templates.layerWith(Templates.optionsFromConfig(config)),
        Recipients.Recipients.layer(Recipients.optionsFromConfig(config)),
        Suspensions.layer(targets)
      ).pipe(Layer.provide(cache))
      : Layer.mergeAll(
        Templates.layerFromConfig(config),
        Recipients.layerFromConfig(config),
        Suspensions.layer(targets).pipe(Layer.provide(Storage.layerFromConfig(config, "suspensions")))
      )
    // Built once for every engine this process runs (a reload builds another on them). The queue is
    // opened first (a spool that cannot be opened is named before anything beside it) and closed
    // last, after the engine has drained into it. The engine renders and checks submits with
    // `stores`, and suppresses (hard bounces, complaints) on the very list submits are checked against.
    const shared = yield* Layer.build(Layer.mergeAll(
      QueueLayer.layer(config).pipe(Layer.provide(cache)),
      cache,
      Recipients.layerSuppressions.pipe(Layer.provideMerge(stores))
    ))
    const engines = yield* Engines.make(
      config,
      (next) =>
        Sluice.layer(next, { drainTimeout: flags.drainTimeout }).pipe(
          // Set up before the engine and closed after it: the events of the drain are posted too.
          Webhook.wrap(next.webhook, { drainTimeout: flags.drainTimeout })
        ),
      shared,
      (applied) => running.config = applied
    )
    const files = yield* FileSystem.FileSystem
    const reload: Reload.ReloadShape = {
      reload: (by) => engines.reload(ServeConfig.load(flags).pipe(Effect.provideService(FileSystem.FileSystem, files)), by)
    }
    yield* Layer.build(HttpAdapter.layer(config.http).pipe(
      Layer.provide(Layer.succeedContext(shared)),
      Layer.provide(Layer.succeed(Sluice, engines.sluice)),
      Layer.provide(Layer.succeed(Reload.Reload, reload))
    ))
    // SIGHUP reads the file again, as POST /v1/admin/reload does. The listener stays for the whole
    // run: a signal that came while no listener was there would end the process.
    const hangUps = yield* Queue.sliding<void>(1)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const hangUp = () => void Queue.unsafeOffer(hangUps, undefined)
        process.on("SIGHUP", hangUp)
        return hangUp
      }),
      (hangUp) => Effect.sync(() => process.off("SIGHUP", hangUp))
    )
    yield* Queue.take(hangUps).pipe(
      Effect.zipRight(reload.reload("SIGHUP").pipe(Effect.ignore)),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Effect.logInfo("serving").pipe(Effect.annotateLogs({
      queue: config.queue.kind,
      upstreams: config.upstreams.map(Config.upstreamName)
    }))
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.onInterrupt(() => Effect.logInfo("stopped"))
  )
