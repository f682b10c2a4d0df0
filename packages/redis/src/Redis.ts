import type { Scope } from "effect"
import { Context, Data, Duration, Effect, Layer, Metric } from "effect"
import { Redis as IORedis } from "ioredis"
import * as RedisMetrics from "./RedisMetrics.js"

export interface Options {
  /** `redis://host:port[/db]` */
  readonly url: string
  /** Prefix of every key this node writes, so several clusters (or test runs) share one Redis. */
  readonly prefix?: string
  /** A command not answered within this is a failure (and local state answers). */
  readonly commandTimeout?: Duration.DurationInput
}

/** A Redis command failed; the caller falls back to local state. */
export class RedisError extends Data.TaggedError("RedisError")<{
  readonly operation: string
  readonly cause: unknown
}> {
  override get message() {
    return `redis ${this.operation}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

export interface RedisShape {
  readonly client: IORedis
  readonly prefix: string
  /**
   * Runs `remote` on Redis; when Redis fails, answers with `local` instead and marks this node
   * degraded (a warning log, the `sluice_redis_degraded` gauge) until Redis answers again. Shared
   * state is a help, never a reason to stop delivering.
   */
  readonly orLocal: <A>(operation: string, remote: (client: IORedis) => Promise<A>, local: Effect.Effect<A>) => Effect.Effect<A>
  /** True while Redis does not answer. */
  readonly degraded: Effect.Effect<boolean>
}

export class Redis extends Context.Tag("@sluice/redis/Redis")<Redis, RedisShape>() {
  static readonly layer = (options: Options): Layer.Layer<Redis> => Layer.scoped(Redis, make(options))
}

export const make = (options: Options): Effect.Effect<RedisShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new IORedis(options.url, {
          lazyConnect: true,
          // Fail at once while disconnected instead of queueing: the caller has local state to use.
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          commandTimeout: Duration.toMillis(options.commandTimeout ?? "1 second"),
          // ioredis reconnects by itself; this bounds how long a returning Redis goes unnoticed.
          retryStrategy: (times) => Math.min(50 * 2 ** times, 2_000)
        })
      ),
      (client) => Effect.sync(() => client.disconnect())
    )
    // Connection errors are reported through `orLocal` as they affect commands; the events only repeat them.
    client.on("error", () => {})
    yield* Effect.promise(() => client.connect().catch(() => undefined))

    let degraded = false
    const markDegraded = (operation: string, error: RedisError) =>
      Effect.suspend(() => {
        const was = degraded
        degraded = true
        return Effect.all([
          Metric.update(RedisMetrics.fallbacks.pipe(Metric.tagged("operation", operation)), 1),
          was ? Effect.void : Metric.set(RedisMetrics.degraded, 1),
          was ? Effect.void : Effect.logWarning("redis unavailable; using local state").pipe(
            Effect.annotateLogs({ operation, error: error.message, redis: options.url })
          )
        ], { discard: true })
      })
    const markHealthy = Effect.suspend(() => {
      if (!degraded) return Effect.void
      degraded = false
      return Metric.set(RedisMetrics.degraded, 0).pipe(
        Effect.zipRight(Effect.logInfo("redis is back").pipe(Effect.annotateLogs({ redis: options.url })))
      )
    })
    yield* Metric.set(RedisMetrics.degraded, 0)

    const orLocal: RedisShape["orLocal"] = (operation, remote, local) =>
      Effect.tryPromise({ try: () => remote(client), catch: (cause) => new RedisError({ operation, cause }) }).pipe(
        Effect.tap(() => markHealthy),
        Effect.catchAll((error) => markDegraded(operation, error).pipe(Effect.zipRight(local)))
      )

    return {
      client,
      prefix: options.prefix ?? "sluice",
      orLocal,
      degraded: Effect.sync(() => degraded)
    }
  })
