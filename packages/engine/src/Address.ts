import { Schema } from "effect"
import { isIPv4, isIPv6 } from "node:net"
import { domainToASCII } from "node:url"

// What is accepted here goes as it is into MAIL FROM and RCPT TO, so it is held to RFC 5321 §4.1.2's
// Mailbox grammar, with RFC 6531's non-ASCII (SMTPUTF8) in atoms, quoted strings and domain labels:
//   Local-part = Dot-string / Quoted-string; Atom = 1*atext (RFC 5322 §3.2.3)
//   qtextSMTP = %d32-33 / %d35-91 / %d93-126; quoted-pairSMTP = "\" %d32-126
// and stricter in one way: no "<" or ">" anywhere, not even quoted. RFC 5321 allows them in a quoted
// string, but a server that reads the path up to the first ">" would take what follows for ESMTP
// parameters (`"x> NOTIFY=NEVER"@example.net`), and the SMTP client refuses to send them at all: an
// address accepted is an address that can be attempted.

// CR, LF and NUL first: the reason the injection tests look for.
const lineBreaking = /[\r\n\0]/
// C0 controls, DEL, C1 controls and the Unicode line separators: never part of a mailbox.
const control = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/
const angle = /[<>]/
// Half of a surrogate pair alone: UTF-8 cannot carry it (it would go out as U+FFFD, another address).
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\\x00-\\x7f\\s]"
const dotString = new RegExp(`^(?:${atext})+(?:\\.(?:${atext})+)*$`)
const dotsAndAtext = new RegExp(`^(?:${atext}|\\.)+$`)
// "<" (60) and ">" (62) left out of qtextSMTP and quoted-pairSMTP, as said above.
const quotedString = /^"(?:[ !#-;=?-[\]-~]|\\[ -;=?-~]|[^\x00-\x7f])*"$/
const ldhLabel = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
const ascii = /^[\x00-\x7f]*$/

const octets = (text: string) => ascii.test(text) ? text.length : Buffer.byteLength(text)

/** RFC 5321 §4.1.3: `[192.0.2.1]` or `[IPv6:2001:db8::1]`; general address literals are not sent. */
const literalProblem = (domain: string): string | undefined => {
  const inner = domain.slice(1, -1)
  if (/^IPv6:/i.test(inner) ? isIPv6(inner.slice(5)) : isIPv4(inner)) return undefined
  return "has an address literal that is not an IPv4 or IPv6 address"
}

const domainProblem = (domain: string): string | undefined => {
  if (domain.startsWith("[") && domain.endsWith("]")) return literalProblem(domain)
  // RFC 5890: a non-ASCII domain is sent as it is under SMTPUTF8, but must have an A-label form.
  const name = ascii.test(domain) ? domain : domainToASCII(domain)
  if (name === "") return "has a domain that is not a valid IDN"
  if (!/^[A-Za-z0-9.-]+$/.test(name)) return "has a character not allowed in a domain"
  const labels = name.split(".")
  if (labels.length < 2 && name.toLowerCase() !== "localhost") return "has a domain without a dot"
  if (!labels.every((l) => ldhLabel.test(l))) return "has a malformed domain label"
  return undefined
}

const localProblem = (local: string): string | undefined => {
  if (local.startsWith("\"")) return quotedString.test(local) ? undefined : "has a malformed quoted local part"
  if (dotString.test(local)) return undefined
  return dotsAndAtext.test(local) ? "has a misplaced dot in the local part" : "has a character not allowed in a local part"
}

/** Why an address is not acceptable, or undefined when it is. */
export const problem = (address: string): string | undefined => {
  if (lineBreaking.test(address)) return "contains CR, LF or NUL"
  const controlled = control.exec(address)
  if (controlled !== null) {
    return `contains a control character (U+${controlled[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")})`
  }
  if (angle.test(address)) return "contains < or >, which would end the SMTP path early"
  if (loneSurrogate.test(address)) return "contains an unpaired UTF-16 surrogate"
  const at = address.lastIndexOf("@")
  if (at <= 0 || at === address.length - 1) return "is not of the form local@domain"
  const local = address.slice(0, at)
  const domain = address.slice(at + 1)
  // RFC 5321 §4.5.3.1: local part up to 64 octets, domain up to 255.
  if (octets(local) > 64) return "has a local part longer than 64 octets"
  if (octets(domain) > 255) return "has a domain longer than 255 octets"
  return localProblem(local) ?? domainProblem(domain)
}

/** An email address as it may go into MAIL FROM or RCPT TO. */
export const Address = Schema.String.pipe(
  Schema.filter((address) => {
    const reason = problem(address)
    return reason === undefined ? true : `"${address}" ${reason}`
  }, { identifier: "Address" })
)

/** The domain of an address, in lower case: what suspensions and inspection group recipients by. */
export const domainOf = (address: string): string => address.slice(address.lastIndexOf("@") + 1).toLowerCase()
