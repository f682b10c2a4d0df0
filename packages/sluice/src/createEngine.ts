import { Cause, Effect, Exit, Layer, ManagedRuntime, Option, Scope, Stream } from "effect"
import type { DeliveryEvent, DeliveryQueue, Inspection, MessageRecord, Options, Recipients, SubmitMessage, Submitted, Templates } from "@sluice/engine"
import { decodeMessage, Sluice } from "@sluice/engine"
import * as CacheLayer from "./CacheLayer.js"
import * as Logging from "./Logging.js"
import * as QueueLayer from "./QueueLayer.js"
import * as SluiceConfig from "./SluiceConfig.js"

/** The engine for code that does not use Effect: Promises and an async iterable. */
export interface Engine {
  /** Resolves once the message is queued; rejects with the reason (InvalidMessage, IdempotencyConflict, QueueFull, QueueError). */
  readonly submit: (message: SubmitMessage) => Promise<Submitted>
  readonly status: (id: string) => Promise<MessageRecord | undefined>
  /** What is queued: counts by status, stream, upstream and recipient domain; the oldest; the next retry. */
  readonly inspect: () => Promise<Inspection.Summary>
  /** Queued messages matching every filter given, `limit` at a time; pass the answer's `cursor` for the next page. */
  readonly list: (filter?: Inspection.Filter, page?: { readonly cursor?: string; readonly limit?: number }) => Promise<Inspection.Page>
  /** Delivery events from the moment of this call, until the loop stops or `close()`. */
  readonly events: () => AsyncIterable<DeliveryEvent>
  /** Stops taking work, lets in-flight deliveries finish (or hands them back), closes connections. */
  readonly close: () => Promise<void>
}

export interface EngineOptions extends Options {
  /** Where messages wait, instead of the queue `queue.kind` names (a queue of your own). */
  readonly queue?: Layer.Layer<DeliveryQueue, unknown>
  /**
   * What a submit renders a `template` with (e.g. @sluice/content's `Templates.layerFromConfig`);
   * without it a message with a template is refused at `template`.
   */
  readonly templates?: Layer.Layer<Templates, unknown>
  /** What a submit checks recipients with (e.g. @sluice/content's `Recipients.layerFromConfig`); without it, syntax only. */
  readonly recipients?: Layer.Layer<Recipients, unknown>
  /**
   * Where the engine's log goes, one `Logging.Line` (level, message, annotations such as `messageId`,
   * time) per record from `log.level` up. Without it the engine writes nothing to stdout or stderr:
   * what a host needs to know about deliveries, failovers and circuits is in `events()`.
   */
  readonly logger?: (line: Logging.Line) => void
}

// @sluice/http is loaded only for a webhook: the rest of it (the server) is not needed here.
const withWebhook = (webhook: SluiceConfig.SluiceConfig["webhook"], options: EngineOptions) =>
<E, R>(engine: Layer.Layer<Sluice, E, R>): Layer.Layer<Sluice, E, R> =>
  webhook === undefined ? engine : Layer.unwrapEffect(
    Effect.promise(() => import("@sluice/http")).pipe(
      Effect.map(({ Webhook }) => engine.pipe(Webhook.wrap(webhook, options.drainTimeout === undefined ? {} : { drainTimeout: options.drainTimeout })))
    )
  )

// Promise users get the typed error itself (its _tag and fields), not Effect's FiberFailure wrapper.
const settle = <A, E>(exit: Promise<Exit.Exit<A, E>>): Promise<A> =>
  exit.then((exit) => Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause)))

/**
 * Starts an engine on the same layers as `sluice serve`, without its HTTP listener (`http` is not
 * read): the queue `queue.kind` names (the durable spool by default), the `cache`, the `webhook`
 * when there is one (posting from the first event to the last of the drain), and `log.level`. The configuration is checked
 * first; a bad one rejects with a ConfigError that names each bad field. A queue that cannot be
 * opened (a spool locked by another process, a path that cannot be written) rejects with its error,
 * naming the path.
 */
export const createEngine = async (config: SluiceConfig.SluiceConfigInput, options: EngineOptions = {}): Promise<Engine> => {
  const decoded = await settle(Effect.runPromiseExit(SluiceConfig.decode(config)))
  // One cache for the queue and the engine, as `serve` builds it: one Redis connection.
  const cache = CacheLayer.layer(decoded.cache)
  const queue = options.queue ?? QueueLayer.layer(decoded).pipe(Layer.provide(cache))
  const engine = Sluice.layer(decoded, options).pipe(
    Layer.provide(cache),
    Layer.provide(Layer.mergeAll(options.templates ?? Layer.empty, options.recipients ?? Layer.empty)),
    withWebhook(decoded.webhook, options)
  )
  // Built under the log level and the host's logger (or none), so the engine's fibers, the template
  // renderer's forwarded warnings and every call through the runtime keep to them.
  const logging = Layer.merge(Logging.layer(decoded.log), Logging.embedded(options.logger))
  const runtime = ManagedRuntime.make(engine.pipe(Layer.provide(queue), Layer.provideMerge(logging)))
  const sluice = await settle(runtime.runPromiseExit(Sluice)).catch(async (error: unknown) => {
    await runtime.dispose()
    throw error
  })
  return {
    // Decoded here, at this facade's edge, as the HTTP adapter decodes at its own.
    submit: (message) => settle(runtime.runPromiseExit(Effect.flatMap(decodeMessage(message), sluice.submit))),
    status: (id) => settle(runtime.runPromiseExit(sluice.status(id).pipe(Effect.map(Option.getOrUndefined)))),
    inspect: () => settle(runtime.runPromiseExit(sluice.inspect)),
    list: (filter = {}, page = {}) => settle(runtime.runPromiseExit(sluice.list(filter, { cursor: page.cursor, limit: page.limit ?? 100 }))),
    events: () => {
      // Subscribed here and now, so no event is missed between this call and the first `next()`.
      const scope = runtime.runSync(Scope.make())
      const subscription = runtime.runSync(Scope.extend(sluice.subscribe, scope))
      const stream = Stream.fromQueue(subscription).pipe(Stream.ensuring(Scope.close(scope, Exit.void)))
      return Stream.toAsyncIterableRuntime(stream, runtime.runtimeEffect.pipe(runtime.runSync))
    },
    close: () => runtime.dispose()
  }
}
