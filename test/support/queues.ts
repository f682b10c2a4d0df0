import { AmqpQueue } from "@sluice/amqp"
import { DeliveryQueue, MemoryQueue, StatusStore } from "@sluice/engine"
import { Spool } from "@sluice/spool"
import { Effect, Layer } from "effect"
import { freshPrefix, url } from "../../packages/amqp/test/support/broker.js"

/** What a suite asks of a queue: its depth, and the streams it uses (a broker declares them up front). */
export interface QueueOptions {
  readonly maxDepth: number
  readonly streams: ReadonlyArray<string>
}

/** One implementation of the DeliveryQueue port, as a layer a suite runs on with `it.layer`. */
export interface Backend {
  readonly name: string
  /**
   * Whose time a deferral waits on: Effect's Clock (the TestClock drives it), or the broker's own
   * (its delay queues' TTLs run in real time, so its layer runs on the live services).
   */
  readonly clock: "effect" | "broker"
  /** A queue of its own, gone with the layer's scope. */
  readonly layer: (options: QueueOptions) => Layer.Layer<DeliveryQueue, unknown>
}

export const memory: Backend = {
  name: "memory",
  clock: "effect",
  layer: ({ maxDepth }) => MemoryQueue.layer({ maxDepth })
}

/** In a fresh temporary directory, removed when the layer closes. */
export const spool: Backend = {
  name: "spool",
  clock: "effect",
  layer: ({ maxDepth }) => Layer.scoped(DeliveryQueue, Spool.temporary({ maxDepth }))
}

/**
 * On the local broker under a queue prefix of its own (runs and suites sharing the broker never meet),
 * whose queues are deleted when the layer closes; records in a memory StatusStore.
 */
export const rabbitmq: Backend = {
  name: "rabbitmq",
  clock: "broker",
  layer: ({ maxDepth, streams }) =>
    Layer.scoped(
      DeliveryQueue,
      Effect.flatMap(freshPrefix, (prefix) => AmqpQueue.make({ url, prefix, streams, maxDepth, delayTiers: ["100 millis"] }))
    ).pipe(Layer.provide(StatusStore.layerMemory()))
}

export const backends: ReadonlyArray<Backend> = [memory, spool, rabbitmq]
