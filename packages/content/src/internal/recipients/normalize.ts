import { Address } from "@sluice/engine"
import { Either } from "effect"
import { domainToASCII } from "node:url"
import { InvalidAddress } from "../../Recipients.js"

/**
 * The forms of an address for its suppression: `key`, what it is suppressed under, has the domain
 * lowercased and in ASCII (an IDN as punycode) and the local part lowercased, so "Ann@BÜCHER.example",
 * "ann@xn--bcher-kva.example" and "ANN@bücher.example" are one entry. RFC 5321 §2.4 lets a server treat
 * a local part's case as significant, but mailbox providers do not, and a suppression that "Ann" slips
 * past would be no suppression. `address` keeps the local part as given: the key suppressions were
 * stored under before they ignored its case.
 */
export const normalize = (address: string): Either.Either<{ address: string; key: string; domain: string }, InvalidAddress> => {
  const problem = Address.problem(address)
  if (problem !== undefined) return Either.left(new InvalidAddress({ address, reason: problem }))
  const at = address.lastIndexOf("@")
  const rawDomain = address.slice(at + 1)
  // An address literal ([192.0.2.1]) has no name to convert.
  const domain = rawDomain.startsWith("[") ? rawDomain.toLowerCase() : domainToASCII(rawDomain.toLowerCase())
  if (domain === "") return Either.left(new InvalidAddress({ address, reason: "has a domain that is not a valid IDN" }))
  const local = address.slice(0, at)
  return Either.right({ address: `${local}@${domain}`, key: `${local.toLowerCase()}@${domain}`, domain })
}
