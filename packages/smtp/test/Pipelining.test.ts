import { describe, expect, it } from "@effect/vitest"
import { DataEncoding, SmtpPool } from "@sluice/smtp"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import { dotHeavy, firstDifference, normalized } from "./support/messages.js"
import * as RawServer from "./support/rawServer.js"
import { delivery, listSource, started, summary } from "./support/source.js"
import { options } from "./support/upstream.js"
import { eventually } from "./support/wait.js"

/** A raw server that records every chunk it reads, per connection, as latin1 text. */
const recordingServer = (extensions: ReadonlyArray<string>, onCommand?: RawServer.Script["onCommand"]) =>
  Effect.gen(function*() {
    const chunks = new Map<number, Array<string>>()
    const server = yield* RawServer.make({
      onChunk: (chunk, connection) => {
        const list = chunks.get(connection.id) ?? []
        list.push(chunk.toString("latin1"))
        chunks.set(connection.id, list)
      },
      onCommand: onCommand ?? RawServer.standard(extensions)
    })
    return { server, chunks }
  })

const wire = (content: string) => DataEncoding.encode(Buffer.from(content, "latin1")).toString("latin1")

describe("RFC 2920 pipelining", () => {
  it.scopedLive("on 354 the body, its end and the next transaction's MAIL, RCPT and DATA leave in one write", () =>
    Effect.gen(function*() {
      const { server, chunks } = yield* recordingServer(["PIPELINING"])
      const deliveries = [1, 2, 3, 4, 5].map((i) => delivery(i, `Subject: ${i}\r\n\r\n.line ${i}\r\n`))
      const list = listSource(deliveries)
      yield* started(options(server, { maxConnections: 1 }), list.source)
      yield* list.awaitEnded(5)

      expect([...list.ended.values()].map(summary)).toEqual(
        [1, 2, 3, 4, 5].map((i) => [`${i}@example.net delivered data 250`])
      )
      // Only the first transaction found the session fresh.
      expect([...list.ended.entries()].map(([id, ended]) => [id, ended.reused])).toEqual([
        [1, false],
        [2, true],
        [3, true],
        [4, true],
        [5, true]
      ])
      expect(server.connections()).toBe(1)
      const group = (i: number) => `MAIL FROM:<a@example.org>\r\nRCPT TO:<${i}@example.net>\r\nDATA\r\n`
      const read = chunks.get(1)!
      // EHLO alone; the first group alone; then each body with the next group, as one TCP read.
      expect(read.slice(0, 2)).toEqual(["EHLO client.test\r\n", group(1)])
      for (let i = 2; i <= 5; i++) {
        expect(read).toContain(wire(deliveries[i - 2]!.content.toString()) + group(i))
      }
      expect(read).toContain(wire(deliveries[4]!.content.toString()))
    }))

  it.scopedLive("without PIPELINING: lockstep, one command per write, each after the reply to the one before", () =>
    Effect.gen(function*() {
      const { server, chunks } = yield* recordingServer([], (line, connection) =>
        RawServer.verb(line) === "RCPT" && line.includes("refuse")
          ? connection.reply("550 5.1.1 no such user")
          : RawServer.standard()(line, connection))
      const list = listSource([
        delivery(1, "one\r\n", ["x@example.net", "refuse@example.net"]),
        delivery(2, "two\r\n", ["refuse@example.net"]),
        delivery(3, "three\r\n", ["y@example.net"])
      ])
      yield* started(options(server, { maxConnections: 1 }), list.source)
      yield* list.awaitEnded(3)
      expect([1, 2, 3].map((id) => summary(list.ended.get(id)))).toEqual([
        ["refuse@example.net permanent rcpt 550", "x@example.net delivered data 250"],
        ["refuse@example.net permanent rcpt 550"],
        ["y@example.net delivered data 250"]
      ])
      // Every write is one command or one whole message: nothing rode along with anything.
      expect(chunks.get(1)).toEqual([
        "EHLO client.test\r\n",
        "MAIL FROM:<a@example.org>\r\n",
        "RCPT TO:<x@example.net>\r\n",
        "RCPT TO:<refuse@example.net>\r\n",
        "DATA\r\n",
        "one\r\n.\r\n",
        "MAIL FROM:<a@example.org>\r\n",
        "RCPT TO:<refuse@example.net>\r\n",
        // No recipient: no DATA, and the envelope left on the server is reset (RFC 5321 §4.1.1.5).
        "RSET\r\n",
        "MAIL FROM:<a@example.org>\r\n",
        "RCPT TO:<y@example.net>\r\n",
        "DATA\r\n",
        "three\r\n.\r\n"
      ])
    }))

  it.scopedLive("354 after every RCPT failed (RFC 2920 §3.1): the empty message's end and the next group (after RSET) in one write", () =>
    Effect.gen(function*() {
      const bodies: Array<string> = []
      const { server, chunks } = yield* recordingServer(["PIPELINING"], (line, connection) => {
        switch (RawServer.verb(line)) {
          case "RCPT":
            return line.includes("refuse") ? connection.reply("550 5.1.1 no") : connection.reply("250 OK")
          case "DATA":
            // A server that answers DATA without looking at the recipients.
            connection.reply("354 go ahead")
            return connection.readData((body) => {
              bodies.push(body.toString("latin1"))
              connection.reply(body.length === 0 ? "554 5.5.1 no valid recipients" : "250 2.0.0 queued")
            })
          default:
            return RawServer.standard(["PIPELINING"])(line, connection)
        }
      })
      const list = listSource([
        delivery(1, "refused\r\n", ["refuse1@example.net", "refuse2@example.net"]),
        delivery(2, "kept\r\n", ["ok@example.net"])
      ])
      yield* started(options(server, { maxConnections: 1 }), list.source)
      yield* list.awaitEnded(2)
      expect([1, 2].map((id) => summary(list.ended.get(id)))).toEqual([
        ["refuse1@example.net permanent rcpt 550", "refuse2@example.net permanent rcpt 550"],
        ["ok@example.net delivered data 250"]
      ])
      expect(bodies).toEqual(["", "kept\r\n"])
      expect(chunks.get(1)).toContain(".\r\nRSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<ok@example.net>\r\nDATA\r\n")
      expect(server.commands.filter((line) => line === "RSET")).toHaveLength(1)
    }))

  it.scopedLive("a transaction pulled while the one before awaits its final reply goes out at once, behind it", () =>
    Effect.gen(function*() {
      // The final replies wait until the test lets them go, and so does every reply after them: a
      // server answers in order (RFC 2920 §3).
      const finals: Array<() => void> = []
      let holding = false
      const later: Array<() => void> = []
      const say = (connection: RawServer.RawConnection, line: string) =>
        holding ? later.push(() => connection.reply(line)) : connection.reply(line)
      const server = yield* RawServer.make({
        onCommand: (line, connection) => {
          switch (RawServer.verb(line)) {
            case "DATA":
              say(connection, "354 go ahead")
              return connection.readData(() => {
                holding = true
                finals.push(() => {
                  holding = false
                  connection.reply("250 2.0.0 queued")
                  for (const reply of later.splice(0)) reply()
                })
              })
            case "EHLO":
              return RawServer.standard(["PIPELINING"])(line, connection)
            default:
              return say(connection, "250 2.0.0 OK")
          }
        }
      })
      const list = listSource([delivery(1)])
      const pool = yield* started(options(server, { maxConnections: 1 }), list.source)
      yield* eventually(() => finals.length === 1)
      expect(pool.inFlight).toBe(1)
      // Work arrives while the first awaits its final reply: the connection pipelines it.
      list.add(delivery(2))
      pool.wake()
      yield* eventually(() => server.commands.filter((line) => line === "DATA").length === 2)
      expect(pool.inFlight).toBe(2)
      expect(pool.connections).toBe(1)
      expect(list.ended.size).toBe(0)
      finals.shift()!()
      yield* list.awaitEnded(1)
      yield* eventually(() => finals.length === 1)
      finals.shift()!()
      yield* list.awaitEnded(2)
      expect([1, 2].map((id) => summary(list.ended.get(id)))).toEqual([
        ["1@example.net delivered data 250"],
        ["2@example.net delivered data 250"]
      ])
    }))

  it.scopedLive("byte-exact DATA for messages full of dot lines, pipelined two deep over two connections", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const sender = yield* SmtpPool.sender(options(sink, { maxConnections: 2 }))
      const contents = [
        ...[1, 2, 3, 4, 5, 6, 7, 8].map((seed) => dotHeavy(seed, 600)),
        Buffer.from(".\r\n..\r\n.x\r\n...\r\n"),
        Buffer.from("a\r.\rb\n.\nc\r\n.\r"),
        Buffer.from("last line is a dot\r\n."),
        Buffer.alloc(0)
      ]
      const results = yield* Effect.forEach(
        contents,
        (content, i) => sender.send({ from: "from@example.org", to: [`m${i}@example.net`] }, content),
        { concurrency: "unbounded" }
      )
      expect(results.map((r) => r.recipients.map((x) => x.verdict))).toEqual(contents.map(() => ["delivered"]))
      expect(sink.messages).toHaveLength(contents.length)
      expect(sink.connections.total).toBeLessThanOrEqual(2)
      contents.forEach((content, i) => {
        const data = sink.messages.find((m) => m.to[0] === `m${i}@example.net`)!.data
        const expected = normalized(content)
        expect({ i, length: data.length, firstDifference: firstDifference(data, expected) }).toEqual({
          i,
          length: expected.length,
          firstDifference: -1
        })
      })
    }))
})
