import { describe, expect, it } from "@effect/vitest"
import type { SmtpError } from "@sluice/smtp"
import { Counters, SmtpMetrics, SmtpPool, SmtpReplyError, SmtpTimeoutError } from "@sluice/smtp"
import { Sink } from "@sluice/sink"
import { Array as Arr, Duration, Effect, Metric, TestClock } from "effect"
import * as RawServer from "./support/rawServer.js"
import { options } from "./support/upstream.js"
import { eventually, realSleep } from "./support/wait.js"

const message = (i: number) => Buffer.from(`Subject: ${i}\r\n\r\nmessage ${i}\r\n`)
const envelope = (i: number) => ({ from: "a@example.org", to: [`rcpt${i}@example.net`] })

// The transport counts on plain counters; they reach the Effect metrics when flushed, as at a scrape.
const connections = (upstream: string, event: SmtpMetrics.ConnectionEvent) =>
  Counters.flush.pipe(Effect.zipRight(Metric.value(
    SmtpMetrics.connections.pipe(Metric.tagged("upstream", upstream), Metric.tagged("event", event))
  )), Effect.map((state) => state.count))

const replies = (upstream: string, cls: string) =>
  Counters.flush.pipe(
    Effect.zipRight(Metric.value(SmtpMetrics.replies.pipe(Metric.tagged("upstream", upstream), Metric.tagged("class", cls)))),
    Effect.map((state) => state.count)
  )

const connectionMetrics = (upstream: string) =>
  Effect.all({
    opened: connections(upstream, "opened"),
    reused: connections(upstream, "reused"),
    failed: connections(upstream, "failed"),
    closed: connections(upstream, "closed")
  })

const delivered = (result: { readonly recipients: ReadonlyArray<{ readonly verdict: string }> }) =>
  result.recipients.every((r) => r.verdict === "delivered")

describe("SmtpPool", () => {
  it.scopedLive("1,000 messages, 50 at a time, over at most 10 connections", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const upstream = options(sink, { maxConnections: 10 })
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* SmtpPool.sender(upstream)
        const results = yield* Effect.forEach(Arr.range(1, 1_000), (i) => pool.send(envelope(i), message(i)), {
          concurrency: 50
        })
        expect(results.every(delivered)).toBe(true)
      }))

      expect(sink.received).toBe(1_000)
      const subjects = new Set(sink.messages.map((m) => m.data.toString().split("\r\n", 1)[0]))
      expect(subjects.size).toBe(1_000)
      expect(sink.connections.peak).toBeLessThanOrEqual(10)
      expect(sink.connections.total).toBeLessThanOrEqual(10)
      expect(sink.connections.total).toBeGreaterThan(1)

      // A session's first message finds it fresh, every later one reuses it; closing the pool closed them all.
      const used = new Set(sink.messages.map((m) => m.connection)).size
      const metrics = yield* connectionMetrics(upstream.name)
      expect(metrics).toEqual({
        opened: sink.connections.total,
        reused: 1_000 - used,
        failed: 0,
        closed: sink.connections.total
      })
      yield* eventually(() => sink.connections.open === 0)
    }))

  it.scopedLive("maxMessagesPerConnection 100: 1,000 messages take at least 10 connections, none carries more", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const upstream = options(sink, { maxConnections: 10, maxMessagesPerConnection: 100 })
      const pool = yield* SmtpPool.sender(upstream)
      const results = yield* Effect.forEach(Arr.range(1, 1_000), (i) => pool.send(envelope(i), message(i)), {
        concurrency: 4
      })
      expect(results.every(delivered)).toBe(true)
      expect(sink.received).toBe(1_000)
      expect(sink.connections.total).toBeGreaterThanOrEqual(10)
      expect(sink.connections.peak).toBeLessThanOrEqual(10)

      const perConnection = new Map<number, number>()
      for (const m of sink.messages) perConnection.set(m.connection, (perConnection.get(m.connection) ?? 0) + 1)
      expect(Math.max(...perConnection.values())).toBeLessThanOrEqual(100)
      // The pool may open a session that a waiter then does not need; it carries nothing, but counts.
      expect(perConnection.size).toBeLessThanOrEqual(sink.connections.total)

      // A retired session is closed as soon as its last message is done, not when the pool closes.
      const metrics = yield* connectionMetrics(upstream.name)
      expect(metrics.opened).toBe(sink.connections.total)
      expect(metrics.reused).toBe(1_000 - perConnection.size)
      expect(metrics.closed).toBe([...perConnection.values()].filter((n) => n === 100).length)
    }))

  it.scoped("an idle session is closed after idleTimeout (TestClock), and the next message opens another", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const upstream = options(sink, { maxConnections: 3, idleTimeout: Duration.seconds(30) })
      const pool = yield* SmtpPool.sender(upstream)
      yield* Effect.forEach(Arr.range(1, 3), (i) => pool.send(envelope(i), message(i)), { concurrency: 3 })
      expect(sink.received).toBe(3)
      const opened = sink.connections.total
      expect(opened).toBeGreaterThanOrEqual(1)
      expect(sink.connections.open).toBe(opened)

      // Short of the idle timeout nothing is closed.
      yield* TestClock.adjust("29 seconds")
      yield* realSleep(50)
      expect(sink.connections.open).toBe(opened)

      // Past it, the pool closes its idle sessions. Closing is real I/O (QUIT, then the socket), so the
      // sink's count is polled in real time; the test clock only decides when the pool acts.
      yield* TestClock.adjust("2 seconds")
      yield* eventually(() => sink.connections.open === 0)
      expect(yield* connections(upstream.name, "closed")).toBe(opened)

      yield* pool.send(envelope(4), message(4))
      expect(sink.connections.total).toBe(opened + 1)
      expect(sink.received).toBe(4)
    }))

  it.scopedLive("a session the server closed while idle is replaced without failing the next message", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ idleTimeoutMs: 200 })
      const upstream = options(sink, { maxConnections: 1 })
      const pool = yield* SmtpPool.sender(upstream)
      expect(delivered(yield* pool.send(envelope(1), message(1)))).toBe(true)
      // smtp-server says 421 and closes the connection after 200 ms of silence.
      yield* realSleep(400)
      expect(sink.connections.open).toBe(0)
      expect(delivered(yield* pool.send(envelope(2), message(2)))).toBe(true)
      expect(sink.received).toBe(2)
      expect(sink.connections.total).toBe(2)
      expect(sink.messages.map((m) => m.connection)).toEqual([1, 2])
      const metrics = yield* connectionMetrics(upstream.name)
      expect(metrics).toMatchObject({ opened: 2, failed: 0, closed: 1 })
    }))

  for (const pipelining of [true, false]) {
    const variant = `PIPELINING ${pipelining ? "offered" : "hidden"}`
    // Here the client cannot see that the session is gone until it sends MAIL: the server waits for it.
    for (const how of ["421", "drop"] as const) {
      it.scopedLive(`a cached session answered at MAIL with ${how === "421" ? "421" : "a dropped connection"} is retried on a new one (${variant})`, () =>
        Effect.gen(function*() {
          const mailsOn = new Map<number, number>()
          const server = yield* RawServer.make({
            onCommand: (line, connection) => {
              if (RawServer.verb(line) === "MAIL") {
                const count = (mailsOn.get(connection.id) ?? 0) + 1
                mailsOn.set(connection.id, count)
                if (count === 2) {
                  if (how === "421") connection.reply("421 4.4.2 idle too long, closing")
                  return connection.destroy()
                }
              }
              RawServer.standard(pipelining ? ["PIPELINING"] : [])(line, connection)
            }
          })
          const upstream = options(server, { maxConnections: 1 })
          const pool = yield* SmtpPool.sender(upstream)
          expect(delivered(yield* pool.send(envelope(1), message(1)))).toBe(true)
          expect(delivered(yield* pool.send(envelope(2), message(2)))).toBe(true)
          expect(server.connections()).toBe(2)
          expect(yield* connectionMetrics(upstream.name)).toMatchObject({ opened: 2, reused: 1, failed: 0 })
        }))
    }
  }

  it.scopedLive("a session whose MAIL was refused is not reused", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({
        onMailFrom: (address) => address.startsWith("bad") ? { code: 550, text: "no" } : undefined
      })
      const upstream = options(sink, { maxConnections: 1 })
      const pool = yield* SmtpPool.sender(upstream)
      const error = yield* Effect.flip(pool.send({ from: "bad@example.org", to: ["b@example.net"] }, message(1)))
      expect(error).toBeInstanceOf(SmtpReplyError)
      expect(error).toMatchObject({ phase: "mail", code: 550 })
      expect(delivered(yield* pool.send(envelope(2), message(2)))).toBe(true)
      expect(sink.connections.total).toBe(2)
      expect(sink.messages.map((m) => m.connection)).toEqual([2])
      expect(yield* connectionMetrics(upstream.name)).toMatchObject({ opened: 2, reused: 0, closed: 1 })
    }))

  it.scopedLive("a session that timed out during DATA is not reused", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          if (RawServer.verb(line) === "DATA" && connection.id === 1) {
            connection.reply("354 go ahead")
            return connection.readData(() => {}) // and never a word about it
          }
          RawServer.standard(["PIPELINING"])(line, connection)
        }
      })
      const upstream = options(server, { maxConnections: 1, timeouts: { data: "300 millis" } })
      const pool = yield* SmtpPool.sender(upstream)
      const error: SmtpError = yield* Effect.flip(pool.send(envelope(1), message(1)))
      expect(error).toBeInstanceOf(SmtpTimeoutError)
      expect(error).toMatchObject({ phase: "data" })
      expect(delivered(yield* pool.send(envelope(2), message(2)))).toBe(true)
      expect(server.connections()).toBe(2)
      expect(yield* connectionMetrics(upstream.name)).toMatchObject({ opened: 2, reused: 0, closed: 1 })
    }))

  it.scopedLive("a message interrupted mid-transaction does not hand its late replies to the next", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          if (RawServer.verb(line) !== "DATA") return RawServer.standard(["PIPELINING"])(line, connection)
          connection.reply("354 go ahead")
          connection.readData((body) => {
            const text = body.toString().trim()
            setTimeout(() => connection.reply(`250 2.0.0 queued ${text}`), text === "slow" ? 300 : 0)
          })
        }
      })
      const pool = yield* SmtpPool.sender(options(server, { maxConnections: 1 }))
      const interrupted = yield* Effect.either(
        pool.send(envelope(1), Buffer.from("slow\r\n")).pipe(Effect.timeout("100 millis"))
      )
      expect(interrupted._tag).toBe("Left")
      const next = yield* pool.send(envelope(2), Buffer.from("fast\r\n"))
      // Each result is judged by the reply to its own message.
      expect(next.recipients.map((r) => [r.verdict, r.reply.text])).toEqual([["delivered", "queued fast"]])
      expect(server.connections()).toBe(2)
    }))

  it.scopedLive("a refusal after DATA is a result, and the session is reused", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ onData: (m) => m.to.includes("rcpt1@example.net") ? { code: 554 } : undefined })
      const upstream = options(sink, { maxConnections: 1 })
      const pool = yield* SmtpPool.sender(upstream)
      const refused = yield* pool.send(envelope(1), message(1))
      expect(refused.recipients.map((r) => [r.verdict, r.phase, r.reply.code])).toEqual([["permanent", "data", 554]])
      expect(delivered(yield* pool.send(envelope(2), message(2)))).toBe(true)
      expect(sink.connections.total).toBe(1)
      expect(yield* connectionMetrics(upstream.name)).toMatchObject({ opened: 1, reused: 1, closed: 0 })
    }))

  it.scopedLive("a failed connection is not cached: each message tries again", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ greeting: { code: 421, text: "busy" } })
      const upstream = options(sink, { maxConnections: 2 })
      const pool = yield* SmtpPool.sender(upstream)
      for (let i = 1; i <= 2; i++) {
        const error = yield* Effect.flip(pool.send(envelope(i), message(i)))
        expect(error).toBeInstanceOf(SmtpReplyError)
        expect(error).toMatchObject({ phase: "greeting", code: 421 })
      }
      expect(sink.connections.total).toBe(2)
      expect(yield* connectionMetrics(upstream.name)).toEqual({ opened: 0, reused: 0, failed: 2, closed: 0 })
    }))
})

describe("SmtpPool metrics", () => {
  it.scopedLive("one session for ten messages in a row: opened 1, reused 9, closed with the pool", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const upstream = options(sink, { maxConnections: 2 })
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* SmtpPool.sender(upstream)
        for (let i = 1; i <= 10; i++) yield* pool.send(envelope(i), message(i))
        expect(yield* connectionMetrics(upstream.name)).toEqual({ opened: 1, reused: 9, failed: 0, closed: 0 })
      }))
      expect(yield* connectionMetrics(upstream.name)).toEqual({ opened: 1, reused: 9, failed: 0, closed: 1 })
      // Greeting, EHLO, then MAIL, RCPT and the final reply per message, and QUIT; DATA's 354 each time.
      expect(yield* replies(upstream.name, "2xx")).toBe(2 + 10 * 3 + 1)
      expect(yield* replies(upstream.name, "3xx")).toBe(10)
      expect(yield* replies(upstream.name, "4xx")).toBe(0)
      expect(sink.connections.total).toBe(1)
    }))

  it.scopedLive("maxMessagesPerConnection 3 and ten messages in a row: four sessions", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const upstream = options(sink, { maxConnections: 2, maxMessagesPerConnection: 3 })
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* SmtpPool.sender(upstream)
        for (let i = 1; i <= 10; i++) yield* pool.send(envelope(i), message(i))
        expect(yield* connectionMetrics(upstream.name)).toEqual({ opened: 4, reused: 6, failed: 0, closed: 3 })
      }))
      expect(yield* connectionMetrics(upstream.name)).toEqual({ opened: 4, reused: 6, failed: 0, closed: 4 })
      expect(sink.messages.map((m) => m.connection)).toEqual([1, 1, 1, 2, 2, 2, 3, 3, 3, 4])
    }))

  it.scopedLive("refusals are counted by reply class", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ hide: ["PIPELINING"] })
      const upstream = options(sink)
      const pool = yield* SmtpPool.sender(upstream)
      yield* pool.send({ from: "a@example.org", to: ["x+451@example.net", "y+550@example.net", "z@example.net"] }, message(1))
      expect(yield* replies(upstream.name, "4xx")).toBe(1)
      expect(yield* replies(upstream.name, "5xx")).toBe(1)
      expect(yield* replies(upstream.name, "3xx")).toBe(1)
    }))
})
