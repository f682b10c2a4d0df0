import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { simpleParser } from "mailparser"
import MailComposer from "nodemailer/lib/mail-composer/index.js"
import type { Parts } from "../src/Compose.js"
import { compose } from "../src/Compose.js"
import * as Mime from "../src/internal/mime.js"

const base = { from: "shop@example.com", to: ["ada@example.net", "bob@example.org"] }
const longLine = "word ".repeat(300)

const cases: ReadonlyArray<[string, Parts]> = [
  ["text only", { ...base, subject: "Your order", text: "It ships today.\n.\n..\n.x\nbye." }],
  ["html only", { ...base, subject: "Hi", html: "<p>Hello</p>\n<p>.</p>" }],
  ["text and html", { ...base, subject: "Both", text: "plain\r\npart", html: "<b>html</b> part" }],
  ["no subject, LF and CRLF line ends mixed", { ...base, text: "a\nb\r\nc\n" }],
  ["a non-ASCII subject, long enough to fold", { ...base, subject: "Grüße aus Köln — ein langer Betreff, der über 76 Zeichen hinaus gefaltet werden muss", text: "x" }],
  ["Latin text with accents and a long line (quoted-printable)", { ...base, text: `Déjà vu, ça va?\n${longLine}\n= sign and trailing space \n` }],
  ["mostly non-Latin text (base64)", { ...base, subject: "日本語", text: "こんにちは世界。\n".repeat(40), html: "<p>こんにちは</p>" }],
  ["custom headers", { ...base, subject: "c", text: "t", headers: { "X-Campaign": "spring-2026", "X-Long": longLine.trim() } }],
  ["an empty text", { ...base, subject: "empty", text: "" }],
  ["subject only", { ...base, subject: "nothing else" }]
]

const parse = (bytes: Buffer) => Effect.promise(() => simpleParser(bytes))

const viaMailComposer = (parts: Parts) =>
  Effect.promise(() =>
    new MailComposer({ ...parts, to: [...parts.to], ...(parts.headers ? { headers: { ...parts.headers } } : {}) }).compile().build()
  )

/** What a reader of the message sees: the parts that must not depend on who composed it. */
const seen = (mail: Awaited<ReturnType<typeof simpleParser>>) => ({
  from: mail.from?.text,
  to: Array.isArray(mail.to) ? mail.to.map((to) => to.text) : mail.to?.text,
  subject: mail.subject,
  text: mail.text?.replace(/\n$/, "") || undefined,
  html: mail.html === false ? undefined : mail.html?.replace(/\n$/, ""),
  campaign: mail.headers.get("x-campaign"),
  long: mail.headers.get("x-long")
})

describe("composing MIME", () => {
  it.effect.each(cases)("%s: readers see what MailComposer's message shows", ([, parts]) =>
    Effect.gen(function*() {
      expect(Mime.canCompose(parts)).toBe(true)
      const ours = Mime.compose(parts)
      const theirs = yield* viaMailComposer(parts)
      const [mine, reference] = [yield* parse(ours), yield* parse(theirs)]
      expect(seen(mine)).toEqual(seen(reference))
      expect(mine.messageId).toMatch(/^<[0-9a-f-]{36}@example\.com>$/)
      expect(mine.date).toBeInstanceOf(Date)
      expect(ours.toString("latin1")).toContain("MIME-Version: 1.0\r\n")
    }))

  it.effect.each(cases)("%s: ASCII, CRLF line ends only, none longer than SMTP carries", ([, parts]) =>
    Effect.sync(() => {
      const bytes = Mime.compose(parts)
      // Built as Latin-1 (compose): right only because every byte is ASCII, as UTF-8 would write it.
      expect(bytes.every((byte) => byte < 0x80)).toBe(true)
      const text = bytes.toString("latin1")
      expect(text.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/)
      const lines = text.split("\r\n")
      const header = lines.slice(0, lines.indexOf(""))
      expect(Math.max(...header.map((line) => line.length))).toBeLessThanOrEqual(78)
      expect(Math.max(...lines.map((line) => line.length))).toBeLessThanOrEqual(998)
    }))

  // The rules as first written, with regular expressions over the normalized text: the one pass over
  // the text that replaced them must choose the same encoding and give the same lines.
  const reference = (text: string) => {
    const normalized = text.replace(/\r?\n|\r/g, "\r\n")
    const longLine = normalized.split("\r\n").some((line) => line.length > 998)
    const unsafe = normalized.match(/[^\t\r\n\x20-\x7e]/g)?.length ?? 0
    const encoding = unsafe === 0 && !longLine ? "7bit" : unsafe * 2 > normalized.length ? "base64" : "quoted-printable"
    return { encoding, normalized }
  }

  it.each([
    ["LF line ends", "one\ntwo\n"],
    ["CR alone, and CR before CRLF", "a\rb\r\r\nc"],
    ["line ends only", "\r\n\n\r"],
    ["a line of 998", "x".repeat(998)],
    ["a line of 999", "x".repeat(999)],
    ["998 then CRLF", `${"x".repeat(998)}\r\ny`],
    ["999 then LF", `${"x".repeat(999)}\ny`],
    ["999 then CR", `${"x".repeat(999)}\r`],
    ["a tab", "tab\there"],
    ["DEL", "del\x7f"],
    ["an emoji (two code units)", "smile 😀"],
    ["half non-ASCII", "éé abc"],
    ["mostly non-Latin", "日本語のテキスト\n".repeat(5)],
    ["empty", ""]
  ])("%s: the encoding and the line ends the rules give", (_, text) => {
    const { encoding, normalized } = reference(text)
    const message = Mime.compose({ ...base, text }).toString("utf8")
    expect(message).toContain(`Content-Transfer-Encoding: ${encoding}\r\n`)
    if (encoding === "7bit") expect(message.endsWith(`\r\n\r\n${normalized}${normalized.endsWith("\r\n") ? "" : "\r\n"}`)).toBe(true)
  })

  it("a Message-ID or Date among the headers is kept, and not doubled", () => {
    const text = Mime.compose({ ...base, text: "t", headers: { "Message-ID": "<mine@example.com>", Date: "Tue, 1 Dec 2026 10:00:00 +0000" } })
      .toString()
    expect(text.match(/^Message-ID:/gim)).toEqual(["Message-ID:"])
    expect(text).toContain("Message-ID: <mine@example.com>\r\n")
    expect(text.match(/^Date:/gim)).toEqual(["Date:"])
  })

  it("each multipart message has its own boundary", () => {
    const boundary = (bytes: Buffer) => /boundary="([^"]+)"/.exec(bytes.toString())?.[1]
    const parts = { ...base, text: "t", html: "h" }
    expect(boundary(Mime.compose(parts))).not.toEqual(boundary(Mime.compose(parts)))
  })

  it.effect.each([
    ["an internationalized address", { ...base, to: ["josé@exämple.net"], text: "t" }],
    ["a structured custom header", { ...base, text: "t", headers: { "Reply-To": "Help <help@example.com>" } }],
    ["a non-ASCII custom header", { ...base, text: "t", headers: { "X-Note": "naïve" } }]
  ] as const)("%s goes through MailComposer, and still reads right", ([, parts]) =>
    Effect.gen(function*() {
      expect(Mime.canCompose(parts)).toBe(false)
      const mail = yield* parse(yield* compose(parts))
      expect(mail.text).toBe("t\n")
      expect(mail.messageId).toBeDefined()
    }))
})
