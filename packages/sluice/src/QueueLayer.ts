import * as AmqpConfig from "@sluice/amqp/AmqpConfig"
import type { Config as EngineConfig, DeliveryQueue } from "@sluice/engine"
import { MemoryQueue, StatusStore } from "@sluice/engine"
import type { SpoolError } from "@sluice/spool"
import * as SpoolConfig from "@sluice/spool/SpoolConfig"
import { Data, Effect, Layer, Schema } from "effect"

const Sections = Schema.Union(SpoolConfig.Config, AmqpConfig.Config, MemoryQueue.Config)

/** What the section may say: the spool's own section may leave out its `kind`. */
export type Input =
  | Schema.Schema.Encoded<typeof Sections>
  | Omit<Schema.Schema.Encoded<typeof SpoolConfig.Config>, "kind">

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The configuration file's `queue` section: one of the queues' own sections, told apart by `kind`
 * (the spool's "embedded", @sluice/amqp's "rabbitmq", the engine's "memory"). A section without
 * `kind` is the spool's, the default: `{"path": "…"}` is enough. The kind is filled in before the
 * union decodes, so a bad section is still reported by its own member alone.
 */
export const Config: Schema.Schema<Schema.Schema.Type<typeof Sections>, Input> = Schema.compose(
  Schema.transform(Schema.Unknown, Schema.Unknown, {
    strict: true,
    decode: (input) => isObject(input) && !("kind" in input) ? { kind: "embedded", ...input } : input,
    encode: (section) => section
  }),
  Sections
) as never
export type Config = Schema.Schema.Type<typeof Config>

/** The section's value when the file has none: the durable spool under ./.sluice. */
export const defaultConfig = (): Config => ({ kind: "embedded", path: "./.sluice/spool", maxDepth: 1_000_000 })

/** The configured queue kind cannot be used by this build; `reason` says why. */
export class QueueUnavailable extends Data.TaggedError("QueueUnavailable")<{
  readonly kind: string
  readonly reason: string
}> {
  override get message() {
    return `queue.kind "${this.kind}": ${this.reason}`
  }
}

/**
 * The DeliveryQueue named by `queue.kind`; adapters are loaded only when chosen (they bring native
 * modules). RabbitMQ keeps status records and idempotency keys in the StatusStore of the context (the
 * `cache`: Redis shares them across nodes), or in memory when none is provided.
 */
export const layer = (
  config: Pick<EngineConfig.SluiceConfig, "upstreams" | "streams"> & { readonly queue: Config }
): Layer.Layer<DeliveryQueue, QueueUnavailable | SpoolError> => {
  const queue = config.queue
  switch (queue.kind) {
    case "memory":
      return MemoryQueue.layer({ maxDepth: queue.maxDepth })
    case "embedded":
      return Layer.unwrapEffect(
        Effect.promise(() => import("@sluice/spool")).pipe(Effect.map(({ Spool }) => Spool.layerFromConfig(queue)))
      )
    case "rabbitmq":
      return Layer.unwrapEffect(
        Effect.all([Effect.promise(() => import("@sluice/amqp")), Effect.serviceOption(StatusStore.StatusStore)]).pipe(
          Effect.map(([{ AmqpQueue }, store]) =>
            AmqpQueue.layerFromConfig(config, queue).pipe(
              Layer.provide(store._tag === "Some" ? Layer.succeed(StatusStore.StatusStore, store.value) : StatusStore.layerMemory()),
              // At start, a broker that refuses or cannot be reached is a setting to fix: exit 2, one line.
              Layer.mapError((error) => new QueueUnavailable({ kind: queue.kind, reason: error.reason }))
            )
          )
        )
      )
  }
}
