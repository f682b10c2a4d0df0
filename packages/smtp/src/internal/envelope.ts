import type { Phase } from "../SmtpError.js"
import { SmtpAddressError } from "../SmtpError.js"

/** What a transaction carries: the envelope and the message as submitted (DataEncoding makes the wire form). */
export interface Delivery {
  readonly from: string
  readonly to: ReadonlyArray<string>
  readonly content: Uint8Array
}

// These would end the command early or smuggle another one in after it.
const unsafeInAddress = /[\r\n\0<>]/
// RFC 6531: an address with non-ASCII characters needs SMTPUTF8.
const nonAscii = /[^\x00-\x7f]/

/** The first address that cannot go into MAIL or RCPT as it is, as an error; undefined when all can. */
export const checkAddresses = (upstream: string, delivery: Delivery): SmtpAddressError | undefined => {
  if (unsafeInAddress.test(delivery.from)) return addressError(upstream, "mail", delivery.from)
  for (const to of delivery.to) if (unsafeInAddress.test(to)) return addressError(upstream, "rcpt", to)
  return undefined
}

const addressError = (upstream: string, phase: Phase, address: string) => new SmtpAddressError({ upstream, phase, address })

/** True when an address is not ASCII, which needs the server's SMTPUTF8 (RFC 6531 §3.4). */
export const needsUtf8 = (delivery: Delivery): boolean => {
  if (nonAscii.test(delivery.from)) return true
  for (const to of delivery.to) if (nonAscii.test(to)) return true
  return false
}
