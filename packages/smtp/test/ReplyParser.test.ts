import { describe, expect, it } from "@effect/vitest"
import { ReplyParser, replyCode } from "../src/internal/replyParser.js"

type Seen = readonly [code: number, lines: ReadonlyArray<string>] | "overflow"

/** Feeds the chunks in order and returns every reply (code and all its lines) or overflow seen. */
const read = (...chunks: ReadonlyArray<string>): Array<Seen> => {
  const seen: Array<Seen> = []
  const parser = new ReplyParser({
    onReply: (code, line, more) => seen.push([code, [...(more ?? []), line]]),
    onOverflow: () => seen.push("overflow")
  })
  for (const chunk of chunks) parser.feed(chunk)
  return seen
}

describe("ReplyParser", () => {
  // [chunks as they arrive, replies read]
  const table: ReadonlyArray<readonly [string, ReadonlyArray<string>, ReadonlyArray<Seen>]> = [
    ["one reply", ["250 2.0.0 OK\r\n"], [[250, ["250 2.0.0 OK"]]]],
    ["pipelined replies in one chunk", ["250 OK\r\n250 OK\r\n354 go\r\n"], [[250, ["250 OK"]], [250, ["250 OK"]], [354, ["354 go"]]]],
    ["a reply split inside its code", ["25", "0 OK\r\n"], [[250, ["250 OK"]]]],
    ["a reply split between CR and LF", ["250 OK\r", "\n"], [[250, ["250 OK"]]]],
    ["a multi-line reply over three chunks", ["250-a\r\n25", "0-b\r\n", "250 c\r\n"], [[250, ["250-a", "250-b", "250 c"]]]],
    ["a bare code", ["354\r\n"], [[354, ["354"]]]],
    ["a bare LF as the line end", ["250 OK\n221 bye\n"], [[250, ["250 OK"]], [221, ["221 bye"]]]],
    ["nothing until the line ends", ["250 OK"], []],
    ["garbage as a greeting", ["\u0000\u00ffHELLO garbage\r\n"], [[0, ["\u0000\u00ffHELLO garbage"]]]],
    ["an empty line", ["\r\n"], [[0, [""]]]],
    ["a code out of range", ["600 no\r\n199 no\r\n"], [[0, ["600 no"]], [0, ["199 no"]]]],
    ["a code run into its text", ["250OK\r\n"], [[0, ["250OK"]]]],
    ["UTF-8 text", ["550 5.1.1 \u00e9l\u00e8ve inconnu\r\n"], [[550, ["550 5.1.1 \u00e9l\u00e8ve inconnu"]]]]
  ]
  for (const [label, chunks, expected] of table) {
    it(label, () => {
      expect(read(...chunks)).toEqual(expected)
    })
  }

  it("stops at a line longer than any server sends, instead of buffering without end", () => {
    expect(read("250 ".padEnd(70_000, "x"))).toEqual(["overflow"])
  })

  it("stops at a reply of more lines than any server sends", () => {
    expect(read("250-x\r\n".repeat(1_001))).toEqual(["overflow"])
  })

  it("reads no further once stopped (the connection closed while a chunk was read)", () => {
    const seen: Array<number> = []
    const parser: ReplyParser = new ReplyParser({
      onReply: (code) => {
        seen.push(code)
        parser.stopped = true
      },
      onOverflow: () => {}
    })
    parser.feed("250 a\r\n250 b\r\n")
    expect(seen).toEqual([250])
  })
})

describe("replyCode", () => {
  it("is the code of a reply line (RFC 5321 §4.2), else 0", () => {
    expect(["220 ready", "250", "354 go", "421\tbye", "550-more", "abc", "2", "25", "", "650 x"].map(replyCode)).toEqual([
      220,
      250,
      354,
      421,
      0,
      0,
      0,
      0,
      0,
      0
    ])
  })
})
