import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { freshPrefix, rabbitmqctl } from "./support/broker.js"
import { cleanRedis, countingSink, fill, startNode, submit, waitFor } from "./support/cluster.js"

// Several `sluice serve` processes on one RabbitMQ and one Redis, submitting over HTTP, delivering
// to one sink that counts each recipient's copies. Bounded: 10,000 messages, minutes at most.
const total = 10_000
const delivered = "sluice_messages_total{outcome=\"delivered\"}"

/** `size` nodes and a sink; with `filled`, the broker holds that many messages before the nodes start. */
const cluster = (
  size: number,
  options: {
    filled?: number
    upstream?: Record<string, unknown>
    config?: Record<string, unknown>
    deferFirst?: (recipient: string) => boolean
  } = {}
) =>
  Effect.gen(function*() {
    const prefix = yield* freshPrefix
    yield* cleanRedis(prefix)
    const sink = yield* countingSink(options.deferFirst === undefined ? {} : { deferFirst: options.deferFirst })
    if (options.filled !== undefined) yield* fill(prefix, 0, options.filled)
    const nodes = yield* Effect.forEach(
      Array.from({ length: size }, (_, i) => `node-${i + 1}`),
      (name) =>
        startNode(name, {
          prefix,
          sinkPort: sink.port,
          ...(options.upstream && { upstream: options.upstream }),
          ...(options.config && { config: options.config })
        }),
      { concurrency: "unbounded" }
    )
    return { prefix, sink, nodes }
  })

describe("a cluster on one broker", () => {
  for (const size of [2, 3]) {
    it.scopedLive(`${size} nodes deliver ${total} messages, each once, sharing the work`, () =>
      Effect.gen(function*() {
        const { nodes, sink } = yield* cluster(size)
        const started = Date.now()
        yield* submit(nodes, 0, total)
        const submitted = Date.now()
        yield* waitFor(`${total} delivered`, () => sink.unique() === total, 120_000)
        console.log(
          `${size} nodes: ${sink.unique()} delivered, ${sink.duplicates()} duplicates; ` +
            `submitted in ${submitted - started} ms, all delivered after ${Date.now() - started} ms`
        )
        expect(sink.duplicates()).toBe(0)
        // A node counts a delivery once it is settled, a moment after the sink has the message.
        let counts: ReadonlyArray<number> = []
        const deadline = Date.now() + 30_000
        do {
          counts = yield* Effect.forEach(nodes, (node) => node.metric(delivered))
          if (counts.reduce((a, b) => a + b, 0) === total || Date.now() > deadline) break
          yield* Effect.sleep("50 millis")
        } while (true)
        expect(counts.reduce((a, b) => a + b, 0)).toBe(total)
        for (const count of counts) expect(count).toBeGreaterThan(0)
      }), 240_000)
  }

  it.scopedLive("a node killed with SIGKILL mid-run: the others deliver what it held, nothing is lost", () =>
    Effect.gen(function*() {
      const { nodes, sink } = yield* cluster(3, { filled: total })
      yield* waitFor("a third delivered", () => sink.unique() >= total / 3, 120_000)
      nodes[2]!.kill("SIGKILL")
      expect(yield* Effect.promise(() => nodes[2]!.exited)).toBeNull()
      yield* waitFor(`${total} delivered`, () => sink.unique() === total, 120_000)
      console.log(`kill -9: ${sink.unique()} delivered, ${sink.duplicates()} duplicates`)
      // At most what the dead node had leased and delivered without acking comes twice.
      expect(sink.duplicates()).toBeLessThan(200)
    }), 240_000)

  it.scopedLive("the broker restarted mid-run: nodes are not ready meanwhile, reconnect, and nothing is lost", () =>
    Effect.gen(function*() {
      // Every 20th recipient is refused once: those messages wait out their 3 s retry delay in the
      // delay queues while the broker is down, and must come back from there.
      const { nodes, sink } = yield* cluster(2, {
        filled: total,
        config: { retry: { initialDelay: "3 seconds", maxDelay: "3 seconds" } },
        deferFirst: (recipient) => Number(/\d+/.exec(recipient)![0]) % 20 === 0
      })
      yield* waitFor("a fifth delivered and some deferred", () => sink.unique() >= total / 5 && sink.deferred.size >= 50, 120_000)
      yield* Effect.addFinalizer(() => rabbitmqctl("start_app").pipe(Effect.ignore)) // never leave the broker down
      yield* rabbitmqctl("stop_app")
      const whileDown = yield* Effect.forEach(nodes, (node) => node.readyz)
      yield* rabbitmqctl("start_app")
      expect(whileDown).toEqual([503, 503])
      yield* waitFor(`${total} delivered`, () => sink.unique() === total, 180_000)
      console.log(`broker restart: ${sink.unique()} delivered (${sink.deferred.size} after a retry), ${sink.duplicates()} duplicates`)
      expect(sink.deferred.size).toBe(total / 20)
      for (const node of nodes) {
        expect(yield* node.readyz).toBe(200)
      }
    }), 300_000)

  it.scopedLive("an upstream's rate limit holds for the whole cluster of 3, not per node", () =>
    Effect.gen(function*() {
      // Per node it would allow three times as much.
      const limit = 300
      const count = 3_000
      const { nodes, sink } = yield* cluster(3, {
        filled: count,
        upstream: { maxConnections: 8, rateLimit: { messages: limit / 10, per: "100 millis" } }
      })
      yield* waitFor(`${count} delivered`, () => sink.unique() === count, 90_000)
      // The steady rate, once all three run, before the tail.
      const from = limit * 2
      const to = count - 100
      const rate = (to - from) / ((sink.arrivals[to]! - sink.arrivals[from]!) / 1000)
      console.log(`cluster-wide rate: ${rate.toFixed(1)} messages/s (limit ${limit})`)
      // An upper bound only: a busy machine may deliver slower, never faster. Per node, the three would
      // reach three times the limit.
      expect(rate).toBeLessThan(limit * 1.1)
      const counts = yield* Effect.forEach(nodes, (node) => node.metric(delivered))
      for (const n of counts) expect(n).toBeGreaterThan(0)
    }), 120_000)
})
