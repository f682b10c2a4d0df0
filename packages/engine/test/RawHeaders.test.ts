import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import { eventually, startEngine, upstream } from "./support/engine.js"

const from = "shop@example.com"
const to = ["ada@example.net"]

describe("raw messages", () => {
  it.scopedLive("one without Message-ID or Date gets them (the engine's id, the time of acceptance); one with them goes out as it is", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine({ upstreams: [upstream("sink", sink)] })
      const bare = "Subject: bare\r\nX-Seq: 1\r\n\r\nbody\r\n"
      const lf = "Subject: lf\nX-Seq: 2\n\nbody\n"
      // Names in another case, and a Date folded onto a second line, still count as theirs.
      const own = "message-id: <mine@example.org>\r\nSubject: own\r\nX-Seq: 3\r\nDATE: Tue, 1 Dec 2026\r\n 10:00:00 +0000\r\n\r\nbody\r\n"
      // A header-like line in the body is the body's.
      const inBody = "Subject: body\r\nX-Seq: 4\r\n\r\nDate: not a header\r\nMessage-ID: <nor@this>\r\n"
      const before = Date.now()
      const ids: Array<string> = []
      for (const raw of [bare, lf, own, inBody]) ids.push((yield* sluice.submit({ from, to, raw })).id)
      yield* eventually(() => sink.messages.length === 4, "the four messages")
      const received = (seq: number) => sink.messages.find((m) => m.data.toString().includes(`X-Seq: ${seq}`))!.data.toString()

      const first = received(1)
      expect(first).toMatch(new RegExp(`^Message-ID: <${ids[0]}@example\\.com>\\r\\nDate: [^\\r\\n]+\\r\\n${bare.replaceAll("\r\n", "\\r\\n")}$`))
      const date = Date.parse(/^Date: ([^\r\n]+)/m.exec(first)![1]!)
      expect(date).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000)
      expect(date).toBeLessThanOrEqual(Date.now())
      // In the message's own line ends (the sink sees them after SMTP's CRLF).
      expect(received(2)).toMatch(new RegExp(`^Message-ID: <${ids[1]}@example\\.com>\\r\\nDate: [^\\r\\n]+\\r\\nSubject: lf\\r\\n`))
      expect(received(3)).toBe(own)
      expect(received(4)).toMatch(new RegExp(`^Message-ID: <${ids[3]}@example\\.com>\\r\\nDate: [^\\r\\n]+\\r\\nSubject: body\\r\\n`))
      expect(received(4).endsWith("\r\n\r\nDate: not a header\r\nMessage-ID: <nor@this>\r\n")).toBe(true)
    }))

  it.scopedLive("one with a Message-ID but no Date gets only the Date", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { sluice } = yield* startEngine({ upstreams: [upstream("sink", sink)] })
      const raw = "Message-ID: <kept@example.org>\r\nSubject: half\r\n\r\nbody\r\n"
      yield* sluice.submit({ from, to, raw })
      yield* eventually(() => sink.messages.length === 1, "the message")
      expect(sink.messages[0]!.data.toString()).toMatch(/^Date: [^\r\n]+\r\nMessage-ID: <kept@example\.org>\r\nSubject: half\r\n\r\nbody\r\n$/)
    }))
})
