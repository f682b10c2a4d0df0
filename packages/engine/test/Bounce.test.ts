import { describe, expect, it } from "@effect/vitest"
import { SmtpReply } from "@sluice/smtp"
import { Effect } from "effect"
import type { Category, Classifiable } from "../src/Bounce.js"
import * as Bounce from "../src/Bounce.js"
import { rules as builtInRules } from "../src/internal/bounce-rules.js"
import * as Config from "../src/Config.js"

/** A reply as the server sent it, line by line, parsed the way a session parses it (enhanced code split off). */
const reply = (...lines: ReadonlyArray<string>): Classifiable => SmtpReply.parse(lines)

// Replies as real servers send them (provider help pages, Postfix/Exim/Sendmail/qmail sources, the sample
// texts in KumoMTA's and ZoneMTA's rule files), each with the category it must get. Several are there
// because a naive reading gets them wrong: the note says which.
const cases: ReadonlyArray<{ readonly reply: Classifiable; readonly category: Category; readonly note?: string }> = [
  // bad-mailbox
  {
    reply: reply(
      "550-5.1.1 The email account that you tried to reach does not exist. Please try",
      "550-5.1.1 double-checking the recipient's email address for typos or",
      "550-5.1.1 unnecessary spaces. For more information, go to",
      "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-1234si.123 - gsmtp"
    ),
    category: "bad-mailbox"
  },
  { reply: reply("550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown in virtual mailbox table"), category: "bad-mailbox" },
  { reply: reply("550 5.1.1 <jane@example.com>... User unknown"), category: "bad-mailbox" },
  { reply: reply("550 No Such User Here"), category: "bad-mailbox", note: "Exim, no enhanced code" },
  { reply: reply("550 sorry, no mailbox here by that name. (#5.1.1)"), category: "bad-mailbox", note: "qmail" },
  {
    reply: reply("550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [BN8NAM12FT045.eop-nam12.prod.protection.outlook.com]"),
    category: "bad-mailbox",
    note: "Outlook.com: 5.5.0 alone would say protocol"
  },
  {
    reply: reply("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient jane@contoso.com not found by SMTP address lookup"),
    category: "bad-mailbox",
    note: "Microsoft 365: x.1.10 is null MX in the registry"
  },
  {
    reply: reply("550 5.4.1 Recipient address rejected: Access denied. For more information see https://aka.ms/EXOSmtpErrors [AM4PEPF00027A5F.eurprd04.prod.outlook.com]"),
    category: "bad-mailbox",
    note: "Microsoft 365 directory-based edge blocking: x.4.1 alone would say routing"
  },
  {
    reply: reply("554 delivery error: dd This user doesn't have a yahoo.com account (jane@yahoo.com) [0] - mta1234.mail.ne1.yahoo.com"),
    category: "bad-mailbox"
  },
  { reply: reply("552 1 Requested mail action aborted, mailbox not found"), category: "bad-mailbox", note: "Yahoo: 552 alone would say mailbox-full" },
  { reply: reply("550 5.7.17 Mailbox owner has changed"), category: "bad-mailbox", note: "RFC 7293" },
  { reply: reply("550 5.2.1 <JANE@PRODIGY.NET>... Addressee unknown, relay=[198.51.100.7]"), category: "bad-mailbox", note: "AT&T: 5.2.1 alone would say inactive-mailbox" },
  { reply: reply("550 Requested action not taken: mailbox unavailable"), category: "bad-mailbox" },
  { reply: reply("501 5.1.3 Bad recipient address syntax"), category: "bad-mailbox", note: "the enhanced code before the basic 501" },

  // bad-domain
  { reply: reply("550 5.1.2 <jane@nowhere.example>: Recipient address rejected: Domain not found"), category: "bad-domain" },
  {
    reply: reply("550 5.4.4 Host or domain name not found. Name service error for name=nowhere.example type=AAAA: Host not found"),
    category: "bad-domain",
    note: "Postfix gives it 5.4.4"
  },
  { reply: reply("556 5.1.10 Recipient address has null MX"), category: "bad-domain", note: "RFC 7505" },
  { reply: reply("550 5.1.2 Bad destination system address"), category: "bad-domain" },
  { reply: reply("556 Domain does not accept mail"), category: "bad-domain", note: "RFC 7504" },

  // inactive-mailbox
  {
    reply: reply(
      "550-5.2.1 The email account that you tried to reach is disabled. Learn more at",
      "550 5.2.1  https://support.google.com/mail/?p=DisabledUser 41be03b00d2f7-1234si.123 - gsmtp"
    ),
    category: "inactive-mailbox"
  },
  {
    reply: reply("554 30 Sorry, your message to jane@yahoo.com cannot be delivered. This mailbox is disabled (554.30)."),
    category: "inactive-mailbox"
  },
  {
    reply: reply(
      "552-5.2.2 The recipient's inbox is out of storage space and inactive. Please direct the",
      "552 5.2.2 recipient to https://support.google.com/mail/?p=OverQuotaPerm 41be03b00d2f7-1234si.123 - gsmtp"
    ),
    category: "inactive-mailbox",
    note: "Gmail: full for good, not for now"
  },
  { reply: reply("551 User not local; please try <jane@new.example>"), category: "inactive-mailbox" },
  { reply: reply("551 5.1.6 Recipient mailbox has moved, no forwarding address"), category: "inactive-mailbox" },
  { reply: reply("550 5.2.1 <jane@hot.ee> is expired account"), category: "inactive-mailbox" },
  { reply: reply("550 5.2.1 <jane@example.com>: Mailbox unavailable"), category: "inactive-mailbox", note: "the code over the wording" },

  // mailbox-full
  {
    reply: reply(
      "452-4.2.2 The recipient's inbox is out of storage space. Please direct the",
      "452 4.2.2 recipient to https://support.google.com/mail/?p=OverQuotaTemp 41be03b00d2f7-1234si.123 - gsmtp"
    ),
    category: "mailbox-full"
  },
  { reply: reply("452 4.2.2 The email account that you tried to reach is over quota."), category: "mailbox-full" },
  {
    reply: reply("554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded"),
    category: "mailbox-full"
  },
  { reply: reply("552 5.2.2 <jane@example.com> Quota exceeded (mailbox for user is full)"), category: "mailbox-full", note: "Dovecot" },
  { reply: reply("552 Requested mail action aborted: exceeded storage allocation"), category: "mailbox-full" },
  { reply: reply("452 <jane@example.com>: Mailbox is full"), category: "mailbox-full", note: "no enhanced code" },
  {
    reply: reply("552 5.2.2 cannot update mailbox /var/mail/jane for user jane. error writing message: File too large"),
    category: "mailbox-full",
    note: "Postfix local: \"too large\" is the mailbox file"
  },

  // policy
  { reply: reply("554 5.7.1 <jane@example.com>: Relay access denied"), category: "policy" },
  { reply: reply("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"), category: "policy", note: "qmail" },
  {
    reply: reply(
      "550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail",
      "550-5.7.26 requires all senders to authenticate with either SPF or DKIM.",
      "550-5.7.26  Authentication results: DKIM = did not pass SPF [example.com] with ip:",
      "550-5.7.26 [203.0.113.5] = did not pass For instructions on setting up authentication, go to",
      "550 5.7.26  https://support.google.com/mail/answer/81126#authentication 41be03b00d2f7-1234si.123 - gsmtp"
    ),
    category: "policy",
    note: "\"blocked\", yet authentication"
  },
  {
    reply: reply("550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification and has a DMARC policy of reject."),
    category: "policy"
  },
  { reply: reply("554 5.7.9 Message not accepted for policy reasons. See https://senders.yahooinc.com/error-codes"), category: "policy" },
  {
    reply: reply(
      "550-5.7.1 [203.0.113.5] The IP you're using to send mail is not authorized to",
      "550-5.7.1 send email directly to our servers. Please use the SMTP relay at your",
      "550 5.7.1 service provider instead. https://support.google.com/mail/?p=NotAuthorizedError - gsmtp"
    ),
    category: "policy"
  },
  {
    reply: reply("553 5.1.8 <news@example.com>... Domain of sender address news@example.com does not exist"),
    category: "policy",
    note: "Sendmail: our sender's domain, not the recipient's"
  },
  { reply: reply("550 5.7.1 <news@example.com>: Sender address rejected: not owned by user"), category: "policy" },
  { reply: reply("501 5.1.7 Invalid address"), category: "policy", note: "Exchange, of MAIL FROM: not a recipient's address" },
  { reply: reply("550-Verification failed for <news@example.com>", "550 Sender verify failed"), category: "policy", note: "Exim" },
  { reply: reply("550 5.7.1 Blacklisted by recipient"), category: "policy", note: "one person's block, not a block list" },
  { reply: reply("550 Administrative prohibition"), category: "policy", note: "Exim" },
  { reply: reply("550 Denied by policy"), category: "policy" },
  { reply: reply("550 5.7.1 Message blocked due to local policy"), category: "policy", note: "\"blocked\", by a policy named" },
  { reply: reply("450 4.7.1 Client host rejected: cannot find your hostname, [203.0.113.5]"), category: "policy" },
  { reply: reply("550 5.4.5 Daily user sending quota exceeded."), category: "policy", note: "a relay's limit on us, not a full mailbox" },

  // spam-related
  {
    reply: reply(
      "550-5.7.1 [203.0.113.5] Our system has detected that this message is likely",
      "550-5.7.1 unsolicited mail. To reduce the amount of spam sent to Gmail, this message",
      "550 5.7.1 has been blocked. https://support.google.com/mail/?p=UnsolicitedMessageError - gsmtp"
    ),
    category: "spam-related"
  },
  {
    reply: reply(
      "421-4.7.0 [203.0.113.5] Our system has detected an unusual rate of",
      "421-4.7.0 unsolicited mail originating from your IP address. To protect our",
      "421-4.7.0 users from spam, mail sent from your IP address has been temporarily",
      "421 4.7.0 rate limited. https://support.google.com/mail/?p=UnsolicitedRateLimitError - gsmtp"
    ),
    category: "spam-related",
    note: "rate limited, yet for spam"
  },
  {
    reply: reply(
      "421-4.7.28 Gmail has detected an unusual rate of mail originating from your SPF domain",
      "421 4.7.28 [example.com 1]. To protect our users from spam, mail sent from your domain has been temporarily rate limited."
    ),
    category: "spam-related",
    note: "mentions SPF, yet for spam"
  },
  {
    reply: reply("550 5.7.1 Service unavailable, Client host [203.0.113.5] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/203.0.113.5 AS(1450)"),
    category: "spam-related"
  },
  {
    reply: reply("451 4.7.650 The mail server [203.0.113.5] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)"),
    category: "spam-related"
  },
  {
    reply: reply("550 5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150)."),
    category: "spam-related"
  },
  {
    reply: reply("550 5.7.606 Access denied, banned sending IP [203.0.113.5]. To request removal from this list please visit https://sender.office.com/"),
    category: "spam-related"
  },
  {
    reply: reply("421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"),
    category: "spam-related"
  },
  {
    reply: reply("553 5.7.1 [BL21] Connections will not be accepted from 203.0.113.5, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes"),
    category: "spam-related"
  },
  {
    reply: reply("554 resimta-ch2-18v.sys.comcast.net 203.0.113.5 found on one or more DNSBLs, see http://postmaster.comcast.net/smtp-error-codes.php#BL000010"),
    category: "spam-related"
  },
  { reply: reply("554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org"), category: "spam-related" },
  { reply: reply("550 5.7.1 Message blocked"), category: "spam-related", note: "blocked, and no policy named" },

  // content
  {
    reply: reply(
      "552-5.2.3 Your message exceeded Google's message size limits. Please visit",
      "552 5.2.3  https://support.google.com/mail/?p=MaxSizeError to view our size guidelines. - gsmtp"
    ),
    category: "content"
  },
  { reply: reply("552 5.3.4 Message size exceeds fixed limit"), category: "content" },
  { reply: reply("552 Message size exceeds maximum permitted"), category: "content", note: "552 alone would say mailbox-full" },
  {
    reply: reply(
      "552-5.7.0 This message was blocked because its content presents a potential",
      "552-5.7.0 security issue. Please visit https://support.google.com/mail/?p=BlockedMessage",
      "552 5.7.0 to review our message content and attachment content guidelines. - gsmtp"
    ),
    category: "content",
    note: "\"blocked\", yet for its content"
  },
  {
    reply: reply(
      "550-5.7.1 [203.0.113.5] Messages missing a valid address in From: header, or having no",
      "550 5.7.1 From: header, are not accepted. - gsmtp"
    ),
    category: "content"
  },
  { reply: reply("554 5.7.1 Virus Eicar-Test-Signature detected by ClamAV - https://www.clamav.net"), category: "content" },
  { reply: reply("554 5.6.211 Invalid MIME Content: Single text value size (32004) exceeded allowed maximum (32000)"), category: "content" },

  // routing
  { reply: reply("550 Unrouteable address"), category: "routing", note: "Exim" },
  { reply: reply("554 5.4.6 mail for example.com loops back to myself"), category: "routing" },
  { reply: reply("554 5.4.14 Hop count exceeded - possible mail loop ATTR34"), category: "routing" },
  { reply: reply("550 5.4.4 Unable to route"), category: "routing" },

  // protocol
  { reply: reply("500 5.5.1 Command unrecognized: \"XYZZY\""), category: "protocol" },
  { reply: reply("503 5.5.1 Error: need RCPT command"), category: "protocol" },
  { reply: reply("501 Syntax error in parameters or arguments"), category: "protocol", note: "no enhanced code" },
  { reply: reply("555 5.5.4 Unsupported option: SMTPUTF8"), category: "protocol" },

  // transient
  {
    reply: reply("450 4.2.0 <jane@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html"),
    category: "transient"
  },
  { reply: reply("451 4.7.1 Greylisting in action, please come back later"), category: "transient", note: "x.7.1 alone would say policy" },
  {
    reply: reply(
      "450-4.2.1 The user you are trying to contact is receiving mail too quickly. Please",
      "450 4.2.1 resend your message at a later time. https://support.google.com/mail/?p=ReceivingRate - gsmtp"
    ),
    category: "transient",
    note: "x.2.1 alone would say inactive-mailbox"
  },
  { reply: reply("421-4.3.0 Temporary System Problem.  Try again later (10). - gsmtp"), category: "transient" },
  { reply: reply("451 4.4.1 No answer from host"), category: "transient", note: "x.4.x alone would say routing" },
  { reply: reply("452 4.5.3 Too many recipients"), category: "transient", note: "RFC 5321 §4.5.3.1.10" },
  { reply: reply("552 5.5.3 Too many recipients"), category: "transient" },
  { reply: reply("452 Too many recipients"), category: "transient" },
  { reply: reply("451 Requested action aborted: local error in processing"), category: "transient" },
  { reply: reply("454 Throttling failure: Maximum sending rate exceeded."), category: "transient", note: "Amazon SES" },
  { reply: reply("454 Throttling failure: Daily message quota exceeded."), category: "transient", note: "Amazon SES: our quota, not a mailbox's" },
  { reply: reply("552 Too many recipients"), category: "transient", note: "552 alone would say mailbox-full" },
  { reply: reply("421 Service not available, closing transmission channel"), category: "transient" },

  // other
  { reply: reply("554 Transaction failed"), category: "other" },
  { reply: reply("550 Requested action not taken"), category: "other" },
  { reply: reply("554 5.0.0 Service unavailable"), category: "other" }
]

// Errors without a reply: the text is the error's message (SmtpError), never a server's verdict.
const noReply: ReadonlyArray<string> = [
  "relay: refused during connect: connect ECONNREFUSED 127.0.0.1:2525",
  "relay: dropped during data: socket hang up",
  "relay: tls during tls: unable to verify the first certificate",
  "relay: no reply during rcpt within 60000 ms",
  "every available upstream failed it",
  // Words the built-in rules would judge, here in an address and an upstream's name
  "spam-trap: \"user-unknown.mailbox-full@blocked.example\" cannot be sent in RCPT",
  "blacklist: Host or domain name not found: relay access denied"
]

describe("Bounce", () => {
  describe("classify (the built-in rules)", () => {
    it.each(cases)("$reply.code $reply.enhanced $reply.text → $category", ({ category, reply }) => {
      expect(Bounce.classify(reply)).toBe(category)
    })

    it("has cases for every category", () => {
      expect(new Set(cases.map((c) => c.category))).toEqual(new Set(Bounce.categories))
    })

    it.each(noReply)("an error without a reply is transient: %s", (text) => {
      expect(Bounce.classify({ text })).toBe("transient")
    })

    it("names a code or an enhanced code in every built-in rule, so no rule judges an error without a reply", () => {
      for (const rule of builtInRules) {
        expect(rule.code !== undefined || rule.enhanced !== undefined, JSON.stringify(rule)).toBe(true)
      }
    })

    it("decodes the built-in rules as a config's rules, so each can be copied into one", () => {
      const decoded = Effect.runSync(Config.decode({ upstreams: [{ host: "relay.example", port: 25 }], bounces: { rules: builtInRules } }))
      expect(decoded.bounces.rules).toEqual(builtInRules)
    })
  })

  describe("by the codes, when no text tells", () => {
    const fallbacks: ReadonlyArray<{ readonly reply: Classifiable; readonly category: Category }> = [
      // RFC 3463, the subject and detail of the enhanced code, whatever the class
      { reply: { code: 550, enhanced: "5.1.1", text: "" }, category: "bad-mailbox" },
      { reply: { code: 450, enhanced: "4.1.1", text: "" }, category: "bad-mailbox" },
      { reply: { code: 550, enhanced: "5.1.2", text: "" }, category: "bad-domain" },
      { reply: { code: 550, enhanced: "5.1.10", text: "" }, category: "bad-domain" },
      { reply: { code: 550, enhanced: "5.1.6", text: "" }, category: "inactive-mailbox" },
      { reply: { code: 550, enhanced: "5.1.8", text: "" }, category: "policy" },
      { reply: { code: 450, enhanced: "4.2.1", text: "" }, category: "inactive-mailbox" },
      { reply: { code: 552, enhanced: "5.2.2", text: "" }, category: "mailbox-full" },
      { reply: { code: 552, enhanced: "5.2.3", text: "" }, category: "content" },
      { reply: { code: 552, enhanced: "5.3.4", text: "" }, category: "content" },
      { reply: { code: 550, enhanced: "5.4.4", text: "" }, category: "routing" },
      { reply: { code: 550, enhanced: "5.4.7", text: "" }, category: "routing" },
      { reply: { code: 550, enhanced: "5.5.2", text: "" }, category: "protocol" },
      { reply: { code: 554, enhanced: "5.6.1", text: "" }, category: "content" },
      { reply: { code: 550, enhanced: "5.7.1", text: "" }, category: "policy" },
      { reply: { code: 450, enhanced: "4.7.1", text: "" }, category: "policy" },
      { reply: { code: 550, enhanced: "5.7.13", text: "" }, category: "policy" },
      { reply: { code: 550, enhanced: "5.7.18", text: "" }, category: "bad-domain" },
      // the built-in rules' exceptions
      { reply: { code: 451, enhanced: "4.4.7", text: "" }, category: "transient" },
      { reply: { code: 550, enhanced: "5.5.3", text: "" }, category: "transient" },
      { reply: { code: 550, enhanced: "5.2.1", text: "" }, category: "inactive-mailbox" },
      // an enhanced code that says nothing more: the basic code, then the class
      { reply: { code: 503, enhanced: "5.0.0", text: "" }, category: "protocol" },
      { reply: { code: 552, text: "" }, category: "mailbox-full" },
      { reply: { code: 550, enhanced: "5.0.0", text: "" }, category: "other" },
      { reply: { code: 550, enhanced: "5.3.0", text: "" }, category: "other" },
      { reply: { code: 451, enhanced: "4.3.0", text: "" }, category: "transient" },
      { reply: { code: 421, text: "" }, category: "transient" },
      { reply: { code: 554, text: "" }, category: "other" },
      { reply: { text: "" }, category: "transient" },
      // an enhanced code that is not one is ignored
      { reply: { code: 550, enhanced: "5.1", text: "" }, category: "other" },
      { reply: { code: 550, enhanced: "5.1.1.1", text: "" }, category: "other" },
      { reply: { code: 550, enhanced: "55.1.1", text: "" }, category: "other" },
      { reply: { code: 550, enhanced: "5.1.1002", text: "" }, category: "other" },
      { reply: { code: 550, enhanced: "5..1", text: "" }, category: "other" },
      { reply: { code: 450, enhanced: "x.1.1", text: "" }, category: "transient" },
      // a garbled code is no code
      { reply: { code: Number.NaN, text: "" }, category: "transient" },
      { reply: { code: Number.NaN, enhanced: "5.7.1", text: "203.0.113.5 listed at zen.spamhaus.org" }, category: "policy" }
    ]

    it.each(fallbacks)("$reply.code $reply.enhanced → $category", ({ category, reply }) => {
      expect(Bounce.classify(reply)).toBe(category)
    })
  })

  describe("make (the user's rules)", () => {
    const spamhaus = reply("554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org")
    const unknown = reply("550 5.1.1 <jane@example.com>... User unknown")

    it("tries the user's rules before the built-in ones, in their order", () => {
      const classify = Bounce.make([
        { category: "transient", text: "spamhaus" },
        { category: "other", text: "zen" }
      ])
      expect(classify(spamhaus)).toBe("transient")
      // the others still go by the built-in rules
      expect(classify(unknown)).toBe("bad-mailbox")
      expect(Bounce.classify(spamhaus)).toBe("spam-related")
    })

    it("beats the fallback too", () => {
      expect(Bounce.make([{ category: "other", enhanced: "5.1.1" }])(unknown)).toBe("other")
      expect(Bounce.make([{ category: "routing", code: "421" }])(reply("421 Service not available"))).toBe("routing")
    })

    it("needs every field a rule gives to match", () => {
      const classify = Bounce.make([{ category: "content", code: "550", enhanced: "5.7.1", text: "^acme says no$" }])
      const matching = { code: 550, enhanced: "5.7.1", text: "ACME says no" }
      expect(classify(matching)).toBe("content")
      // each field alone failing is enough to fall through (to the fallback: 5.7.1 policy, 5.x.x other)
      expect(classify({ ...matching, code: 554 })).toBe("policy")
      expect(classify({ ...matching, enhanced: "5.7.2" })).toBe("policy")
      expect(classify({ ...matching, enhanced: undefined })).toBe("other")
      expect(classify({ ...matching, text: "ACME says no, twice" })).toBe("policy")
      expect(classify({ text: "ACME says no" })).toBe("transient")
    })

    it("reads \"x\" as any part of an enhanced code, and \"5xx\" as any code of the class", () => {
      const classify = Bounce.make([
        { category: "content", enhanced: "5.1.x" },
        { category: "routing", enhanced: "x.3.3" },
        { category: "spam-related", enhanced: "4.x.9" },
        { category: "protocol", code: "4xx", text: "^wildcard$" }
      ])
      expect(classify({ code: 550, enhanced: "5.1.1", text: "" })).toBe("content")
      expect(classify({ code: 550, enhanced: "5.1.250", text: "" })).toBe("content")
      expect(classify({ code: 550, enhanced: "5.10.1", text: "" })).toBe("other")
      expect(classify({ code: 450, enhanced: "4.1.1", text: "" })).toBe("bad-mailbox")
      expect(classify({ code: 550, enhanced: "5.3.3", text: "" })).toBe("routing")
      expect(classify({ code: 450, enhanced: "4.3.3", text: "" })).toBe("routing")
      expect(classify({ code: 550, enhanced: "5.3.30", text: "" })).toBe("other")
      expect(classify({ code: 450, enhanced: "4.7.9", text: "" })).toBe("spam-related")
      expect(classify({ code: 450, enhanced: "4.2.9", text: "" })).toBe("spam-related")
      expect(classify({ code: 550, enhanced: "5.7.9", text: "" })).toBe("policy")
      expect(classify({ code: 400, text: "wildcard" })).toBe("protocol")
      expect(classify({ code: 499, text: "WILDCARD" })).toBe("protocol")
      expect(classify({ code: 500, text: "wildcard" })).toBe("protocol") // by the basic code: 500 syntax error
      expect(classify({ code: 554, text: "wildcard" })).toBe("other")
    })

    it("matches an exact enhanced code exactly, not as a prefix", () => {
      const classify = Bounce.make([{ category: "content", enhanced: "5.1.1" }])
      expect(classify({ code: 550, enhanced: "5.1.1", text: "" })).toBe("content")
      expect(classify({ code: 550, enhanced: "5.1.10", text: "" })).toBe("bad-domain")
      expect(classify({ code: 550, enhanced: "5.1.11", text: "" })).toBe("other")
    })

    it("judges an error without a reply only by a rule that gives text alone", () => {
      const classify = Bounce.make([
        { category: "policy", code: "5xx", text: "certificate" },
        { category: "routing", enhanced: "x.x.x", text: "certificate" },
        { category: "content", text: "ECONNREFUSED" }
      ])
      expect(classify({ text: "relay: tls during tls: unable to verify the first certificate" })).toBe("transient")
      expect(classify({ text: "relay: refused during connect: connect ECONNREFUSED 127.0.0.1:25" })).toBe("content")
    })
  })

  describe("bounces.rules in the config", () => {
    const base = { upstreams: [{ host: "relay.example", port: 25 }] }

    it.effect("decodes good rules, and they classify", () =>
      Effect.gen(function*() {
        expect((yield* Config.decode(base)).bounces.rules).toEqual([])
        const rules = [
          { category: "transient", code: "5xx", enhanced: "5.7.x", text: "spamhaus" },
          { category: "bad-mailbox", code: "550", text: "(?:no|unknown) (?:such )?luser" },
          { category: "routing", enhanced: "x.4.x" }
        ]
        const config = yield* Config.decode({ ...base, bounces: { rules } })
        expect(config.bounces.rules).toEqual(rules)
        const classify = Bounce.make(config.bounces.rules)
        expect(classify(reply("554 5.7.1 Client host [203.0.113.5] blocked using zen.spamhaus.org"))).toBe("transient")
        expect(classify(reply("550 No such LUSER"))).toBe("bad-mailbox")
        expect(classify(reply("451 4.4.1 No answer from host"))).toBe("routing")
      }))

    it.effect("refuses a bad rule, naming the field", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Config.decode({
          ...base,
          bounces: {
            rules: [
              { category: "policy", text: "blocked (" },
              { category: "hard", code: "550" },
              { category: "policy", code: "55" },
              { category: "policy", code: 550 },
              { category: "policy", code: "6xx" },
              { category: "policy", enhanced: "5.7" },
              { category: "policy", enhanced: "5.7.X" },
              { category: "policy", enhanced: "3.1.1" },
              { category: "other" },
              { category: "policy", text: "ok", note: "a comment" },
              { text: "ok" }
            ]
          }
        }))
        expect(error._tag).toBe("ConfigError")
        expect(error.issues).toEqual([
          { path: "bounces.rules[0].text", message: expect.stringMatching(/^is not a regular expression: .*blocked \(/) },
          { path: "bounces.rules[1].category", message: `is not one of ${Bounce.categories.join(", ")}` },
          { path: "bounces.rules[2].code", message: "is not a reply code in quotes, such as \"550\" or \"5xx\"" },
          { path: "bounces.rules[3].code", message: "is not a reply code in quotes, such as \"550\" or \"5xx\"" },
          { path: "bounces.rules[4].code", message: "is not a reply code in quotes, such as \"550\" or \"5xx\"" },
          { path: "bounces.rules[5].enhanced", message: "is not an enhanced code such as \"5.1.1\" or \"5.7.x\"" },
          { path: "bounces.rules[6].enhanced", message: "is not an enhanced code such as \"5.1.1\" or \"5.7.x\"" },
          { path: "bounces.rules[7].enhanced", message: "is not an enhanced code such as \"5.1.1\" or \"5.7.x\"" },
          { path: "bounces.rules[8]", message: "needs at least one of code, enhanced or text" },
          { path: "bounces.rules[9].note", message: expect.stringMatching(/^is unexpected/) },
          { path: "bounces.rules[10].category", message: "is missing" }
        ])
        expect(error.message).toContain("bounces.rules[0].text: is not a regular expression: Invalid regular expression")
      }))
  })

  it("suppresses on bad-mailbox and bad-domain only", () => {
    expect(Bounce.categories.filter(Bounce.suppresses)).toEqual(["bad-mailbox", "bad-domain"])
  })
})
