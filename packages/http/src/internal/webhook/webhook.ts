import type { DeliveryEvent } from "@sluice/engine"
import type { Duration, Scope } from "effect"
import { Chunk, Clock, Deferred, Effect, Fiber, Metric, Queue, Schedule, Stream } from "effect"
import { Agent } from "undici"
import * as DropOldest from "./dropOldest.js"
import { post } from "./post.js"

export const dropped = Metric.counter("sluice_webhook_dropped_total", {
  description: "Delivery events not posted to the webhook: buffer full (oldest dropped), refused by the receiver, or out of retries",
  incremental: true
})
export const posted = Metric.counter("sluice_webhook_events_total", {
  description: "Delivery events the webhook receiver accepted",
  incremental: true
})

export interface Options {
  readonly url: string
  readonly batchSize: number
  readonly flushInterval: Duration.DurationInput
  readonly bufferSize: number
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Between attempts of one batch; by default exponential from 200 ms, jittered, capped at 30 s, 10 retries. */
  readonly retry?: Schedule.Schedule<unknown, unknown>
  /** How long closing the scope may spend posting what is still buffered. */
  readonly shutdownTimeout?: Duration.DurationInput
}

export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("200 millis").pipe(
  Schedule.jittered,
  Schedule.union(Schedule.spaced("30 seconds")),
  Schedule.intersect(Schedule.recurs(10))
)

export interface Pipeline {
  /** Takes one event into the buffer; never waits (a full buffer drops its oldest). */
  readonly offer: (event: DeliveryEvent) => Effect.Effect<void>
  /** Moves events from a subscription into the buffer until the subscription ends. */
  readonly forward: (subscription: Queue.Dequeue<DeliveryEvent>) => Effect.Effect<void>
}

/**
 * Posts the events it is given in batches of up to `batchSize`, or whatever arrived within
 * `flushInterval`, one batch at a time. While a post fails and is retried, new events wait in a
 * buffer of `bufferSize`; beyond that the oldest are dropped and counted, so a slow or dead receiver
 * never holds up delivery nor grows memory. Closing the scope posts what is left, within a bound.
 */
export const make = (options: Options): Effect.Effect<Pipeline, never, Scope.Scope> =>
  Effect.gen(function*() {
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new Agent({ connections: 2, keepAliveTimeout: 30_000 })),
      (agent) => Effect.promise(() => agent.close())
    )
    const target = { url: options.url, headers: options.headers, dispatcher: agent, timeout: "30 seconds" as const }
    const bufferFull = Metric.tagged(dropped, "reason", "buffer_full")
    const buffer = yield* DropOldest.make<DeliveryEvent>(options.bufferSize, () => Metric.increment(bufferFull))

    const send = (batch: ReadonlyArray<DeliveryEvent>) =>
      post(target, batch).pipe(
        Effect.retry({ schedule: options.retry ?? defaultRetry, while: (error) => error.retryable }),
        Effect.zipRight(Metric.incrementBy(posted, batch.length)),
        Effect.catchAll((error) =>
          Effect.logWarning("webhook batch dropped", {
            url: error.url,
            events: error.events,
            status: error.status,
            reason: error.reason
          }).pipe(
            Effect.zipRight(Metric.incrementBy(Metric.tagged(dropped, "reason", error.retryable ? "gave_up" : "rejected"), batch.length))
          )
        )
      )

    const stop = yield* Deferred.make<void>()
    const sender = yield* Stream.fromQueue(buffer.queue, { maxChunkSize: options.batchSize }).pipe(
      // Ends the source, not the post under way: the partial batch still goes out.
      Stream.interruptWhen(Deferred.await(stop)),
      Stream.groupedWithin(options.batchSize, options.flushInterval),
      Stream.filter((batch) => Chunk.isNonEmpty(batch)),
      Stream.runForEach((batch) => send(Chunk.toReadonlyArray(batch))),
      Effect.forkScoped
    )

    // On close (before the sender fork's own finalizer): let the sender finish its batch, post what is
    // left. The bound is wall-clock time (it bounds the process's exit), so it holds under a TestClock too.
    yield* Effect.addFinalizer(() =>
      Deferred.succeed(stop, undefined).pipe(
        Effect.zipRight(Fiber.await(sender)),
        Effect.zipRight(Queue.takeAll(buffer.queue)),
        Effect.flatMap((rest) =>
          Effect.forEach(Chunk.chunksOf(rest, options.batchSize), (batch) => send(Chunk.toReadonlyArray(batch)), { discard: true })
        ),
        // Finalizers run uninterruptibly; without this the timeout could not stop a post in backoff.
        Effect.interruptible,
        Effect.timeout(options.shutdownTimeout ?? "5 seconds"),
        Effect.withClock(Clock.make()),
        Effect.catchTag("TimeoutException", () =>
          Effect.logWarning("webhook stopped before every event was posted", { url: options.url }))
      )
    )

    return {
      offer: buffer.offer,
      // Ends when the subscription is shut down (the take is interrupted) or the fiber is interrupted.
      forward: (subscription) => Queue.take(subscription).pipe(Effect.flatMap(buffer.offer), Effect.forever)
    }
  })

/** `make`, fed from `subscription` until the scope closes. */
export const run = (
  options: Options,
  subscription: Queue.Dequeue<DeliveryEvent>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pipeline = yield* make(options)
    // Forked after `make`, so interrupted before its flush: what was taken is posted.
    yield* Effect.forkScoped(pipeline.forward(subscription))
  })
