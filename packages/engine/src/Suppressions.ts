import type { Effect } from "effect"
import { Context } from "effect"

/**
 * Where the engine adds the addresses it learns are no good: a bad-mailbox or bad-domain bounce, a
 * complaint (config `suppressions.auto`). The submit path refuses suppressed addresses; the list
 * itself lives with the recipient checks (@sluice/http's Recipients provides this). Optional: without
 * it in the context, nothing is suppressed automatically.
 */
export interface SuppressionsShape {
  /** Suppresses `address` with `reason`, until `until` (epoch ms) or for good. Never fails: a store that is down is logged. */
  readonly add: (address: string, reason: string, until: number | undefined) => Effect.Effect<void>
}

export class Suppressions extends Context.Tag("@sluice/engine/Suppressions")<Suppressions, SuppressionsShape>() {}
