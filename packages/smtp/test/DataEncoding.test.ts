import { describe, expect, it } from "@effect/vitest"
import { DataEncoding, SmtpSession } from "@sluice/smtp"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import { dotHeavy, firstDifference, normalized, seeded } from "./support/messages.js"
import { options } from "./support/upstream.js"

const bytes = (text: string) => Buffer.from(text, "latin1")
const show = (buffer: Uint8Array) => JSON.stringify(Buffer.from(buffer).toString("latin1"))

/** Undoes dot-stuffing and drops the final dot: what a receiving server reads back. */
const decode = (wire: Buffer): Buffer => {
  const text = wire.toString("latin1")
  expect(text.endsWith(".\r\n")).toBe(true)
  const lines = text.slice(0, -3).split("\r\n")
  lines.pop() // the empty rest after the last CRLF
  return bytes(lines.map((line) => line.startsWith(".") ? line.slice(1) : line).map((l) => `${l}\r\n`).join(""))
}

describe("DataEncoding.encode", () => {
  // [content, exact bytes on the wire]
  const cases: ReadonlyArray<readonly [string, string]> = [
    ["", ".\r\n"],
    ["a", "a\r\n.\r\n"],
    ["a\r\n", "a\r\n.\r\n"],
    ["a\r\nb\r\n", "a\r\nb\r\n.\r\n"],
    ["a\nb", "a\r\nb\r\n.\r\n"],
    ["a\rb\r", "a\r\nb\r\n.\r\n"],
    ["\r\n", "\r\n.\r\n"],
    ["\n\r", "\r\n\r\n.\r\n"],
    ["\r\r\n\n", "\r\n\r\n\r\n.\r\n"],
    [".", "..\r\n.\r\n"],
    ["..", "...\r\n.\r\n"],
    [".x\r\n", "..x\r\n.\r\n"],
    ["x.\r\n.x.", "x.\r\n..x.\r\n.\r\n"],
    ["a\r\n.", "a\r\n..\r\n.\r\n"],
    ["a\r\n.\r\n", "a\r\n..\r\n.\r\n"],
    // The SMTP smuggling shapes: an end of data written with bare LF or bare CR.
    ["a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"],
    ["a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"],
    ["a\n.\r\nb", "a\r\n..\r\nb\r\n.\r\n"],
    ["a\r\n.\rb", "a\r\n..\r\nb\r\n.\r\n"],
    ["\xe9t\xe9\n.\xff", "\xe9t\xe9\r\n..\xff\r\n.\r\n"]
  ]
  for (const [content, wire] of cases) {
    it(`${show(bytes(content))} -> ${show(bytes(wire))}`, () => {
      const encoded = DataEncoding.encode(bytes(content))
      expect(encoded.toString("latin1")).toBe(wire)
      expect(encoded.length).toBe(wire.length)
    })
  }

  it("copies every byte value but CR and LF unchanged", () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x0d && b !== 0x0a))
    expect(DataEncoding.encode(all)).toEqual(Buffer.concat([all, bytes("\r\n.\r\n")]))
  })

  it("keeps a 998-octet line whole", () => {
    const line = Buffer.alloc(998, 0x61)
    expect(DataEncoding.encode(Buffer.concat([line, bytes("\n"), line]))).toEqual(
      Buffer.concat([line, bytes("\r\n"), line, bytes("\r\n.\r\n")])
    )
  })

  it("leaves no line break but CRLF and no early end of data in thousands of dot lines", () => {
    for (const seed of [1, 2, 3]) {
      const content = dotHeavy(seed, 3_000)
      const wire = DataEncoding.encode(content)
      const text = wire.toString("latin1")
      expect(text.replace(/\r\n/g, "").includes("\r")).toBe(false)
      expect(text.replace(/\r\n/g, "").includes("\n")).toBe(false)
      expect(text.indexOf("\r\n.\r\n")).toBe(text.length - 5)
      expect(firstDifference(decode(wire), normalized(content))).toBe(-1)
    }
  })

  it("content already in CRLF, with and without dot lines, 8-bit bytes and a missing last line end", () => {
    const random = seeded(99)
    for (let n = 0; n < 500; n++) {
      const lines = Array.from({ length: Math.floor(random() * 40) }, () => {
        const dot = random() < 0.05 ? "." : ""
        const length = Math.floor(random() * 100)
        return dot + Array.from({ length }, () => String.fromCharCode(0x20 + Math.floor(random() * 0xdf))).join("")
      })
      const text = lines.join("\r\n") + (random() < 0.5 ? "\r\n" : "")
      const content = bytes(text)
      const wire = DataEncoding.encode(content)
      const shown = wire.toString("latin1")
      expect(shown.replace(/\r\n/g, "").includes("\r") || shown.replace(/\r\n/g, "").includes("\n")).toBe(false)
      expect(shown.indexOf("\r\n.\r\n") === shown.length - 5 || shown === ".\r\n").toBe(true)
      expect(firstDifference(decode(wire), normalized(content))).toBe(-1)
      // Without dot lines the content goes as it is, followed by its end: the same bytes.
      const end = DataEncoding.endOf(content)
      expect(end === undefined).toBe(lines.some((line) => line.startsWith(".")))
      if (end !== undefined) expect(Buffer.concat([content, bytes(end)]).equals(wire)).toBe(true)
    }
  })

  it("endOf: the end alone for content that needs no change, undefined for content that does", () => {
    const table: ReadonlyArray<readonly [string, string | undefined]> = [
      ["", ".\r\n"],
      ["a", "\r\n.\r\n"],
      ["a\r\n", ".\r\n"],
      ["a\r\nb", "\r\n.\r\n"],
      ["x.\r\ny.", "\r\n.\r\n"],
      ["\xe9\r\n", ".\r\n"],
      [".", undefined],
      ["a\r\n.b", undefined],
      ["a\nb", undefined],
      ["a\rb", undefined],
      ["a\r", undefined],
      ["\n", undefined]
    ]
    for (const [content, end] of table) expect([content, DataEncoding.endOf(bytes(content))]).toEqual([content, end])
  })

  it("accepts a Uint8Array that is not a Buffer", () => {
    expect(DataEncoding.encode(new Uint8Array([0x2e, 0x0a, 0x80])).toString("latin1")).toBe("..\r\n\x80\r\n.\r\n")
  })
})

describe("DataEncoding.has8bit", () => {
  it("is false for empty, ASCII and DEL-only content", () => {
    expect(DataEncoding.has8bit(new Uint8Array())).toBe(false)
    expect(DataEncoding.has8bit(bytes("Subject: hi\r\n\r\n.\r\n"))).toBe(false)
    expect(DataEncoding.has8bit(new Uint8Array([0x00, 0x7f]))).toBe(false)
  })

  it("is true for any byte from 0x80 to 0xff, and for UTF-8", () => {
    for (let byte = 0x80; byte <= 0xff; byte++) {
      expect(DataEncoding.has8bit(new Uint8Array([0x41, byte, 0x41]))).toBe(true)
    }
    expect(DataEncoding.has8bit(Buffer.from("caf\u00e9", "utf8"))).toBe(true)
  })
})

/** Contents that must come out of a real server as they went in, after line-break normalization. */
const samples = (): ReadonlyArray<readonly [string, Buffer]> => {
  const random = seeded(42)
  const line998 = Buffer.alloc(998, 0x78)
  const every8bit = Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i))
  return [
    ["lines of dots", bytes(".\r\n..\r\n.x\r\n...\r\nx.\r\n")],
    ["a lone dot as the last line", bytes("Subject: t\r\n\r\nbody\r\n.")],
    ["a lone dot as the last line, ended", bytes("Subject: t\r\n\r\nbody\r\n.\r\n")],
    ["a dot after bare CR and bare LF", bytes("a\r.\rb\n.\nc\r\n.\r")],
    ["mixed CRLF, LF and CR", bytes("one\r\ntwo\nthree\rfour\r\n\r\nfive\n\nsix")],
    ["998-octet lines", Buffer.concat([line998, bytes("\r\n."), line998.subarray(1), bytes("\n"), line998])],
    ["UTF-8", Buffer.from("Subject: =?utf-8?q?x?=\r\n\r\nGr\u00fc\u00dfe, \u4f60\u597d, \ud83d\udce8\r\n", "utf8")],
    ["every 8-bit byte", Buffer.concat([bytes("8bit: "), every8bit, bytes("\r\n."), every8bit])],
    ["empty", Buffer.alloc(0)],
    ["a single CRLF", bytes("\r\n")],
    ["thousands of dot lines and random lines", dotHeavy(Math.floor(random() * 1e9), 4_000)]
  ]
}

describe("DataEncoding over SMTP", () => {
  for (const pipelining of [true, false]) {
    it.scopedLive(`a sink reads back every sample byte for byte (PIPELINING ${pipelining ? "offered" : "hidden"})`, () =>
      Effect.gen(function*() {
        const sink = yield* Sink.make(pipelining ? {} : { hide: ["PIPELINING"] })
        const session = yield* SmtpSession.open(options(sink))
        expect(session.extensions.has("PIPELINING")).toBe(pipelining)
        expect(session.extensions.has("8BITMIME")).toBe(true)

        const contents = samples()
        for (const [label, content] of contents) {
          const result = yield* session.send({ from: "from@example.org", to: [`${label.length}@example.net`] }, content)
          expect(result.recipients.map((r) => r.verdict), label).toEqual(["delivered"])
        }

        expect(sink.messages).toHaveLength(contents.length)
        contents.forEach(([label, content], i) => {
          const data = sink.messages[i]!.data
          const expected = normalized(content)
          expect({ label, length: data.length, firstDifference: firstDifference(data, expected) }).toEqual({
            label,
            length: expected.length,
            firstDifference: -1
          })
        })
        expect(sink.connections.total).toBe(1)
        expect(session.transactions).toBe(contents.length)
      }))
  }
})
