import { describe, expect, it } from "@effect/vitest"
import type { DeliveryEvent } from "@sluice/engine"
import { Config, MemoryQueue, Sluice } from "@sluice/engine"
import { Sink } from "@sluice/sink"
import { Context, Duration, Effect, Layer, Logger, LogLevel, Metric, ParseResult, Queue, Schema, TestClock } from "effect"
import * as Webhook from "../src/Webhook.js"
import * as WebhookReceiver from "./support/WebhookReceiver.js"

const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Polls in real time (the posts are real I/O), moving the TestClock by `step` each round. */
const until = (check: () => boolean, what: string, step?: Duration.DurationInput) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      if (step !== undefined) yield* TestClock.adjust(step)
      yield* realSleep(10)
    }
  })

const event = (i: number): DeliveryEvent => ({ _tag: "Accepted", id: `m${i}`, at: i, stream: "default", recipients: 1 })

const droppedCount = (reason: string) =>
  Metric.value(Metric.tagged(Webhook.dropped, "reason", reason)).pipe(Effect.map((state) => state.count))

const start = (options: Partial<Webhook.Options> & { readonly url: string }) =>
  Effect.gen(function*() {
    const subscription = yield* Queue.unbounded<DeliveryEvent>()
    // A short shutdown bound: scopes close with posts still in backoff.
    const defaults: Omit<Webhook.Options, "url"> = {
      batchSize: 3, flushInterval: "1 second", bufferSize: 100, shutdownTimeout: "200 millis"
    }
    yield* Webhook.run({ ...defaults, ...options }, subscription).pipe(
      Effect.provide(Logger.minimumLogLevel(LogLevel.Error))
    )
    return (events: ReadonlyArray<DeliveryEvent>) => Queue.offerAll(subscription, events)
  })

const ids = (events: ReadonlyArray<{ id?: string }>) => events.map((e) => e.id)

describe("Webhook", () => {
  it.scoped("full batches go at once; a partial batch waits for flushInterval (TestClock)", () =>
    Effect.gen(function*() {
      const receiver = yield* WebhookReceiver.make(() => 200)
      const publish = yield* start({ url: receiver.url })
      yield* publish([1, 2, 3, 4].map(event))
      yield* until(() => receiver.requests.length === 1, "the full batch")
      expect(ids(receiver.requests[0]!.events)).toEqual(["m1", "m2", "m3"])
      expect(receiver.requests[0]!.headers["content-type"]).toBe("application/json")

      yield* realSleep(100)
      expect(receiver.requests.length).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* until(() => receiver.requests.length === 2, "the partial batch after the flush interval")
      expect(ids(receiver.requests[1]!.events)).toEqual(["m4"])
    }))

  it.scoped("a receiver that fails three times then accepts gets every event once, in order (retry on TestClock)", () =>
    Effect.gen(function*() {
      const receiver = yield* WebhookReceiver.make((i) => i < 3 ? 503 : 200)
      const publish = yield* start({ url: receiver.url, headers: { authorization: "Bearer s3cret" } })
      yield* publish(Array.from({ length: 7 }, (_, i) => event(i + 1)))
      yield* until(() => receiver.accepted().length === 7, "all seven events accepted", "1 second")
      const statuses = receiver.requests.map((r) => r.status)
      expect(statuses.slice(0, 4)).toEqual([503, 503, 503, 200])
      // The rest in full batches, or partial ones when the flush interval passed while collecting.
      expect(statuses.slice(4).every((status) => status === 200)).toBe(true)
      expect(ids(receiver.accepted())).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "m7"])
      // The retried posts carried the same batch.
      expect(receiver.requests.slice(0, 4).map((r) => ids(r.events))).toEqual(Array(4).fill(["m1", "m2", "m3"]))
      expect(receiver.requests.every((r) => r.headers.authorization === "Bearer s3cret")).toBe(true)
    }))

  it.scoped("retries wait longer each time (exponential): nothing is re-sent before the backoff passes", () =>
    Effect.gen(function*() {
      const receiver = yield* WebhookReceiver.make(() => 500)
      const publish = yield* start({ url: receiver.url })
      yield* publish([1, 2, 3].map(event))
      yield* until(() => receiver.requests.length === 1, "the first attempt")
      // The 5th retry is due 3.2 s (± jitter) after the 4th: not after 1.5 s.
      for (let n = 2; n <= 5; n++) yield* until(() => receiver.requests.length === n, `attempt ${n}`, "100 millis")
      yield* TestClock.adjust("1500 millis")
      yield* realSleep(100)
      expect(receiver.requests.length).toBe(5)
      yield* until(() => receiver.requests.length === 6, "attempt 6", "500 millis")
    }))

  it.scoped("out of retries, the batch is dropped and counted; the next batch still goes", () =>
    Effect.gen(function*() {
      const before = yield* droppedCount("gave_up")
      const receiver = yield* WebhookReceiver.make(() => 500)
      const publish = yield* start({ url: receiver.url })
      yield* publish([1, 2, 3].map(event))
      yield* until(() => receiver.requests.length === 11, "1 attempt + 10 retries", "10 seconds")
      receiver.setAnswer(() => 200)
      yield* publish([4, 5, 6].map(event))
      yield* until(() => receiver.accepted().length === 3, "the next batch", "1 second")
      expect(ids(receiver.accepted())).toEqual(["m4", "m5", "m6"])
      // 1 + 10 retries, then only successes (the next events may come in one post or two).
      expect(receiver.requests.slice(0, 11).map((r) => r.status)).toEqual(Array(11).fill(500))
      expect(receiver.requests.slice(11).every((r) => r.status === 200)).toBe(true)
      expect((yield* droppedCount("gave_up")) - before).toBe(3)
    }))

  it.scoped("a 4xx (other than 408/429) is not retried: the batch is dropped as rejected", () =>
    Effect.gen(function*() {
      const before = yield* droppedCount("rejected")
      const receiver = yield* WebhookReceiver.make((i) => i === 0 ? 400 : 200)
      const publish = yield* start({ url: receiver.url })
      yield* publish([1, 2, 3, 4, 5, 6].map(event))
      yield* until(() => receiver.requests.length === 2, "two posts")
      yield* TestClock.adjust("10 minutes")
      yield* realSleep(100)
      expect(receiver.requests.map((r) => r.status)).toEqual([400, 200])
      expect(ids(receiver.accepted())).toEqual(["m4", "m5", "m6"])
      expect((yield* droppedCount("rejected")) - before).toBe(3)
    }))

  it.scoped("while the receiver is down, the buffer keeps the newest events and counts the dropped oldest", () =>
    Effect.gen(function*() {
      const before = yield* droppedCount("buffer_full")
      const receiver = yield* WebhookReceiver.make(() => 503)
      const publish = yield* start({ url: receiver.url, batchSize: 2, bufferSize: 5 })
      const total = 50
      yield* publish([1, 2].map(event))
      yield* until(() => receiver.requests.length === 1, "the first batch in retry")
      // Published without waiting: the webhook never slows the engine down.
      yield* publish(Array.from({ length: total - 2 }, (_, i) => event(i + 3)))
      yield* realSleep(100)
      receiver.setAnswer(() => 200)
      const dropped = () => Effect.runSync(droppedCount("buffer_full")) - before
      yield* until(() => receiver.accepted().length + dropped() >= total, "every event posted or counted as dropped", "1 second")
      yield* realSleep(100)
      const accepted = ids(receiver.accepted()).map((id) => Number(id!.slice(1)))
      expect(accepted.length + dropped()).toBe(total)
      // The buffer (5) and what is already on its way to the sender (a few batches of 2) survive.
      expect(accepted.length).toBeLessThanOrEqual(5 + 4 * 2)
      expect(accepted.slice(-5)).toEqual([46, 47, 48, 49, 50])
      expect([...accepted].sort((a, b) => a - b)).toEqual(accepted)
    }))

  it.effect("closing the scope posts what is still buffered", () =>
    Effect.gen(function*() {
      const receiver = yield* WebhookReceiver.make(() => 200)
      yield* Effect.scoped(Effect.gen(function*() {
        const publish = yield* start({ url: receiver.url, batchSize: 100, flushInterval: "1 hour" })
        yield* publish([1, 2].map(event))
        yield* realSleep(50)
        expect(receiver.requests.length).toBe(0)
      }))
      expect(ids(receiver.accepted())).toEqual(["m1", "m2"])
    }).pipe(Effect.scoped))
})

describe("Webhook.layer with the engine", () => {
  // The section's path in a file ("webhook.url") is named by the file's decoding: packages/cli/test/ServeConfig.test.ts.
  it.effect("config: the webhook section's defaults; a bad url and batch size are named", () =>
    Effect.gen(function*() {
      const webhook = yield* Schema.decodeUnknown(Webhook.Config)({ url: "https://hooks.example.com/sluice" })
      expect(webhook).toEqual({
        url: "https://hooks.example.com/sluice", batchSize: 100, flushInterval: Duration.seconds(1), bufferSize: 10_000
      })
      const error = yield* Effect.flip(Schema.decodeUnknown(Webhook.Config, { errors: "all" })({ url: "ftp://x.example", batchSize: 0 }))
      const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
      expect(issues.map((issue) => issue.path)).toEqual([["url"], ["batchSize"]])
      expect(issues[0]!.message).toBe("\"ftp://x.example\" is not an http(s) URL")
    }))

  it.effect("without a webhook section the layer does nothing", () =>
    Effect.gen(function*() {
      expect(Webhook.layer(undefined)).toBe(Layer.empty)
    }))

  it.live("a submitted message's Accepted, Attempt and Delivered events reach a receiver that first fails", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({})
      const receiver = yield* WebhookReceiver.make((i) => i < 2 ? 502 : 204)
      const config = yield* Config.decode({ upstreams: [{ name: "relay", host: sink.host, port: sink.port }] })
      const webhook = yield* Schema.decodeUnknown(Webhook.Config)({ url: receiver.url, batchSize: 10, flushInterval: 50 })
      const context = yield* Layer.build(
        Webhook.layer(webhook).pipe(
          Layer.provideMerge(Sluice.layer(config, { drainTimeout: "2 seconds" })),
          Layer.provide(MemoryQueue.layer())
        )
      ).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Error)))
      const sluice = Context.get(context, Sluice)
      const { id } = yield* sluice.submit({ from: "s@example.com", to: ["r@example.net"], subject: "hi", text: "body" })
      yield* until(() => receiver.accepted().some((e) => e.id === id && e._tag === "Delivered"), "the Delivered event")
      const tags = receiver.accepted().filter((e) => e.id === id).map((e) => e._tag)
      expect(tags).toEqual(["Accepted", "Attempt", "Delivered"])
      expect(receiver.requests.filter((r) => r.status === 502).length).toBe(2)
    }).pipe(Effect.scoped))

  it.live("wrap: the events of the engine's drain are posted too (a message finishing during shutdown)", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ dataDelayMs: 500 })
      const receiver = yield* WebhookReceiver.make(() => 200)
      const config = yield* Config.decode({ upstreams: [{ name: "relay", host: sink.host, port: sink.port }] })
      const webhook = yield* Schema.decodeUnknown(Webhook.Config)({ url: receiver.url, batchSize: 10, flushInterval: 50 })
      const engine = Sluice.layer(config, { drainTimeout: "5 seconds" }).pipe(Layer.provide(MemoryQueue.layer()))
      let id = ""
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(engine.pipe(Webhook.wrap(webhook)))
        id = (yield* Context.get(context, Sluice).submit({ from: "s@example.com", to: ["r@example.net"], text: "slow" })).id
        // Close while the sink holds the DATA reply: the delivery ends during the drain.
        yield* until(() => receiver.accepted().some((e) => e.id === id && e._tag === "Attempt"), "the Attempt event")
        expect(receiver.accepted().some((e) => e.id === id && e._tag === "Delivered")).toBe(false)
      })).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Error)))
      expect(receiver.accepted().filter((e) => e.id === id).map((e) => e._tag)).toEqual(["Accepted", "Attempt", "Delivered"])
    }).pipe(Effect.scoped))

  it.effect("wrap without a webhook section is the engine layer itself", () =>
    Effect.gen(function*() {
      const config = yield* Config.decode({ upstreams: [{ host: "127.0.0.1", port: 25 }] })
      const engine = Sluice.layer(config).pipe(Layer.provide(MemoryQueue.layer()))
      expect(engine.pipe(Webhook.wrap(undefined))).toBe(engine)
    }))
})
