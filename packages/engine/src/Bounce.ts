import { Schema } from "effect"
import { rules as builtInRules } from "./internal/bounce-rules.js"

/** Why a delivery bounced or was deferred (CONTRACT.md); the one list of categories. */
export const categories = [
  "bad-mailbox",
  "bad-domain",
  "inactive-mailbox",
  "mailbox-full",
  "policy",
  "spam-related",
  "content",
  "routing",
  "protocol",
  "transient",
  "other"
] as const
export type Category = typeof categories[number]

/** Why a bounce suppressed its address, as the suppression list keeps it: the reply, quoted. */
export const suppressionReason = (bounce: { readonly category?: Category | undefined; readonly reply?: { readonly code: number; readonly enhanced?: string | undefined; readonly text: string } | undefined }): string =>
  bounce.reply === undefined
    ? `bounced: ${bounce.category ?? "other"}`
    : `bounced: ${bounce.reply.code} ${bounce.reply.enhanced ?? ""} ${bounce.reply.text}`.replace(/\s+/g, " ").trim()

/** Categories that say the address itself is no good: such a bounce suppresses it. */
export const suppresses = (category: Category): boolean => category === "bad-mailbox" || category === "bad-domain"

/**
 * One classification rule, as bounce-rules.ts and the config's `bounces.rules` (Config.BounceRule)
 * give it: the first rule whose every given field matches gives the category. `code` is a basic reply
 * code or a class ("5xx"), `enhanced` an RFC 3463 code where "x" matches any part ("5.7.x"), `text` a
 * case-insensitive regular expression on the reply text. It lives here rather than in Config.ts because
 * this module decodes the built-in rules with it when it loads, and Config.ts imports this module.
 */
export const Rule = Schema.Struct({
  category: Schema.Literal(...categories).annotations({
    message: () => ({ message: `is not one of ${categories.join(", ")}`, override: true })
  }),
  // exact: an absent field is not `undefined`, so a bad value is reported once, not also as "Expected undefined".
  code: Schema.optionalWith(
    Schema.String.pipe(Schema.pattern(/^[245](?:\d\d|xx)$/, {
      message: () => ({ message: "is not a reply code in quotes, such as \"550\" or \"5xx\"", override: true })
    })),
    { exact: true }
  ),
  enhanced: Schema.optionalWith(
    Schema.String.pipe(Schema.pattern(/^[245x]\.(?:\d{1,3}|x)\.(?:\d{1,3}|x)$/, {
      message: () => ({ message: "is not an enhanced code such as \"5.1.1\" or \"5.7.x\"", override: true })
    })),
    { exact: true }
  ),
  text: Schema.optionalWith(
    Schema.String.pipe(Schema.filter((source) => {
      try {
        new RegExp(source, "i")
        return true
      } catch (error) {
        return `is not a regular expression: ${(error as Error).message}`
      }
    })),
    { exact: true }
  )
}).pipe(Schema.filter((rule) =>
  // A rule of a category alone would match every reply, and the built-in rules would never be reached.
  rule.code !== undefined || rule.enhanced !== undefined || rule.text !== undefined ||
  "needs at least one of code, enhanced or text"
))
export type Rule = Schema.Schema.Type<typeof Rule>

/** What the classifier reads: a reply, or (no code) an error without one, its message as the text. */
export interface Classifiable {
  readonly code?: number | undefined
  readonly enhanced?: string | undefined
  readonly text: string
}

export type Classifier = (reply: Classifiable) => Category

// A rule with its fields parsed once: -1 stands for "any".
interface Compiled {
  readonly category: Category
  /** Replies from codeLow to codeHigh match: 550–550, or 500–599 for "5xx"; codeLow -1 when no code is given. */
  readonly codeLow: number
  readonly codeHigh: number
  /** Whether the rule names an enhanced code; its parts, -1 for an "x". */
  readonly enhanced: boolean
  readonly enhancedClass: number
  readonly subject: number
  readonly detail: number
  readonly text: RegExp | undefined
}

const wildcard = (source: string): number => source === "x" ? -1 : Number(source)

const compile = (rule: Rule): Compiled => {
  const [enhancedClass = "x", subject = "x", detail = "x"] = rule.enhanced?.split(".") ?? []
  const wholeClass = rule.code?.endsWith("xx") === true
  const code = rule.code === undefined ? -1 : wholeClass ? Number(rule.code[0]) * 100 : Number(rule.code)
  return {
    category: rule.category,
    codeLow: code,
    codeHigh: wholeClass ? code + 99 : code,
    enhanced: rule.enhanced !== undefined,
    enhancedClass: wildcard(enhancedClass),
    subject: wildcard(subject),
    detail: wildcard(detail),
    // The same flags as the config check (Rule.text), so a rule that decoded compiles.
    text: rule.text === undefined ? undefined : new RegExp(rule.text, "i")
  }
}

/**
 * The built-in rules, decoded with the config's schema when this module loads: a broken edit of
 * bounce-rules.ts (a regular expression that does not compile, a code such as "55x") fails at once,
 * naming the rule, rather than misjudging bounces.
 */
const builtIn: ReadonlyArray<Compiled> = Schema.decodeUnknownSync(Schema.Array(Rule), { onExcessProperty: "error" })(
  builtInRules
).map(compile)

/**
 * "5.1.10" → 5_001_010, or -1 when it is not an RFC 3463 code: one number, so that classifying
 * allocates nothing for it.
 */
const parseEnhanced = (enhanced: string): number => {
  let packed = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < enhanced.length; i++) {
    const c = enhanced.charCodeAt(i)
    if (c === 46 /* . */ && digits > 0 && dots < 2) {
      packed = packed * 1_000 + part
      part = 0
      digits = 0
      dots++
    } else if (c >= 48 && c <= 57 && digits < (dots === 0 ? 1 : 3)) {
      part = part * 10 + c - 48
      digits++
    } else {
      return -1
    }
  }
  return dots === 2 && digits > 0 ? packed * 1_000 + part : -1
}

/**
 * RFC 3463's subjects and details where they say what went wrong with the recipient (§3.2–§3.9, and the
 * IANA registry's later codes): used when no rule matched.
 */
const byEnhanced = (subject: number, detail: number): Category | undefined => {
  switch (subject) {
    case 1:
      switch (detail) {
        case 1: // bad destination mailbox address
        case 3: // bad destination mailbox address syntax
        case 4: // destination mailbox address ambiguous
          return "bad-mailbox"
        case 2: // bad destination system address
        case 10: // recipient address has null MX (RFC 7505)
          return "bad-domain"
        case 6: // destination mailbox has moved, no forwarding address
          return "inactive-mailbox"
        case 7: // bad sender's mailbox address syntax
        case 8: // bad sender's system address: our side, refused by the receiver's rules
          return "policy"
      }
      return undefined
    case 2:
      switch (detail) {
        case 1: // mailbox disabled, not accepting messages
          return "inactive-mailbox"
        case 2: // mailbox full
          return "mailbox-full"
        case 3: // message length exceeds administrative limit
          return "content"
      }
      return undefined
    case 3:
      // x.3.3 system not capable of selected features, x.3.4 message too big for system
      return detail === 3 || detail === 4 ? "content" : undefined
    case 4:
      return "routing"
    case 5:
      return "protocol"
    case 6:
      return "content"
    case 7:
      // x.7.17 mailbox owner has changed, x.7.18 domain owner has changed (RFC 7293): the address now
      // belongs to someone else. x.7.13 "user account disabled" is the sender's own AUTH account.
      return detail === 17 ? "bad-mailbox" : detail === 18 ? "bad-domain" : "policy"
  }
  return undefined
}

/**
 * RFC 5321's basic codes that have a meaning of their own (§4.2.2, §4.2.3; 556 from RFC 7504), for
 * replies without an enhanced code, or with one that says nothing more.
 */
const byCode = (code: number): Category | undefined => {
  switch (code) {
    case 500: // syntax error, command unrecognized
    case 501: // syntax error in parameters or arguments
    case 502: // command not implemented
    case 503: // bad sequence of commands
    case 504: // command parameter not implemented
    case 555: // MAIL FROM/RCPT TO parameters not recognized or not implemented
      return "protocol"
    case 551: // user not local; please try <forward-path>
      return "inactive-mailbox"
    case 552: // exceeded storage allocation
      return "mailbox-full"
    case 556: // domain does not accept mail
      return "bad-domain"
  }
  return undefined
}

const classifyWith = (rules: ReadonlyArray<Compiled>): Classifier => (reply) => {
  // -1 for none: an error without a reply, or a garbled code (NaN would pass every comparison below).
  const code = reply.code !== undefined && Number.isInteger(reply.code) ? reply.code : -1
  const packed = reply.enhanced === undefined ? -1 : parseEnhanced(reply.enhanced)
  const enhancedClass = packed < 0 ? -1 : Math.floor(packed / 1_000_000)
  const subject = packed < 0 ? -1 : Math.floor(packed / 1_000) % 1_000
  const detail = packed < 0 ? -1 : packed % 1_000
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!
    // The numbers first; a rule's regular expression runs only when they agree.
    if (rule.codeLow >= 0 && (code < rule.codeLow || code > rule.codeHigh)) continue
    if (rule.enhanced) {
      if (packed < 0) continue
      if (rule.enhancedClass >= 0 && rule.enhancedClass !== enhancedClass) continue
      if (rule.subject >= 0 && rule.subject !== subject) continue
      if (rule.detail >= 0 && rule.detail !== detail) continue
    }
    if (rule.text !== undefined && !rule.text.test(reply.text)) continue
    return rule.category
  }
  const category = (packed < 0 ? undefined : byEnhanced(subject, detail)) ?? byCode(code)
  if (category !== undefined) return category
  // No code at all is a dropped connection or a timeout: retried, like a 4xx (CONTRACT.md).
  return code < 0 || (code >= 400 && code < 500) ? "transient" : "other"
}

/**
 * The classifier for a configuration: the user's rules first, then the built-in ones
 * (bounce-rules.ts), then RFC 3463's enhanced code, RFC 5321's basic code, and last the class: 4xx
 * (or no reply at all) transient, anything else other. Compiled once: classifying a reply runs no
 * parser and allocates nothing. The rules' sources, for the texts real servers send: KumoMTA's
 * bounce_classifier (iana.toml and the community bounces.toml), ZoneMTA's config/bounces.txt, the
 * error pages of Gmail, Microsoft 365/Outlook.com and Yahoo.
 */
export const make = (extra: ReadonlyArray<Rule>): Classifier =>
  classifyWith(extra.length === 0 ? builtIn : [...extra.map(compile), ...builtIn])

/** The built-in classifier, with no rules of the user's. */
export const classify: Classifier = make([])
