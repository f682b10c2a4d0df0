import { Cause, Effect, Exit, Layer, ManagedRuntime, Option, Scope, Stream } from "effect"
import type { SluiceConfigInput } from "./Config.js"
import * as Config from "./Config.js"
import type { DeliveryEvent } from "./DeliveryEvent.js"
import type { DeliveryQueue } from "./DeliveryQueue.js"
import * as MemoryQueue from "./MemoryQueue.js"
import type { MessageRecord } from "./Message.js"
import type { Options, Submitted } from "./Sluice.js"
import { Sluice } from "./Sluice.js"
import type { SubmitMessage } from "./Submission.js"

/** The engine for code that does not use Effect: Promises and an async iterable. */
export interface Engine {
  /** Resolves once the message is queued; rejects with the reason (InvalidMessage, IdempotencyConflict, QueueFull, QueueError). */
  readonly submit: (message: SubmitMessage) => Promise<Submitted>
  readonly status: (id: string) => Promise<MessageRecord | undefined>
  /** Delivery events from the moment of this call, until the loop stops or `close()`. */
  readonly events: () => AsyncIterable<DeliveryEvent>
  /** Stops taking work, lets in-flight deliveries finish (or hands them back), closes connections. */
  readonly close: () => Promise<void>
}

export interface EngineOptions extends Options {
  /**
   * Where messages wait, when not the one `queue.kind` names: "embedded" (the default) opens the
   * durable spool of @sluice/spool at `queue.path`, "memory" keeps them in memory.
   */
  readonly queue?: Layer.Layer<DeliveryQueue, unknown>
}

// The spool depends on the engine, so the engine reaches it by name at run time, not at build time.
const spoolModule: string = "@sluice/spool"
interface SpoolModule {
  readonly Spool: {
    readonly layerFromConfig: (queue: Config.SluiceConfig["queue"]) => Layer.Layer<DeliveryQueue, unknown>
  }
}

const queueLayer = (queue: Config.SluiceConfig["queue"]): Layer.Layer<DeliveryQueue, unknown> => {
  switch (queue.kind) {
    case "memory":
      return MemoryQueue.layer({ maxDepth: queue.maxDepth })
    case "embedded":
      return Layer.unwrapEffect(
        Effect.promise(() => import(spoolModule) as Promise<SpoolModule>).pipe(
          Effect.map(({ Spool }) => Spool.layerFromConfig(queue))
        )
      )
    case "rabbitmq":
      return Layer.fail(
        new Config.ConfigError({
          issues: [{ path: "queue.kind", message: `"rabbitmq" needs its queue passed as options.queue (see @sluice/amqp)` }]
        })
      )
  }
}

// Promise users get the typed error itself (its _tag and fields), not Effect's FiberFailure wrapper.
const settle = <A, E>(exit: Promise<Exit.Exit<A, E>>): Promise<A> =>
  exit.then((exit) => Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause)))

/**
 * Starts an engine. The configuration is checked first; a bad one rejects with a ConfigError that
 * names each bad field. A queue that cannot be opened (a spool locked by another process, a path that
 * cannot be written) rejects with its error, naming the path.
 */
export const createEngine = async (config: SluiceConfigInput, options: EngineOptions = {}): Promise<Engine> => {
  const decoded = await settle(Effect.runPromiseExit(Config.decode(config)))
  const queue = options.queue ?? queueLayer(decoded.queue)
  const runtime = ManagedRuntime.make(Sluice.layer(decoded, options).pipe(Layer.provide(queue)))
  const sluice = await settle(runtime.runPromiseExit(Sluice)).catch(async (error: unknown) => {
    await runtime.dispose()
    throw error
  })
  return {
    submit: (message) => settle(runtime.runPromiseExit(sluice.submit(message))),
    status: (id) => settle(runtime.runPromiseExit(sluice.status(id).pipe(Effect.map(Option.getOrUndefined)))),
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
