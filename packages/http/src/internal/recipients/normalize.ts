import { Address } from "@sluice/engine"
import { Either } from "effect"
import { domainToASCII } from "node:url"
import { InvalidAddress } from "../../Recipients.js"

/**
 * The form an address is suppressed under: the domain lowercased and in ASCII (an IDN as punycode),
 * so "Ann@BÜCHER.example" and "Ann@xn--bcher-kva.example" are one entry. The local part is kept as
 * it is: RFC 5321 §2.4 lets a server treat its case as significant.
 */
export const normalize = (address: string): Either.Either<{ address: string; domain: string }, InvalidAddress> => {
  const problem = Address.problem(address)
  if (problem !== undefined) return Either.left(new InvalidAddress({ address, reason: problem }))
  const at = address.lastIndexOf("@")
  const rawDomain = address.slice(at + 1)
  // An address literal ([192.0.2.1]) has no name to convert.
  const domain = rawDomain.startsWith("[") ? rawDomain.toLowerCase() : domainToASCII(rawDomain.toLowerCase())
  if (domain === "") return Either.left(new InvalidAddress({ address, reason: "has a domain that is not a valid IDN" }))
  return Either.right({ address: `${address.slice(0, at)}@${domain}`, domain })
}
