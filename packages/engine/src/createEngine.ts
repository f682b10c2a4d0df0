import { Effect, Layer, ManagedRuntime, Option, Stream } from "effect"
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
  /** Resolves once the message is queued; rejects with the reason (InvalidMessage, QueueFull, QueueError). */
  readonly submit: (message: SubmitMessage) => Promise<Submitted>
  readonly status: (id: string) => Promise<MessageRecord | undefined>
  /** Delivery events from now on, until `close()`. */
  readonly events: () => AsyncIterable<DeliveryEvent>
  /** Stops taking work, lets in-flight deliveries finish (or hands them back), closes connections. */
  readonly close: () => Promise<void>
}

export interface EngineOptions extends Options {
  /** Where messages wait. Defaults to the in-memory queue when `queue.kind` is "memory". */
  readonly queue?: Layer.Layer<DeliveryQueue>
}

/**
 * Starts an engine. The configuration is checked first; a bad one rejects with a ConfigError that
 * names each bad field.
 */
export const createEngine = async (config: SluiceConfigInput, options: EngineOptions = {}): Promise<Engine> => {
  const decoded = await Effect.runPromise(Config.decode(config))
  const queue = options.queue ?? (decoded.queue.kind === "memory"
    ? MemoryQueue.layer({ maxDepth: decoded.queue.maxDepth })
    : undefined)
  if (queue === undefined) {
    throw new Config.ConfigError({
      issues: [{ path: "queue.kind", message: `"${decoded.queue.kind}" needs its queue passed as options.queue` }]
    })
  }
  const runtime = ManagedRuntime.make(Sluice.layer(decoded, options).pipe(Layer.provide(queue)))
  const sluice = await runtime.runPromise(Sluice)
  return {
    submit: (message) => runtime.runPromise(sluice.submit(message)),
    status: (id) => runtime.runPromise(sluice.status(id).pipe(Effect.map(Option.getOrUndefined))),
    events: () => Stream.toAsyncIterable(sluice.events),
    close: () => runtime.dispose()
  }
}
