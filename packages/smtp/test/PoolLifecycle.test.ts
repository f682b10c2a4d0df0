import { describe, expect, it } from "@effect/vitest"
import type { SmtpError } from "@sluice/smtp"
import {
  Counters,
  SmtpAddressError,
  SmtpConnectionError,
  SmtpMetrics,
  SmtpPool,
  SmtpReplyError,
  SmtpTimeoutError
} from "@sluice/smtp"
import { Duration, Effect, Exit, Metric, Scope } from "effect"
import * as RawServer from "./support/rawServer.js"
import { delivery, listSource, started, summary } from "./support/source.js"
import { options } from "./support/upstream.js"
import { eventually } from "./support/wait.js"

const closedCount = (upstream: string) =>
  Counters.flush.pipe(
    Effect.zipRight(Metric.value(SmtpMetrics.connections.pipe(Metric.tagged("upstream", upstream), Metric.tagged("event", "closed")))),
    Effect.map((state) => state.count)
  )

/** Per server connection: the MAIL commands it got, and whether it got QUIT. */
const countingServer = (script?: RawServer.Script["onCommand"]) =>
  Effect.gen(function*() {
    const mails = new Map<number, number>()
    const quits = new Set<number>()
    const server = yield* RawServer.make({
      onCommand: (line, connection) => {
        const verb = RawServer.verb(line)
        if (verb === "MAIL") mails.set(connection.id, (mails.get(connection.id) ?? 0) + 1)
        if (verb === "QUIT") quits.add(connection.id)
        ;(script ?? RawServer.standard(["PIPELINING"]))(line, connection)
      }
    })
    return { server, mails, quits }
  })

describe("SmtpPool lifecycle", () => {
  it.scopedLive("wakes while connecting open no more connections than there are deliveries", () =>
    Effect.gen(function*() {
      const { server } = yield* countingServer()
      const list = listSource([delivery(1)])
      const pool = yield* SmtpPool.make(options(server, { maxConnections: 10 }), list.source)
      for (let i = 0; i < 5; i++) pool.wake()
      expect(pool.connections).toBe(1)
      expect(pool.inFlight).toBe(1)
      list.add(delivery(2))
      list.add(delivery(3))
      for (let i = 0; i < 5; i++) pool.wake()
      // A connection being opened counts, and holds the delivery it was opened for.
      expect(pool.connections).toBe(3)
      yield* list.awaitEnded(3)
      expect(server.connections()).toBe(3)
      expect(pool.inFlight).toBe(0)
      // Nothing to send: a wake opens nothing.
      pool.wake()
      expect(pool.connections).toBe(3)
    }))

  it.scopedLive("maxMessagesPerConnection 5 with work always waiting: no connection carries a sixth, each says QUIT after its fifth", () =>
    Effect.gen(function*() {
      const { server, mails, quits } = yield* countingServer()
      const upstream = options(server, { maxConnections: 2, maxMessagesPerConnection: 5 })
      const list = listSource(Array.from({ length: 23 }, (_, i) => delivery(i + 1)))
      const pool = yield* started(upstream, list.source)
      yield* list.awaitEnded(23)
      expect([...list.ended.values()].every((ended) => ended.outcome._tag === "Right")).toBe(true)
      expect(Math.max(...mails.values())).toBe(5)
      expect([...mails.values()].reduce((a, b) => a + b, 0)).toBe(23)
      expect(server.connections()).toBeGreaterThanOrEqual(5)
      const full = [...mails.entries()].filter(([, n]) => n === 5).map(([id]) => id)
      expect(full).toHaveLength(4)
      yield* eventually(() => full.every((id) => quits.has(id)))
      expect(yield* closedCount(upstream.name)).toBeGreaterThanOrEqual(4)
      expect(pool.connections).toBeLessThanOrEqual(2)
    }))

  it.scopedLive("idleTimeout: an idle connection says QUIT and closes; the next delivery opens another", () =>
    Effect.gen(function*() {
      const { server, quits } = yield* countingServer()
      const upstream = options(server, { idleTimeout: Duration.millis(200) })
      const list = listSource([delivery(1)])
      const pool = yield* started(upstream, list.source)
      yield* list.awaitEnded(1)
      const endedAt = Date.now()
      // The server closes after its 221; the pool counts the connection gone when the close reaches it.
      yield* eventually(() => quits.has(1) && server.open() === 0 && pool.connections === 0)
      expect(Date.now() - endedAt).toBeGreaterThanOrEqual(150)
      expect(yield* closedCount(upstream.name)).toBe(1)
      list.add(delivery(2))
      pool.wake()
      yield* list.awaitEnded(2)
      expect(server.connections()).toBe(2)
    }))

  it.scopedLive("closing the scope: nothing more is pulled, what is in flight finishes, then QUIT", () =>
    Effect.gen(function*() {
      // Each final reply comes 100 ms after its message, and the replies after it wait for it.
      const say = RawServer.ordered()
      const { server, quits } = yield* countingServer((line, connection) => {
        switch (RawServer.verb(line)) {
          case "EHLO":
          case "QUIT":
            return RawServer.standard(["PIPELINING"])(line, connection)
          case "DATA":
            say(connection, "354 go ahead")
            return connection.readData(() => say(connection, "250 2.0.0 queued", 100))
          default:
            return say(connection, "250 2.0.0 OK")
        }
      })
      const list = listSource([delivery(1), delivery(2), delivery(3)])
      const scope = yield* Scope.make()
      const pool = yield* started(options(server, { maxConnections: 1 }), list.source).pipe(Scope.extend(scope))
      // The first awaits its final reply, the second is pipelined behind it.
      yield* eventually(() => pool.inFlight === 2 && list.ended.size === 0)
      yield* Scope.close(scope, Exit.void)
      // The scope closed only once both had ended and the connection was gone.
      expect([1, 2].map((id) => summary(list.ended.get(id)))).toEqual([
        ["1@example.net delivered data 250"],
        ["2@example.net delivered data 250"]
      ])
      expect(list.ended.has(3)).toBe(false)
      expect(list.waiting.map((d) => d.id)).toEqual([3])
      expect(quits.has(1)).toBe(true)
      expect(server.commands.at(-1)).toBe("QUIT")
      expect(pool.connections).toBe(0)
      expect(pool.inFlight).toBe(0)
      yield* eventually(() => server.open() === 0)
      // A closed pool does not wake.
      pool.wake()
      expect(pool.connections).toBe(0)
    }))

  it.scopedLive("a server that answers QUIT and keeps the connection open: closed on the 221, not after a timeout", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({
        onCommand: (line, connection) =>
          RawServer.verb(line) === "QUIT" ? connection.reply("221 2.0.0 bye, but I stay") : RawServer.standard(["PIPELINING"])(line, connection)
      })
      const list = listSource([delivery(1)])
      const scope = yield* Scope.make()
      yield* started(options(server, { timeouts: { command: "10 seconds" } }), list.source).pipe(Scope.extend(scope))
      yield* list.awaitEnded(1)
      const closing = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - closing).toBeLessThan(2_000)
      expect(server.commands.at(-1)).toBe("QUIT")
      yield* eventually(() => server.open() === 0)
    }))

  it.scopedLive("closing the scope while a connection is being set up ends its delivery with an error at once", () =>
    Effect.gen(function*() {
      const server = yield* RawServer.make({ greeting: null, onCommand: () => {} })
      const list = listSource([delivery(1)])
      const scope = yield* Scope.make()
      const pool = yield* started(options(server, { timeouts: { greeting: "30 seconds" } }), list.source).pipe(Scope.extend(scope))
      yield* eventually(() => server.connections() === 1)
      const closing = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - closing).toBeLessThan(1_000)
      expect(summary(list.ended.get(1))).toEqual("SmtpConnectionError connect dropped")
      expect(pool.inFlight).toBe(0)
      yield* eventually(() => server.open() === 0)
    }))

  it.scopedLive("a transaction refused at MAIL ends the connection's reuse; the next opens another", () =>
    Effect.gen(function*() {
      const refused = new Set<number>()
      const { server, quits } = yield* countingServer((line, connection) => {
        const verb = RawServer.verb(line)
        if (verb === "MAIL" && line.includes("bad")) {
          refused.add(connection.id)
          return connection.reply("550 5.7.1 sender refused")
        }
        if ((verb === "RCPT" || verb === "DATA") && refused.has(connection.id)) return connection.reply("503 5.5.1 MAIL first")
        if (verb === "MAIL") refused.delete(connection.id)
        RawServer.standard(["PIPELINING"])(line, connection)
      })
      const list = listSource([{ ...delivery(1), from: "bad@example.org" }, delivery(2)])
      yield* started(options(server, { maxConnections: 1 }), list.source)
      yield* list.awaitEnded(2)
      expect([1, 2].map((id) => summary(list.ended.get(id)))).toEqual([
        "SmtpReplyError mail 550",
        ["2@example.net delivered data 250"]
      ])
      // The refused group's RCPT and DATA were answered and read before QUIT.
      expect(server.commands.slice(0, 5)).toEqual([
        "EHLO client.test",
        "MAIL FROM:<bad@example.org>",
        "RCPT TO:<1@example.net>",
        "DATA",
        "QUIT"
      ])
      expect(quits.has(1)).toBe(true)
      expect(server.connections()).toBe(2)
    }))
})

describe("a broken server", () => {
  it.scopedLive("DATA answered 354 after MAIL was refused: the connection is closed, no message and no dot sent", () =>
    Effect.gen(function*() {
      const bodies: Array<string> = []
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          switch (RawServer.verb(line)) {
            case "MAIL":
              return connection.reply(connection.id === 1 ? "451 4.3.0 not now" : "250 OK")
            case "DATA":
              connection.reply("354 go ahead")
              return connection.readData((body) => {
                bodies.push(body.toString())
                connection.reply("250 2.0.0 queued")
              })
            default:
              return RawServer.standard(["PIPELINING"])(line, connection)
          }
        }
      })
      const list = listSource([delivery(1), delivery(2)])
      yield* started(options(server, { maxConnections: 1 }), list.source)
      yield* list.awaitEnded(2)
      expect([1, 2].map((id) => summary(list.ended.get(id)))).toEqual([
        "SmtpReplyError mail 451",
        ["2@example.net delivered data 250"]
      ])
      expect(bodies).toEqual(["Subject: 2\r\n\r\nmessage 2\r\n"])
      expect(server.commands.filter((line) => line === "QUIT" || line === ".")).toEqual([])
      expect(server.connections()).toBe(2)
    }))
})

describe("SmtpPool.isStale", () => {
  const upstream = "u"
  const table: ReadonlyArray<readonly [string, SmtpError, boolean]> = [
    ["a drop at MAIL", new SmtpConnectionError({ upstream, phase: "mail", reason: "dropped", text: "" }), true],
    ["421 at MAIL", new SmtpReplyError({ upstream, phase: "mail", code: 421, enhanced: "4.4.2", text: "" }), true],
    ["a drop at RCPT", new SmtpConnectionError({ upstream, phase: "rcpt", reason: "dropped", text: "" }), false],
    ["a drop at DATA", new SmtpConnectionError({ upstream, phase: "data", reason: "dropped", text: "" }), false],
    ["451 at MAIL", new SmtpReplyError({ upstream, phase: "mail", code: 451, enhanced: undefined, text: "" }), false],
    ["a timeout at MAIL", new SmtpTimeoutError({ upstream, phase: "mail", timeoutMillis: 1 }), false],
    ["garbage at MAIL", new SmtpConnectionError({ upstream, phase: "mail", reason: "protocol", text: "" }), false],
    ["a bad address", new SmtpAddressError({ upstream, phase: "mail", address: "<" }), false]
  ]
  for (const [label, error, stale] of table) {
    it(`${label}: ${stale ? "stale, retry elsewhere" : "not stale"}`, () => {
      expect(SmtpPool.isStale(error)).toBe(stale)
    })
  }
})
