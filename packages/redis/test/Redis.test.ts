import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createServer } from "node:net"
import { KeyValueStore } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import type { MessageRecord } from "@sluice/engine"
import { RateLimit, StatusStore, Suspensions } from "@sluice/engine"
import { Context, Duration, Effect, Layer, Metric, Option, Schedule } from "effect"
import { Redis as IORedis } from "ioredis"
import { Redis, RedisKeyValueStore, RedisMetrics, RedisRateLimit, RedisStatusStore } from "../src/index.js"

const url = "redis://127.0.0.1:6379"

/** A key prefix of its own per test, and every key under it deleted afterwards. */
const freshPrefix = Effect.acquireRelease(
  Effect.sync(() => `sluice-test-${randomBytes(6).toString("hex")}`),
  (prefix) =>
    Effect.promise(async () => {
      const client = new IORedis(url)
      const keys = await client.keys(`${prefix}:*`)
      if (keys.length > 0) await client.del(...keys)
      client.disconnect()
    })
)

const node = (prefix: string, redisUrl = url) =>
  Layer.mergeAll(RedisStatusStore.layer({ ttl: "1 minute" }), RedisRateLimit.layer, RedisKeyValueStore.layer).pipe(
    Layer.provideMerge(Redis.layer({ url: redisUrl, prefix }))
  )

/** A service of a node of its own, open for the rest of the test. */
const service = <I, S>(prefix: string, tag: Context.Tag<I, S>) =>
  Effect.map(Layer.build(node(prefix)), (context) => Context.unsafeGet(context as Context.Context<I>, tag))

const record = (id: string, status: MessageRecord["status"] = "queued"): MessageRecord => ({
  id,
  status,
  attempts: status === "queued" ? 0 : 1,
  stream: "default",
  submittedAt: 1_000,
  updatedAt: 2_000,
  recipients: [{ address: "a@example.net", status: status === "delivered" ? "delivered" : "pending" }],
  ...(status === "delivered" ? { upstream: "relay-a", lastReply: { code: 250, enhanced: undefined, text: "ok" } } : {})
})

const freePort = Effect.async<number>((resume) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("Redis status store", () => {
  it.scoped("a record written by one node is read by another; missing ids are undefined", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const a = yield* service(prefix, StatusStore.StatusStore)
      const b = yield* service(prefix, StatusStore.StatusStore)
      yield* a.put([record("m1"), record("m2", "delivered")])
      const [m1, missing, m2] = yield* b.get(["m1", "nope", "m2"])
      expect(m1).toEqual(record("m1"))
      expect(missing).toBeUndefined()
      expect(m2).toEqual(record("m2", "delivered"))
    }))

  it.scoped("a partial record keeps each recipient's status, reply and category from node to node", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const a = yield* service(prefix, StatusStore.StatusStore)
      const b = yield* service(prefix, StatusStore.StatusStore)
      const partial: MessageRecord = {
        ...record("m1", "delivered"),
        status: "partial",
        recipients: [
          { address: "a@example.net", status: "delivered", reply: { code: 250, enhanced: "2.0.0", text: "ok" } },
          { address: "b@example.net", status: "bounced", reply: { code: 550, enhanced: "5.1.1", text: "no such user" }, category: "bad-mailbox" }
        ]
      }
      yield* a.put([partial])
      expect(yield* b.get(["m1"])).toEqual([partial])
    }))

  it.scoped("a record that does not decode is unknown, not a failure of Redis", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const client = new IORedis(url)
      yield* Effect.addFinalizer(() => Effect.sync(() => client.disconnect()))
      yield* Effect.promise(() => client.set(`${prefix}:msg:bad`, "{\"id\": 3}"))
      const context = yield* Layer.build(node(prefix))
      const store = Context.get(context, StatusStore.StatusStore)
      yield* store.put([record("good")])
      expect(yield* store.get(["bad", "good"])).toEqual([undefined, record("good")])
      expect(yield* Context.get(context, Redis).degraded).toBe(false)
    }))

  it.scoped("an idempotency key belongs to its first claimer across nodes until given back", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const a = yield* service(prefix, StatusStore.StatusStore)
      const b = yield* service(prefix, StatusStore.StatusStore)
      expect(yield* a.claim([{ key: "order-1", id: "m1", fingerprint: "f1" }, { key: "order-2", id: "m2" }])).toEqual([undefined, undefined])
      // The holder comes back with the fingerprint it claimed with (none for a key claimed without).
      expect(yield* b.claim([{ key: "order-1", id: "m3", fingerprint: "f3" }, { key: "order-2", id: "m6" }])).toEqual([
        { id: "m1", fingerprint: "f1" },
        { id: "m2", fingerprint: undefined }
      ])
      // Giving back a key held by another id does nothing.
      yield* b.unclaim([{ key: "order-1", id: "m3" }])
      expect(yield* b.claim([{ key: "order-1", id: "m4" }])).toEqual([{ id: "m1", fingerprint: "f1" }])
      // Its holder gives it back by id alone.
      yield* a.unclaim([{ key: "order-1", id: "m1" }])
      expect(yield* b.claim([{ key: "order-1", id: "m5" }])).toEqual([undefined])
    }))

  it.scoped("records expire with their TTL", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const client = new IORedis(url)
      yield* Effect.addFinalizer(() => Effect.sync(() => client.disconnect()))
      const store = yield* service(prefix, StatusStore.StatusStore)
      yield* store.put([record("m1")])
      const ttl = yield* Effect.promise(() => client.pttl(`${prefix}:msg:m1`))
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(60_000)
    }))
})

describe("Redis KeyValueStore", () => {
  it.scoped("get, set, remove, size and clear under the prefix, shared by nodes", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const a = yield* service(prefix, KeyValueStore.KeyValueStore)
      const b = yield* service(prefix, KeyValueStore.KeyValueStore)
      yield* a.set("template:welcome", "{\"subject\":\"Hi\"}")
      yield* a.set("bytes", new Uint8Array([1, 2, 3]))
      expect(yield* b.get("template:welcome")).toEqual(Option.some("{\"subject\":\"Hi\"}"))
      expect(yield* b.getUint8Array("bytes")).toEqual(Option.some(new Uint8Array([1, 2, 3])))
      expect(yield* b.size).toBe(2)
      yield* b.remove("bytes")
      expect(yield* a.has("bytes")).toBe(false)
      yield* a.clear
      expect(yield* b.size).toBe(0)
    }))
})

/** Waits, as an upstream actor does, until `gate` grants a start; when it started (epoch ms). */
const started = (gate: RateLimit.Gate) =>
  Effect.async<number>((resume) => {
    const attempt = () => {
      const now = Date.now()
      if (gate.tryStart(now)) resume(Effect.succeed(now))
      else gate.whenReady(now, attempt)
    }
    attempt()
  })

/** The most of `times` that fall in one half-open window [t, t + window). */
const mostInAnyWindow = (times: ReadonlyArray<number>, window: number) => {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let first = 0, last = 0; last < sorted.length; last++) {
    while (sorted[last]! - sorted[first]! >= window) first++
    most = Math.max(most, last - first + 1)
  }
  return most
}

describe("Redis rate limit", () => {
  it.scopedLive("nodes share one key: a burst across nodes at once, then the next start waits for the window", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      // 2 per second, both at once: GCRA alone would let a third start half a second on; the window says a second.
      const rate = { messages: 2, per: Duration.seconds(1), burst: 2 }
      const gateA = yield* (yield* service(prefix, RateLimit.RateLimit)).make("relay", rate)
      const gateB = yield* (yield* service(prefix, RateLimit.RateLimit)).make("relay", rate)
      const first = yield* started(gateA)
      yield* started(gateB)
      // Real time: the slot is Redis's; a start never comes before it (a lower bound, which load cannot break).
      const third = yield* started(gateA)
      expect(third - first).toBeGreaterThanOrEqual(990)
      // Another upstream has its own keys: its first start is not held back by these.
      const other = yield* (yield* service(prefix, RateLimit.RateLimit)).make("other", rate)
      const before = Date.now()
      const otherStart = yield* started(other)
      expect(otherStart - before).toBeLessThan(900)
    }))

  it.scopedLive("two nodes reserving at once on one key: on Redis's clock, a burst at once, then per/N apart, never more than N in a window", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const a = yield* service(prefix, Redis)
      const b = yield* service(prefix, Redis)
      const rate = { messages: 5, per: Duration.seconds(1), burst: 3 }
      const reservations = yield* Effect.all(
        Array.from({ length: 23 }, (_, i) => Effect.promise(() => RedisRateLimit.reserve(i % 2 === 0 ? a : b, "relay", rate))),
        { concurrency: "unbounded" }
      )
      const at = reservations.map((r) => r.at).sort((x, y) => x - y)
      // Slots are Redis's TIME, whatever the nodes' clocks say: exact, however loaded this machine is.
      expect(mostInAnyWindow(at, 1_000)).toBe(5)
      expect(reservations.filter((r) => r.wait === 0).length).toBeGreaterThanOrEqual(3)
      // The first three as they came (within a few milliseconds of each other), then GCRA's spacing of
      // 200 ms, then the window: the sixth a second after the first.
      expect(at[2]! - at[0]!).toBeLessThan(200)
      expect(at[3]! - at[0]!).toBeCloseTo(200, 2)
      expect(at[4]! - at[0]!).toBeCloseTo(400, 2)
      expect(at[5]! - at[0]!).toBeCloseTo(1_000, 2)
      expect(at[10]! - at[0]!).toBeCloseTo(2_000, 2)
      expect(at[20]! - at[0]!).toBeCloseTo(4_000, 2)
      // What a reservation answers: the slot, and how long from Redis's now.
      for (const r of reservations) expect(r.wait).toBeGreaterThanOrEqual(0)
    }))
})

describe("Redis down", () => {
  it.scopedLive("falls back to local state with a warning and a gauge, and uses Redis again once it answers", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const prefix = `sluice-test-${randomBytes(6).toString("hex")}`
      const layer = node(prefix, `redis://127.0.0.1:${port}`)
      const ctx = yield* Layer.build(layer)
      const store = Effect.provide(StatusStore.StatusStore, ctx)
      const redis = Effect.provide(Redis, ctx)
      const status = yield* store
      // Nothing listens on the port: every call is answered locally and nothing fails.
      expect(yield* status.claim([{ key: "k", id: "m1" }])).toEqual([undefined])
      expect(yield* status.claim([{ key: "k", id: "m2" }])).toEqual([{ id: "m1", fingerprint: undefined }])
      yield* status.put([record("m1")])
      expect(yield* status.get(["m1"])).toEqual([record("m1")])
      expect(yield* (yield* redis).degraded).toBe(true)
      expect((yield* Metric.value(RedisMetrics.degraded)).value).toBe(1)
      const gate = yield* (yield* Effect.provide(RateLimit.RateLimit, ctx)).make("relay", {
        messages: 100,
        per: Duration.seconds(1)
      })
      // Reserved locally at the same rate: the first start goes at once.
      yield* started(gate)

      // Redis comes up on that port: the client reconnects by itself and the store uses it again.
      const server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
        stdio: "ignore"
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => server.kill("SIGKILL")))
      const client = new IORedis(`redis://127.0.0.1:${port}`, { retryStrategy: () => 50 })
      client.on("error", () => {})
      yield* Effect.addFinalizer(() => Effect.sync(() => client.disconnect()))
      yield* Effect.promise(() => client.ping())
      yield* status.put([record("m9")]).pipe(
        Effect.zipRight((yield* redis).degraded),
        Effect.repeat({ until: (degraded) => !degraded, schedule: Schedule.spaced("100 millis") }),
        Effect.timeout("20 seconds")
      )
      expect((yield* Metric.value(RedisMetrics.degraded)).value).toBe(0)
      expect(yield* Effect.promise(() => client.exists(`${prefix}:msg:m9`))).toBe(1)
      // A record written while Redis was down is still answered, from local state.
      expect(yield* status.get(["m1"])).toEqual([record("m1")])
    }))
})

describe("suspensions on Redis", () => {
  it.live("one made on a node holds on another within a second, and lifting it there lifts it everywhere", () =>
    Effect.scoped(Effect.gen(function*() {
      const prefix = yield* freshPrefix
      const targets = { streams: { default: {} }, upstreams: [{ name: "relay", host: "127.0.0.1", port: 2525 }] }
      const onNode = Effect.map(
        Layer.build(Suspensions.layer(targets).pipe(Layer.provide(node(prefix)))),
        Context.get(Suspensions.Suspensions)
      )
      const a = yield* onNode
      const b = yield* onNode
      const made = yield* a.add({ scope: "domain", target: "example.com", reason: "421s" })
      const seen = (s: Suspensions.SuspensionsShape) => Effect.map(s.list, (list) => list.map((x) => x.id))
      yield* seen(b).pipe(Effect.repeat({ until: (ids) => ids.includes(made.id), schedule: Schedule.spaced("50 millis") }), Effect.timeout("5 seconds"))
      expect(b.holding("domain", "example.com", Date.now())?.reason).toBe("421s")
      expect(yield* b.remove(made.id)).toBe(true)
      yield* seen(a).pipe(Effect.repeat({ until: (ids) => ids.length === 0, schedule: Schedule.spaced("50 millis") }), Effect.timeout("5 seconds"))
      expect(a.holding("domain", "example.com", Date.now())).toBeUndefined()
    })))
})
