import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import * as Net from "node:net"
import { createTransport } from "nodemailer"

// nodemailer is the client here: an SMTP implementation independent of @sluice/smtp.
const transport = (sink: Sink.Sink) =>
  createTransport({
    host: sink.host,
    port: sink.port,
    secure: false,
    ignoreTLS: true,
    name: "client.test",
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 5_000
  })

const send = (sink: Sink.Sink, envelope: { from: string; to: Array<string> }, raw: string | Buffer) =>
  Effect.tryPromise({
    try: () => {
      const client = transport(sink)
      return client.sendMail({ envelope, raw }).finally(() => client.close())
    },
    catch: (error) => error as Error & { responseCode?: number }
  })

/** nodemailer reports why each refused recipient was refused; its type declarations leave this out. */
const rejectedCodes = (info: object) =>
  (info as { rejectedErrors?: ReadonlyArray<{ responseCode?: number }> }).rejectedErrors?.map((e) => e.responseCode)

const message = "Subject: sink\r\n\r\n.leading dot\r\nline two\r\n"

/** Whether something accepts TCP connections on the port. */
const listening = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

describe("Sink", () => {
  it.scopedLive("records the envelope and the unstuffed bytes of each message", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      expect(sink.host).toBe("127.0.0.1")
      expect(sink.port).toBeGreaterThan(0)
      const info = yield* send(sink, { from: "a@example.org", to: ["b@example.net", "c@example.net"] }, message)
      expect(info.accepted).toEqual(["b@example.net", "c@example.net"])
      yield* send(sink, { from: "d@example.org", to: ["e@example.net"] }, Buffer.from("8bit: \xe9\xff\r\n", "latin1"))

      expect(sink.received).toBe(2)
      expect(sink.messages).toEqual([
        { from: "a@example.org", to: ["b@example.net", "c@example.net"], data: Buffer.from(message), size: Buffer.byteLength(message), connection: 1 },
        {
          from: "d@example.org",
          to: ["e@example.net"],
          data: Buffer.from("8bit: \xe9\xff\r\n", "latin1"),
          size: 10,
          connection: 2
        }
      ])
      expect(sink.connections.total).toBe(2)
    }))

  it.scopedLive(`record "count" keeps a count, not the messages`, () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ record: "count" })
      for (let i = 0; i < 3; i++) yield* send(sink, { from: "a@example.org", to: ["b@example.net"] }, message)
      expect(sink.received).toBe(3)
      expect(sink.messages).toEqual([])
    }))

  it.scopedLive("refuses a recipient whose local part ends in +5xx or +4xx, and takes the others", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const info = yield* send(
        sink,
        { from: "a@example.org", to: ["ok@example.net", "gone+550@example.net", "later+451@example.net"] },
        message
      )
      expect(info.accepted).toEqual(["ok@example.net"])
      expect(info.rejected).toEqual(["gone+550@example.net", "later+451@example.net"])
      expect(rejectedCodes(info)).toEqual([550, 451])
      expect(sink.messages.map((m) => m.to)).toEqual([["ok@example.net"]])
    }))

  it.scopedLive("every recipient refused: no message", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const error = yield* Effect.flip(send(sink, { from: "a@example.org", to: ["x+550@example.net"] }, message))
      expect(error.responseCode).toBe(550)
      expect(sink.received).toBe(0)
    }))

  it("defaultRcpt reads the code from the address", () => {
    expect(Sink.defaultRcpt("x+550@example.net")).toEqual({ code: 550, text: "refused as the address asks (550)" })
    expect(Sink.defaultRcpt("x+451@example.net")?.code).toBe(451)
    expect(Sink.defaultRcpt("a.b+552@example.net")?.code).toBe(552)
    for (const accepted of ["x@example.net", "x+250@example.net", "x+5500@example.net", "x+55@example.net", "550@example.net"]) {
      expect(Sink.defaultRcpt(accepted), accepted).toBeUndefined()
    }
  })

  it.scopedLive("onRcptTo replaces the default rule", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ onRcptTo: (address) => address.startsWith("no") ? { code: 553 } : undefined })
      const info = yield* send(sink, { from: "a@example.org", to: ["x+550@example.net", "no@example.net"] }, message)
      expect(info.accepted).toEqual(["x+550@example.net"])
      expect(rejectedCodes(info)).toEqual([553])
    }))

  it.scopedLive("refuses at the greeting when told to, and closes", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({ greeting: { code: 554, text: "no service here" } })
      const error = yield* Effect.flip(send(sink, { from: "a@example.org", to: ["b@example.net"] }, message))
      expect(error.responseCode).toBe(554)
      expect(error.message).toContain("no service here")
      expect(sink.received).toBe(0)
      expect(sink.connections.total).toBe(1)
    }))

  it.scopedLive("refuses MAIL FROM and the final reply to DATA when told to", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make({
        onMailFrom: (address) => address === "spam@example.org" ? { code: 550, text: "sender refused" } : undefined,
        onData: (m) => m.data.includes("virus") ? { code: 554, text: "content refused" } : undefined
      })
      const mail = yield* Effect.flip(send(sink, { from: "spam@example.org", to: ["b@example.net"] }, message))
      expect(mail.responseCode).toBe(550)
      const data = yield* Effect.flip(send(sink, { from: "a@example.org", to: ["b@example.net"] }, "Subject: virus\r\n\r\n"))
      expect(data.responseCode).toBe(554)
      yield* send(sink, { from: "a@example.org", to: ["b@example.net"] }, message)
      expect(sink.received).toBe(1)
      expect(sink.messages.map((m) => m.from)).toEqual(["a@example.org"])
    }))

  it.scopedLive("counts connections: open, total and peak", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      yield* Effect.all(
        Array.from({ length: 4 }, (_, i) => send(sink, { from: "a@example.org", to: [`r${i}@example.net`] }, message)),
        { concurrency: "unbounded" }
      )
      expect(sink.received).toBe(4)
      expect(sink.connections.total).toBe(4)
      expect(sink.connections.peak).toBeGreaterThanOrEqual(1)
      expect(sink.connections.peak).toBeLessThanOrEqual(4)
      // nodemailer has said QUIT on each; the sink sees the sockets close.
      for (let i = 0; i < 200 && sink.connections.open > 0; i++) yield* Effect.sleep("10 millis")
      expect(sink.connections.open).toBe(0)
    }))

  it.effect("closing the scope stops the server", () =>
    Effect.gen(function*() {
      const port = yield* Effect.scoped(Effect.gen(function*() {
        const sink = yield* Sink.make()
        expect(yield* listening(sink.port)).toBe(true)
        return sink.port
      }))
      expect(yield* listening(port)).toBe(false)
    }))
})
