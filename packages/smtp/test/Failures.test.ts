import { describe, expect, it } from "@effect/vitest"
import { Counters, SmtpConnectionError, SmtpMetrics, SmtpPool, SmtpReply, SmtpSession } from "@sluice/smtp"
import { Duration, Effect, Metric, TestClock } from "effect"
import * as RawServer from "./support/rawServer.js"
import { delivery, listSource, started, summary } from "./support/source.js"
import { options } from "./support/upstream.js"
import { eventually, realSleep } from "./support/wait.js"

const count = (metric: typeof SmtpMetrics.replies, upstream: string, name: string, value: string) =>
  Counters.flush.pipe(
    Effect.zipRight(Metric.value(metric.pipe(Metric.tagged("upstream", upstream), Metric.tagged(name, value)))),
    Effect.map((state) => state.count)
  )

describe("a connection that fails", () => {
  it.scopedLive("the server drops it mid-body: the body's transaction and the one pipelined behind it end dropped; the next opens another", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: RawServer.standard(["PIPELINING"]),
        onDataChunk: (_chunk, received, connection) => {
          if (connection.id === 1 && received >= 1024) connection.destroy()
        }
      })
      const list = listSource([delivery(1, Buffer.alloc(4 * 1024 * 1024, "a\r\n")), delivery(2), delivery(3)])
      yield* started(options(server, { maxConnections: 1 }), list.source)
      yield* list.awaitEnded(3)
      expect([1, 2, 3].map((id) => summary(list.ended.get(id)))).toEqual([
        "SmtpConnectionError data dropped",
        // Its group left with the first body, so its MAIL is what it awaited: a stale reuse, safe to retry.
        "SmtpConnectionError mail dropped",
        ["3@example.net delivered data 250"]
      ])
      expect(list.ended.get(2)!.reused).toBe(true)
      const second = list.ended.get(2)!.outcome
      expect(second._tag === "Left" && SmtpPool.isStale(second.left)).toBe(true)
      expect(server.connections()).toBe(2)
    }))

  it.scopedLive("no final reply: the one timer fails the body's transaction and the one behind it, each at its phase", () =>
    Effect.gen(function*() {
      let hung = false
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          if (connection.id === 1 && hung) return // replies come in order: after the one it holds, none
          if (RawServer.verb(line) !== "DATA" || connection.id > 1) return RawServer.standard(["PIPELINING"])(line, connection)
          connection.reply("354 go ahead")
          connection.readData(() => {
            hung = true // and never a word about it
          })
        }
      })
      const list = listSource([delivery(1), delivery(2), delivery(3)])
      const startedAt = Date.now()
      yield* started(options(server, { maxConnections: 1, timeouts: { command: "1 second", data: "300 millis" } }), list.source)
      yield* list.awaitEnded(3)
      expect([1, 2, 3].map((id) => summary(list.ended.get(id)))).toEqual([
        "SmtpTimeoutError data 300",
        "SmtpTimeoutError mail 1000",
        ["3@example.net delivered data 250"]
      ])
      // The data timeout decided, not the longer command timeout of the one behind it.
      expect(Date.now() - startedAt).toBeLessThan(1_000)
      expect(server.connections()).toBe(2)
    }))

  it.scopedLive("a connection that hangs never holds up another", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          if (RawServer.verb(line) !== "DATA") return RawServer.standard(["PIPELINING"])(line, connection)
          connection.reply("354 go ahead")
          connection.readData((body) => body.toString().startsWith("hang") ? undefined : connection.reply("250 2.0.0 queued"))
        }
      })
      const list = listSource([delivery(1, "hang\r\n"), delivery(2, "fine\r\n")])
      // Both are pulled before either connection is up: one connection each.
      const pool = yield* started(options(server, { maxConnections: 2, timeouts: { data: "500 millis" } }), list.source)
      expect(pool.connections).toBe(2)
      yield* list.awaitEnded(1)
      expect(list.order).toEqual([2])
      expect(summary(list.ended.get(2))).toEqual(["2@example.net delivered data 250"])
      yield* list.awaitEnded(2)
      expect(summary(list.ended.get(1))).toEqual("SmtpTimeoutError data 500")
    }))

  it.scoped("on the test clock: the server is waited for in real time, so moving the clock on times out nothing on the wire", () =>
    Effect.gen(function*() {
      const say = RawServer.ordered()
      const server = yield* RawServer.make({
        greetingDelayMillis: 200,
        onCommand: (line, connection) => {
          switch (RawServer.verb(line)) {
            case "DATA":
              say(connection, "354 go ahead")
              return connection.readData(() => say(connection, "250 2.0.0 queued", 200))
            case "MAIL":
            case "RCPT":
              return say(connection, "250 OK")
            default:
              return RawServer.standard(["PIPELINING"])(line, connection)
          }
        }
      })
      const list = listSource([delivery(1)])
      const pool = yield* started(
        options(server, { timeouts: { greeting: "1 second", command: "1 second", data: "1 second" }, idleTimeout: Duration.hours(2) }),
        list.source
      )
      // The greeting is on its way (200 ms): the set-up waits in real time too.
      yield* eventually(() => server.connections() === 1)
      yield* TestClock.adjust("1 hour")
      yield* eventually(() => server.commands.includes("DATA"))
      // An hour passes for the engine (a retry, a cooldown) while the final reply is on its way.
      yield* TestClock.adjust("1 hour")
      yield* list.awaitEnded(1)
      expect(summary(list.ended.get(1))).toEqual(["1@example.net delivered data 250"])
      // Idleness is the pool's own schedule, on the test clock.
      yield* TestClock.adjust("119 minutes")
      yield* realSleep(50)
      expect(pool.connections).toBe(1)
      yield* TestClock.adjust("2 minutes")
      yield* eventually(() => pool.connections === 0)
      expect(server.commands.at(-1)).toBe("QUIT")
    }))
})

describe("garbage from the server", () => {
  it.scopedLive("a greeting of garbage: a protocol error at greeting, counted as other, nothing thrown", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({ greeting: "\u0000\u00ffHELLO garbage", onCommand: RawServer.standard() })
      const upstream = options(server)
      const error = yield* Effect.flip(SmtpSession.open(upstream))
      expect(error).toBeInstanceOf(SmtpConnectionError)
      expect(error).toMatchObject({ phase: "greeting", reason: "protocol" })
      expect(SmtpReply.classifyError(error)).toEqual({ verdict: "transient", upstreamFault: true })
      expect(yield* count(SmtpMetrics.replies, upstream.name, "class", "other")).toBe(1)

      // Through a pool: the delivery it was opened for ends with the error; the pool carries on.
      const list = listSource([delivery(1)])
      const pooled = options(server)
      yield* started(pooled, list.source)
      yield* list.awaitEnded(1)
      expect(summary(list.ended.get(1))).toEqual("SmtpConnectionError greeting protocol")
      expect(yield* count(SmtpMetrics.connections, pooled.name, "event", "failed")).toBe(1)
    }))

  for (const [label, reply] of [["garbage", "\u0000\u00ffgarbage"], ["a code out of range", "650 what"], ["an empty line", ""]] as const) {
    it.scopedLive(`${label} where a RCPT reply is owed: the transaction ends with a protocol error, the next goes on another connection`, () =>
      Effect.gen(function*() {
        const server = yield* RawServer.make({
          onCommand: (line, connection) =>
            RawServer.verb(line) === "RCPT" && connection.id === 1
              ? connection.reply(reply)
              : RawServer.standard(["PIPELINING"])(line, connection)
        })
        const upstream = options(server, { maxConnections: 1 })
        const list = listSource([delivery(1), delivery(2)])
        yield* started(upstream, list.source)
        yield* list.awaitEnded(2)
        expect([1, 2].map((id) => summary(list.ended.get(id)))).toEqual([
          "SmtpConnectionError rcpt protocol",
          ["2@example.net delivered data 250"]
        ])
        expect(yield* count(SmtpMetrics.replies, upstream.name, "class", "other")).toBe(1)
        expect(server.connections()).toBe(2)
      }))
  }

  it.scopedLive("a reply nobody asked for while idle: that connection is closed, the next delivery opens another", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          RawServer.standard(["PIPELINING"])(line, connection)
          if (RawServer.verb(line) === "DATA" && connection.id === 1) {
            // After the final reply, a reply to nothing.
            setTimeout(() => connection.reply("250 surprise"), 50)
          }
        }
      })
      const upstream = options(server, { maxConnections: 1 })
      const sender = yield* SmtpPool.sender(upstream)
      yield* sender.send({ from: "a@example.org", to: ["b@example.net"] }, Buffer.from("one\r\n"))
      yield* eventually(() => server.connections() === 1 && server.open() === 0)
      yield* sender.send({ from: "a@example.org", to: ["b@example.net"] }, Buffer.from("two\r\n"))
      expect(server.connections()).toBe(2)
      expect(yield* count(SmtpMetrics.connections, upstream.name, "event", "closed")).toBe(1)
    }))
})

describe("addresses that cannot be sent", () => {
  it.scopedLive("end at once with an address error, nothing sent, and no connection opened for them", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({ onCommand: RawServer.standard(["PIPELINING"]) })
      const list = listSource([
        delivery(1, "x\r\n", ["b@example.net\r\nRCPT TO:<evil@example.net>"]),
        { ...delivery(2), from: "a@example.org>" },
        delivery(3)
      ])
      const pool = yield* started(options(server, { maxConnections: 3 }), list.source)
      expect(list.order).toEqual([1, 2])
      expect(pool.connections).toBe(1)
      yield* list.awaitEnded(3)
      expect([1, 2, 3].map((id) => summary(list.ended.get(id)))).toEqual([
        "SmtpAddressError rcpt",
        "SmtpAddressError mail",
        ["3@example.net delivered data 250"]
      ])
      expect(server.commands.filter((line) => line.includes("evil") || line.includes(">>"))).toEqual([])

      // Pulled by a connection that is up: the same, and the connection takes the next one.
      list.add(delivery(4, "x\r\n", ["c@example.net\u0000"]))
      list.add(delivery(5))
      pool.wake()
      yield* list.awaitEnded(5)
      expect([4, 5].map((id) => summary(list.ended.get(id)))).toEqual(["SmtpAddressError rcpt", ["5@example.net delivered data 250"]])
      expect(server.connections()).toBe(1)
    }))
})
