import type { Scope } from "effect"
import { Context, Effect, Layer, Logger, LogLevel, Option, Stream } from "effect"
import type { DeliveryEvent, DeliveryQueueShape, MessageRecord, SluiceShape } from "../../src/index.js"
import { Config, DeliveryQueue, MemoryQueue, Sluice } from "../../src/index.js"

/** One log line as the engine wrote it: its level, message and annotations. */
export interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/**
 * An engine on an in-memory queue (or the one given), living in the test's scope, logging errors only
 * — or, given `logs`, every line at info and above into it.
 */
export const startEngine = (
  input: unknown,
  queue?: DeliveryQueueShape,
  logs?: Array<LogLine>
): Effect.Effect<{ readonly sluice: SluiceShape; readonly queue: DeliveryQueueShape }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* Config.decode(input).pipe(Effect.orDie)
    const q = queue ?? (yield* MemoryQueue.make())
    const logging = logs === undefined
      ? Logger.minimumLogLevel(LogLevel.Error)
      : Layer.merge(
        Logger.minimumLogLevel(LogLevel.Info),
        Logger.replace(
          Logger.defaultLogger,
          Logger.make(({ annotations, logLevel, message }) => {
            logs.push({
              level: logLevel.label,
              message: (Array.isArray(message) ? message : [message]).join(" "),
              annotations: Object.fromEntries(annotations)
            })
          })
        )
      )
    const context = yield* Layer.build(
      Sluice.layer(config, { drainTimeout: "2 seconds" }).pipe(Layer.provide(Layer.succeed(DeliveryQueue, q)))
    ).pipe(Effect.provide(logging))
    return { sluice: Context.get(context, Sluice), queue: q }
  })

/** Waits real time, also under TestClock: for sockets, not for schedules. */
export const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Polls (in real time, so it works under TestClock too) until `check` holds; dies after `timeoutMs`. */
export const eventually = (check: () => boolean, what: string, timeoutMs = 20_000): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* realSleep(10)
    }
  })

/** Polls a message's status until `until` holds for it. */
export const statusUntil = (sluice: SluiceShape, id: string, until: (record: MessageRecord) => boolean, what: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    for (;;) {
      const record = Option.getOrUndefined(yield* Effect.orDie(sluice.status(id)))
      if (record !== undefined && until(record)) return record
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}: ${JSON.stringify(record)}`))
      yield* realSleep(10)
    }
  })

/** Collects every event from now on, in the scope's background. */
export const recordEvents = (sluice: SluiceShape) =>
  Effect.gen(function*() {
    const events: Array<DeliveryEvent> = []
    const subscription = yield* sluice.events.pipe(Stream.toPull)
    yield* subscription.pipe(
      Effect.flatMap((chunk) => Effect.sync(() => events.push(...chunk))),
      Effect.forever,
      Effect.ignore,
      Effect.forkScoped
    )
    return events
  })

export const message = (i: number, to: ReadonlyArray<string> = [`r${i}@example.net`], stream?: string) => ({
  from: "sender@example.com",
  to,
  raw: `Subject: message ${i}\r\nX-Seq: ${i}\r\n\r\nbody ${i}\r\n`,
  ...(stream !== undefined ? { stream } : {})
})

/** The X-Seq header of a received message. */
export const seqOf = (data: Buffer): number => Number(/X-Seq: (\d+)/.exec(data.toString())?.[1])

export const upstream = (name: string, sink: { host: string; port: number }, extra: Record<string, unknown> = {}) => ({
  name,
  host: sink.host,
  port: sink.port,
  ...extra
})
