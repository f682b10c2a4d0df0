import { describe, expect, it } from "@effect/vitest"
import type { SmtpError } from "@sluice/smtp"
import {
  SmtpAddressError,
  SmtpConnectionError,
  SmtpReply,
  SmtpReplyError,
  SmtpTimeoutError,
  SmtpUnsupportedError
} from "@sluice/smtp"

describe("SmtpReply.parse", () => {
  it("reads the code, the enhanced code and the text of a one-line reply", () => {
    expect(SmtpReply.parse(["550 5.1.1 no such user"])).toEqual({ code: 550, enhanced: "5.1.1", text: "no such user" })
  })

  it("leaves enhanced undefined when there is none", () => {
    expect(SmtpReply.parse(["220 mx.example.net ESMTP"])).toEqual({
      code: 220,
      enhanced: undefined,
      text: "mx.example.net ESMTP"
    })
    // A number that is not an enhanced code (RFC 3463: class 2, 4 or 5) stays in the text.
    expect(SmtpReply.parse(["250 3.1.4 pi"])).toEqual({ code: 250, enhanced: undefined, text: "3.1.4 pi" })
  })

  it("joins the lines of a multi-line reply and takes the code of the last", () => {
    expect(SmtpReply.parse(["451-4.3.0 try", "451-4.3.0 again", "451 4.3.0 later"])).toEqual({
      code: 451,
      enhanced: "4.3.0",
      text: "try again later"
    })
  })

  it("finds the enhanced code as RFC 3463's pattern does, on the edges of it", () => {
    // The pattern the hand-written reader follows: class, subject, detail, then white space or the end.
    const pattern = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)/
    const texts = ["2.0.0 ok", "2.0.0", "2.0.0\tok", "2.0.0  two spaces", "5.1.10 ok", "5.100.999 ok", "5.1000.1 no",
      "5.1.1000 no", "5.1.1x no", "3.1.4 no", "2.0 no", "2..0 no", "2.0. no", ".2.0.0 no", "4.7.1", "4.7.1 ", "2.0.0ok", ""]
    for (const text of texts) {
      const match = pattern.exec(text)
      expect(SmtpReply.parse([`250 ${text}`]), text).toEqual({
        code: 250,
        enhanced: match?.[1],
        text: (match === null ? text : text.slice(match[0].length)).trim()
      })
    }
  })

  it("reads a bare code", () => {
    expect(SmtpReply.parse(["354"])).toEqual({ code: 354, enhanced: undefined, text: "" })
    expect(SmtpReply.parse(["250 2.0.0"])).toEqual({ code: 250, enhanced: "2.0.0", text: "" })
  })
})

describe("SmtpReply.classifyReply", () => {
  const reply = (code: number, enhanced?: string): SmtpReply.SmtpReply => ({ code, enhanced, text: "" })
  // [code, enhanced, phase, verdict]
  const table: ReadonlyArray<readonly [number, string | undefined, "mail" | "rcpt" | "data", SmtpReply.Verdict]> = [
    [250, "2.1.5", "rcpt", "delivered"],
    [251, undefined, "rcpt", "delivered"],
    [354, undefined, "data", "delivered"],
    [421, "4.4.2", "mail", "transient"],
    [450, undefined, "rcpt", "transient"],
    [451, "4.3.0", "data", "transient"],
    [452, "4.5.3", "rcpt", "transient"],
    [550, "5.1.1", "rcpt", "permanent"],
    [554, undefined, "data", "permanent"],
    // RFC 5321 §4.5.3.1.10: 552 to RCPT is "too many recipients", to be retried.
    [552, undefined, "rcpt", "transient"],
    [552, "5.3.4", "data", "permanent"],
    [552, undefined, "mail", "permanent"],
    // x.5.3 (too many recipients) on RCPT, whatever the basic code.
    [550, "5.5.3", "rcpt", "transient"],
    [550, "5.5.3", "data", "permanent"]
  ]
  for (const [code, enhanced, phase, verdict] of table) {
    it(`${code} ${enhanced ?? "-"} to ${phase} is ${verdict}`, () => {
      expect(SmtpReply.classifyReply(reply(code, enhanced), phase)).toBe(verdict)
    })
  }
})

describe("SmtpReply.classifyError", () => {
  const upstream = "u"
  const table: ReadonlyArray<readonly [string, SmtpError, SmtpReply.Classification]> = [
    [
      "a refused connection",
      new SmtpConnectionError({ upstream, phase: "connect", reason: "refused", text: "" }),
      { verdict: "transient", upstreamFault: true }
    ],
    [
      "a drop during DATA",
      new SmtpConnectionError({ upstream, phase: "data", reason: "dropped", text: "" }),
      { verdict: "transient", upstreamFault: true }
    ],
    [
      "garbage where a reply to RCPT was owed",
      new SmtpConnectionError({ upstream, phase: "rcpt", reason: "protocol", text: "" }),
      { verdict: "transient", upstreamFault: true }
    ],
    [
      "a timeout",
      new SmtpTimeoutError({ upstream, phase: "mail", timeoutMillis: 1 }),
      { verdict: "transient", upstreamFault: true }
    ],
    [
      "a bad address",
      new SmtpAddressError({ upstream, phase: "rcpt", address: "a\r\nb" }),
      { verdict: "permanent", upstreamFault: false }
    ],
    [
      "no SMTPUTF8",
      new SmtpUnsupportedError({ upstream, phase: "mail", extension: "SMTPUTF8", text: "" }),
      { verdict: "permanent", upstreamFault: false }
    ],
    [
      "no STARTTLS",
      new SmtpUnsupportedError({ upstream, phase: "tls", extension: "STARTTLS", text: "" }),
      { verdict: "transient", upstreamFault: true }
    ],
    [
      "no AUTH",
      new SmtpUnsupportedError({ upstream, phase: "auth", extension: "AUTH", text: "" }),
      { verdict: "transient", upstreamFault: true }
    ],
    [
      "554 greeting",
      new SmtpReplyError({ upstream, phase: "greeting", code: 554, enhanced: undefined, text: "" }),
      { verdict: "transient", upstreamFault: true }
    ],
    [
      "535 to AUTH",
      new SmtpReplyError({ upstream, phase: "auth", code: 535, enhanced: "5.7.8", text: "" }),
      { verdict: "transient", upstreamFault: true }
    ],
    [
      "421 to MAIL",
      new SmtpReplyError({ upstream, phase: "mail", code: 421, enhanced: undefined, text: "" }),
      { verdict: "transient", upstreamFault: true }
    ],
    [
      "451 to MAIL",
      new SmtpReplyError({ upstream, phase: "mail", code: 451, enhanced: "4.3.0", text: "" }),
      { verdict: "transient", upstreamFault: true }
    ],
    [
      "550 to MAIL",
      new SmtpReplyError({ upstream, phase: "mail", code: 550, enhanced: "5.7.1", text: "" }),
      { verdict: "permanent", upstreamFault: false }
    ],
    [
      "552 to RCPT",
      new SmtpReplyError({ upstream, phase: "rcpt", code: 552, enhanced: undefined, text: "" }),
      { verdict: "transient", upstreamFault: false }
    ],
    [
      "554 to DATA",
      new SmtpReplyError({ upstream, phase: "data", code: 554, enhanced: undefined, text: "" }),
      { verdict: "permanent", upstreamFault: false }
    ]
  ]
  for (const [label, error, classification] of table) {
    it(`${label}: ${classification.verdict}${classification.upstreamFault ? ", the upstream's fault" : ""}`, () => {
      expect(SmtpReply.classifyError(error)).toEqual(classification)
    })
  }
})

describe("SmtpReply.replyClass", () => {
  it("labels a code by its first digit", () => {
    expect([220, 250, 354, 421, 451, 550, 554].map(SmtpReply.replyClass)).toEqual([
      "2xx",
      "2xx",
      "3xx",
      "4xx",
      "4xx",
      "5xx",
      "5xx"
    ])
  })

  it("labels anything that is no reply code as other, and never throws", () => {
    expect([0, 99, 199, 600, 999, -250, Number.NaN].map(SmtpReply.replyClass)).toEqual(Array(7).fill("other"))
  })
})
