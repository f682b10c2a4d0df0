import type { Effect } from "effect"
import { Context, Data } from "effect"

/** An address that must not be sent to, and why. */
export interface Refused {
  readonly address: string
  readonly reason: string
}

export interface RecipientsShape {
  /** The addresses among `addresses` that must not be sent to, each with why. */
  readonly check: (addresses: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Refused>>
}

/**
 * The port through which `Sluice.submit` checks a message's recipients before it is queued (the
 * suppression list, DNS). Optional: an engine built without it checks only their syntax.
 * @sluice/content provides it.
 */
export class Recipients extends Context.Tag("@sluice/engine/Recipients")<Recipients, RecipientsShape>() {}

/** A message some of whose recipients are refused; each named by its place in `to`. */
export class RecipientsRefused extends Data.TaggedError("RecipientsRefused")<{
  readonly refused: ReadonlyArray<{ readonly index: number; readonly address: string; readonly reason: string }>
}> {
  override get message() {
    const [first] = this.refused
    return this.refused.length === 1
      ? `to[${first!.index}]: ${first!.reason}`
      : `${this.refused.length} recipients are refused; the first, to[${first!.index}]: ${first!.reason}`
  }
}
