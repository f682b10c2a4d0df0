import type { Config, DeliveryQueue } from "@sluice/engine"
import { MemoryQueue } from "@sluice/engine"
import type { SpoolError } from "@sluice/spool"
import { Data, Effect, Layer } from "effect"

/** The configured queue kind cannot be used by this build; `reason` says why. */
export class QueueUnavailable extends Data.TaggedError("QueueUnavailable")<{
  readonly kind: string
  readonly reason: string
}> {
  override get message() {
    return `queue.kind "${this.kind}": ${this.reason}`
  }
}

/** The DeliveryQueue named by `queue.kind`; adapters are loaded only when chosen (they bring native modules). */
export const layer = (
  queue: Config.SluiceConfig["queue"]
): Layer.Layer<DeliveryQueue, QueueUnavailable | SpoolError> => {
  switch (queue.kind) {
    case "memory":
      return MemoryQueue.layer({ maxDepth: queue.maxDepth })
    case "embedded":
      return Layer.unwrapEffect(
        Effect.promise(() => import("@sluice/spool")).pipe(Effect.map(({ Spool }) => Spool.layerFromConfig(queue)))
      )
    case "rabbitmq":
      return Layer.fail(new QueueUnavailable({ kind: queue.kind, reason: "the RabbitMQ adapter is not available yet" }))
  }
}
