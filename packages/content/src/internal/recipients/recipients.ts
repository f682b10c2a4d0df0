import type * as KeyValueStore from "@effect/platform/KeyValueStore"
import { createHash } from "node:crypto"
import { Clock, Duration, Effect, Either, Option, Schema } from "effect"
import type { Options, RecipientsShape, Refused } from "../../Recipients.js"
import type { Verdict } from "./dns.js"
import { makeLookup } from "./dns.js"
import * as Domains from "./domains.js"
import { normalize } from "./normalize.js"

// `until` (epoch ms): when the suppression lapses; absent, it lasts until lifted.
const Suppression = Schema.parseJson(Schema.Struct({
  address: Schema.String,
  reason: Schema.String,
  at: Schema.Number,
  until: Schema.optional(Schema.Number)
}))

// Keyed by a hash: one short key whatever the address (up to 320 octets, more once escaped by a store
// that maps keys to file names), and no addresses in key listings. The address is kept in the value.
const keyOf = (normalized: string) => createHash("sha256").update(normalized).digest("hex")

export interface Stores {
  readonly suppressions: KeyValueStore.KeyValueStore
  /** Domain verdicts, shared by every process on the store. */
  readonly domains: KeyValueStore.KeyValueStore
}

export const make = (stores: Stores, options: Options) =>
  Effect.gen(function*() {
    const suppressions = stores.suppressions
    const verdictOf = options.checkDomains === true
      ? yield* Domains.make(
        stores.domains,
        makeLookup({ servers: options.dnsServers, timeout: options.dnsTimeout ?? "2 seconds" }),
        Duration.decode(options.cacheTtl ?? "10 minutes")
      )
      : undefined

    /**
     * The suppression stored as `stored` under `key`, if it is still in force. One whose `until` has
     * passed is removed as it is read (a suppression set again in between would go with it: the next
     * bounce or complaint sets it again).
     */
    const inForce = (key: string, stored: string) =>
      Effect.gen(function*() {
        const suppression = yield* Schema.decode(Suppression)(stored).pipe(Effect.orDie)
        if (suppression.until !== undefined && suppression.until <= (yield* Clock.currentTimeMillis)) {
          yield* suppressions.remove(key).pipe(Effect.orDie)
          return undefined
        }
        return suppression
      })

    const current = (key: string) =>
      suppressions.get(key).pipe(
        Effect.orDie,
        Effect.flatMap((stored) => Option.isNone(stored) ? Effect.succeed(undefined) : inForce(key, stored.value))
      )

    // The key of an address (`normalize`), and the key a suppression of this very spelling was stored
    // under before local parts were compared without case, when that is another.
    const keysOf = (normalized: { readonly address: string; readonly key: string }) =>
      normalized.key === normalized.address ? [keyOf(normalized.key)] : [keyOf(normalized.key), keyOf(normalized.address)]

    const suppressionOf = (normalized: { readonly address: string; readonly key: string }) => {
      const [key, legacy] = keysOf(normalized)
      return Effect.flatMap(current(key!), (found) => found !== undefined || legacy === undefined ? Effect.succeed(found) : current(legacy))
    }

    const refusal = (address: string, suppression: typeof Suppression.Type): Refused => {
      const until = suppression.until === undefined ? "" : ` until ${new Date(suppression.until).toISOString()}`
      return { address, reason: `${address} is suppressed${until}: ${suppression.reason}` }
    }

    // Syntax and suppressions first, one address after the other (no fibers, and no generator: this
    // runs for every recipient of every submit); then the distinct domains left, looked up together.
    const localRefusal = (address: string): Effect.Effect<Refused | string> => {
      const normalized = normalize(address)
      if (Either.isLeft(normalized)) return Effect.succeed({ address, reason: `"${address}" ${normalized.left.reason}` })
      const { domain } = normalized.right
      return Effect.map(suppressionOf(normalized.right), (suppression) =>
        suppression === undefined ? domain : refusal(address, suppression))
    }

    const verdicts = (verdictOf: (domain: string) => Effect.Effect<Verdict>, names: ReadonlySet<string>) =>
      Effect.forEach(names, (domain) =>
        verdictOf(domain).pipe(
          Effect.tap((verdict) =>
            verdict._tag === "Unknown"
              ? Effect.logDebug("recipient domain unchecked", { domain, reason: verdict.reason })
              : Effect.void
          ),
          Effect.map((verdict) => [domain, verdict] as const)
        ), { concurrency: names.size > 1 ? 16 : 1 }).pipe(Effect.map((pairs) => new Map(pairs)))

    const check: RecipientsShape["check"] = (addresses) =>
      Effect.gen(function*() {
        const local = yield* Effect.forEach(addresses, localRefusal)
        if (verdictOf === undefined) return local.filter((result): result is Refused => typeof result !== "string")
        // Address literals and localhost name no DNS domain to look up.
        const names = new Set(local.filter((r): r is string => typeof r === "string" && !r.startsWith("[") && r !== "localhost"))
        const byDomain = yield* verdicts(verdictOf, names)
        return local.flatMap((result, i): Array<Refused> => {
          if (typeof result !== "string") return [result]
          const verdict = byDomain.get(result)
          return verdict?._tag === "Refused" ? [{ address: addresses[i]!, reason: verdict.reason }] : []
        })
      })

    const suppress: RecipientsShape["suppress"] = (address, reason, until) =>
      Effect.gen(function*() {
        const normalized = yield* normalize(address)
        const at = yield* Clock.currentTimeMillis
        const json = yield* Schema.encode(Suppression)({
          address: normalized.address,
          reason: reason ?? "suppressed",
          at,
          ...(until === undefined ? {} : { until })
        }).pipe(Effect.orDie)
        yield* suppressions.set(keyOf(normalized.key), json).pipe(Effect.orDie)
      })

    const unsuppress: RecipientsShape["unsuppress"] = (address) =>
      Effect.gen(function*() {
        const normalized = yield* normalize(address)
        let was = false
        for (const key of keysOf(normalized)) {
          if ((yield* current(key)) === undefined) continue
          was = true
          yield* suppressions.remove(key).pipe(Effect.orDie)
        }
        return was
      })

    return { check, suppress, unsuppress } satisfies RecipientsShape
  })
