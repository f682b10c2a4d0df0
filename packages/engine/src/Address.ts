import { Schema } from "effect"

// RFC 5321 §4.1.2 and §4.5.3.1: local part up to 64 octets, domain up to 255, path up to 256.
// Non-ASCII is allowed (RFC 6531, SMTPUTF8); what may never appear is what would break out of an
// SMTP command or a header: CR, LF, NUL, angle brackets, spaces and other controls.
const forbidden = /[\s<>()[\]\\,;:"\x00-\x1f\x7f]/
const label = /^(?!-)[^.\s]{1,63}(?<!-)$/
const addressLiteral = /^\[(?:IPv6:[0-9a-fA-F:.]+|\d{1,3}(?:\.\d{1,3}){3})\]$/

/** Why an address is not acceptable, or undefined when it is. */
export const problem = (address: string): string | undefined => {
  if (/[\r\n\0]/.test(address)) return "contains CR, LF or NUL"
  const at = address.lastIndexOf("@")
  if (at <= 0 || at === address.length - 1) return "is not of the form local@domain"
  const local = address.slice(0, at)
  const domain = address.slice(at + 1)
  if (Buffer.byteLength(local) > 64) return "has a local part longer than 64 octets"
  if (Buffer.byteLength(domain) > 255) return "has a domain longer than 255 octets"
  if (forbidden.test(local) && !/^"[^"\\\r\n]*"$/.test(local)) return "has a character not allowed in a local part"
  if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) {
    if (!local.startsWith("\"")) return "has a misplaced dot in the local part"
  }
  if (addressLiteral.test(domain)) return undefined
  if (forbidden.test(domain)) return "has a character not allowed in a domain"
  const labels = domain.split(".")
  if (labels.length < 2 && domain !== "localhost") return "has a domain without a dot"
  if (!labels.every((l) => label.test(l))) return "has a malformed domain label"
  return undefined
}

/** An email address as it may go into MAIL FROM or RCPT TO. */
export const Address = Schema.String.pipe(
  Schema.filter((address) => {
    const reason = problem(address)
    return reason === undefined ? true : `"${address}" ${reason}`
  }, { identifier: "Address" })
)
