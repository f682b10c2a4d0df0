/**
 * The engine behind `sluice serve`, replaceable while it runs (live reload): the queue, the cache and
 * the stores are built once and shared; a new configuration builds a new engine on them, which takes
 * new work at once, and the old one then drains (what it holds goes back to the queue, what is on a
 * connection finishes), so no message is dropped and no connection in use is cut. The HTTP adapter
 * talks to the engine through a `Sluice` that always means the current one.
 */
import type { Config, SluiceShape } from "@sluice/engine"
import { Sluice } from "@sluice/engine"
import { Reload } from "@sluice/http"
import type { SluiceConfig } from "@sluice/sluice"
import type { Context } from "effect"
import { Context as C, Effect, ExecutionStrategy, Exit, Layer, Scope, Stream } from "effect"

/** The sections an engine is built from: they change live. Any other needs a restart. */
const live = new Set(["upstreams", "streams", "retry", "circuitBreaker", "bounces", "suppressions"])

const changedSections = (before: SluiceConfig.SluiceConfig, after: SluiceConfig.SluiceConfig): Array<string> => {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)])
  return [...keys].filter((key) =>
    JSON.stringify((before as Record<string, unknown>)[key]) !== JSON.stringify((after as Record<string, unknown>)[key])
  )
}

export interface Engines {
  /** Always the engine in force. */
  readonly sluice: SluiceShape
  /** Puts `config` in force (loaded by `load`), or refuses it naming why; one at a time. */
  readonly reload: (load: Effect.Effect<SluiceConfig.SluiceConfig, Config.ConfigError | Error>, by: string) => Effect.Effect<Reload.Reloaded, Reload.ReloadRefused>
}

export const make = <R>(
  first: SluiceConfig.SluiceConfig,
  engineFor: (config: SluiceConfig.SluiceConfig) => Layer.Layer<Sluice, never, R>,
  shared: Context.Context<R>,
  /** Told each configuration put in force, before its engine is built. */
  applied: (config: SluiceConfig.SluiceConfig) => void
): Effect.Effect<Engines, never, Scope.Scope> =>
  Effect.gen(function*() {
    // Every engine's scope is a child of this one, made before the HTTP adapter: on shutdown the
    // adapter stops first, then the engine drains, then the queue closes.
    const parent = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const build = (config: SluiceConfig.SluiceConfig) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
        const context = yield* Layer.buildWithScope(engineFor(config).pipe(Layer.provide(Layer.succeedContext(shared))), scope)
        return { config, scope, sluice: C.get(context, Sluice) }
      })
    let current = yield* build(first)
    const lock = yield* Effect.makeSemaphore(1)

    const sluice: SluiceShape = {
      submit: (message) => Effect.suspend(() => current.sluice.submit(message)),
      submitBatch: (messages) => Effect.suspend(() => current.sluice.submitBatch(messages)),
      status: (id) => Effect.suspend(() => current.sluice.status(id)),
      get targets() {
        return current.sluice.targets
      },
      failures: () => current.sluice.failures(),
      inspect: Effect.suspend(() => current.sluice.inspect),
      act: (filter, action, options) => Effect.suspend(() => current.sluice.act(filter, action, options)),
      list: (filter, page) => Effect.suspend(() => current.sluice.list(filter, page)),
      events: Stream.unwrap(Effect.sync(() => current.sluice.events)),
      subscribe: Effect.suspend(() => current.sluice.subscribe),
      ready: Effect.suspend(() => current.sluice.ready),
      onWire: () => current.sluice.onWire(),
      feedback: (raw) => Effect.suspend(() => current.sluice.feedback(raw)),
      complain: (id, address) => Effect.suspend(() => current.sluice.complain(id, address))
    }

    const reload: Engines["reload"] = (load, by) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const next = yield* load.pipe(Effect.mapError((error) =>
          new Reload.ReloadRefused({ issues: "issues" in error ? error.issues : [{ path: "", message: error.message }] })
        ))
        const changed = changedSections(current.config, next)
        const fixed = changed.filter((section) => !live.has(section))
        if (fixed.length > 0) {
          return yield* new Reload.ReloadRefused({
            issues: fixed.map((path) => ({ path, message: "changes only with a restart; the running configuration stays" }))
          })
        }
        if (changed.length > 0) {
          const old = current
          applied(next)
          current = yield* build(next)
          yield* Scope.close(old.scope, Exit.void)
        }
        yield* Effect.logInfo("configuration reloaded").pipe(Effect.annotateLogs({ by, changed }))
        return { changed }
      }).pipe(
        Effect.tapError((refused) => Effect.logError("configuration reload refused").pipe(Effect.annotateLogs({ by, issues: refused.message })))
      ))

    return { sluice, reload }
  })
