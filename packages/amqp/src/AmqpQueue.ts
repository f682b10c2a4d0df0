import type { Config, DeliveryQueueShape, QueueError } from "@sluice/engine"
import { Capacity, DeliveryQueue, StatusStore } from "@sluice/engine"
import type { Scope } from "effect"
import { Duration, Effect, Layer, Schedule } from "effect"
import type * as AmqpConfig from "./AmqpConfig.js"
import * as internal from "./internal/queue.js"

export interface Options {
  /** `amqp://user:pass@host:port/vhost` */
  readonly url: string
  /** The streams to keep a work queue for (the config's `streams`). */
  readonly streams: ReadonlyArray<string>
  /** Prefix of every queue name, so several clusters (or test runs) share one broker. Default "sluice". */
  readonly prefix?: string
  /** Above this many messages waiting, enqueue fails with QueueFull. */
  readonly maxDepth?: number
  /** Unacked deliveries per stream on this node (see `prefetchFor`). */
  readonly prefetch?: number
  /** Fixed delays of the delay queues; a deferral rides the largest that does not overshoot. */
  readonly delayTiers?: ReadonlyArray<Duration.DurationInput>
  /** Between connection attempts, at start and after the connection is lost. */
  readonly reconnect?: Schedule.Schedule<unknown, unknown>
  /** How long start waits for a first connection, and enqueue for a lost one to come back. */
  readonly openTimeout?: Duration.DurationInput
}

/** 250 ms, then ×4 up to ~68 minutes: past the default maxDelay of an hour in at most 3 hops per tier. */
export const defaultDelayTiers: ReadonlyArray<Duration.Duration> = Array.from(
  { length: 8 },
  (_, i) => Duration.millis(250 * 4 ** i)
)

/** 100 ms doubling, jittered, at most 5 s apart: quick after a blip, gentle on a broker that is down. */
export const defaultReconnect: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("5 seconds"))
)

/** Unacked deliveries a node needs per stream to keep its upstreams busy (Capacity.leasedPerStream). */
export const prefetchFor = (config: Pick<Config.SluiceConfig, "upstreams">): number => Capacity.leasedPerStream(config.upstreams)

/**
 * A DeliveryQueue on RabbitMQ quorum queues: publisher confirms before enqueue returns, a consumer
 * per stream with a bounded prefetch, acks only after the final outcome, deferrals through delay
 * queues, failures to a dead-letter queue, reconnects on the `reconnect` schedule. Status records and
 * idempotency keys go to the StatusStore.
 */
export const make = (
  options: Options
): Effect.Effect<DeliveryQueueShape, QueueError, StatusStore.StatusStore | Scope.Scope> =>
  Effect.flatMap(StatusStore.StatusStore, (store) =>
    internal.make({
      url: options.url,
      prefix: options.prefix ?? "sluice",
      streams: options.streams,
      maxDepth: options.maxDepth ?? 1_000_000,
      prefetch: options.prefetch ?? 64,
      tiers: (options.delayTiers ?? defaultDelayTiers).map((tier) => Math.max(1, Math.round(Duration.toMillis(tier)))),
      reconnect: options.reconnect ?? defaultReconnect,
      openTimeout: Duration.decode(options.openTimeout ?? "30 seconds"),
      store
    }))

export const layer = (options: Options): Layer.Layer<DeliveryQueue, QueueError, StatusStore.StatusStore> =>
  Layer.scoped(DeliveryQueue, make(options))

/** The queue a configuration names (`queue.kind: "rabbitmq"`), its prefetch sized from the upstreams. */
export const layerFromConfig = (
  config: Pick<Config.SluiceConfig, "upstreams" | "streams">,
  queue: AmqpConfig.Config
): Layer.Layer<DeliveryQueue, QueueError, StatusStore.StatusStore> =>
  layer({
    url: queue.url,
    streams: Object.keys(config.streams),
    maxDepth: queue.maxDepth,
    prefetch: prefetchFor(config),
    ...(queue.prefix === undefined ? {} : { prefix: queue.prefix })
  })
