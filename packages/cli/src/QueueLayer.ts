import type { Config, DeliveryQueue } from "@sluice/engine"
import { MemoryQueue } from "@sluice/engine"
import { Data, Layer } from "effect"

/** The configured queue kind cannot be used by this build; `reason` says why. */
export class QueueUnavailable extends Data.TaggedError("QueueUnavailable")<{
  readonly kind: string
  readonly reason: string
}> {
  override get message() {
    return `queue.kind "${this.kind}": ${this.reason}`
  }
}

/** The DeliveryQueue named by `queue.kind`. */
export const layer = (queue: Config.SluiceConfig["queue"]): Layer.Layer<DeliveryQueue, QueueUnavailable> => {
  switch (queue.kind) {
    case "memory":
      return MemoryQueue.layer({ maxDepth: queue.maxDepth })
    case "embedded":
      return Layer.fail(new QueueUnavailable({ kind: queue.kind, reason: "the embedded spool is not available yet" }))
    case "rabbitmq":
      return Layer.fail(new QueueUnavailable({ kind: queue.kind, reason: "the RabbitMQ adapter is not available yet" }))
  }
}
