import type { KeyValueStore } from "@effect/platform"
import { Cache, Clock, Duration, Effect, Either, Exit, Option, Schema } from "effect"
import type { Options, RecipientsShape, Refused } from "../../Recipients.js"
import { makeLookup } from "./dns.js"
import { normalize } from "./normalize.js"
import { createHash } from "node:crypto"

const Suppression = Schema.parseJson(Schema.Struct({ address: Schema.String, reason: Schema.String, at: Schema.Number }))

// Keyed by a hash: a valid address can be 320 octets, and more once percent-encoded as a file name,
// which would pass the file-system store's name limit. The address itself is kept in the value.
const keyOf = (normalized: string) => createHash("sha256").update(normalized).digest("hex")

// A failed lookup is retried soon: a DNS outage must not pin "unchecked" on a domain for the whole TTL.
const unknownTtl = Duration.seconds(30)

export const make = (store: KeyValueStore.KeyValueStore, options: Options) =>
  Effect.gen(function*() {
    const ttl = Duration.decode(options.cacheTtl ?? "10 minutes")
    const domains = options.checkDomains === true
      ? yield* Cache.makeWith({
        capacity: 100_000,
        lookup: makeLookup({ servers: options.dnsServers, timeout: options.dnsTimeout ?? "2 seconds" }),
        timeToLive: (exit) =>
          Exit.isSuccess(exit) && exit.value._tag !== "Unknown" ? ttl : Duration.min(ttl, unknownTtl)
      })
      : undefined

    const checkOne = (address: string): Effect.Effect<Option.Option<Refused>> =>
      Effect.gen(function*() {
        const normalized = normalize(address)
        if (Either.isLeft(normalized)) return Option.some({ address, reason: `"${address}" ${normalized.left.reason}` })
        const suppressed = yield* store.get(keyOf(normalized.right.address)).pipe(Effect.orDie)
        if (Option.isSome(suppressed)) {
          const { reason } = yield* Schema.decode(Suppression)(suppressed.value).pipe(Effect.orDie)
          return Option.some({ address, reason: `${address} is suppressed: ${reason}` })
        }
        const domain = normalized.right.domain
        // Address literals and localhost name no DNS domain to look up.
        if (domains === undefined || domain.startsWith("[") || domain === "localhost") return Option.none()
        const verdict = yield* domains.get(domain)
        if (verdict._tag === "Unknown") yield* Effect.logDebug("recipient domain unchecked", { domain, reason: verdict.reason })
        return verdict._tag === "Refused" ? Option.some({ address, reason: verdict.reason }) : Option.none()
      })

    const check: RecipientsShape["check"] = (addresses) =>
      Effect.forEach(addresses, checkOne, { concurrency: 16 }).pipe(
        Effect.map((results) => results.flatMap(Option.toArray)),
        Effect.withSpan("Recipients.check", { attributes: { count: addresses.length } })
      )

    const suppress: RecipientsShape["suppress"] = (address, reason) =>
      Effect.gen(function*() {
        const normalized = yield* normalize(address)
        const at = yield* Clock.currentTimeMillis
        const json = yield* Schema.encode(Suppression)({ address: normalized.address, reason: reason ?? "suppressed", at })
          .pipe(Effect.orDie)
        yield* store.set(keyOf(normalized.address), json).pipe(Effect.orDie)
      })

    const unsuppress: RecipientsShape["unsuppress"] = (address) =>
      Effect.gen(function*() {
        const normalized = yield* normalize(address)
        const key = keyOf(normalized.address)
        const was = yield* store.has(key).pipe(Effect.orDie)
        if (was) yield* store.remove(key).pipe(Effect.orDie)
        return was
      })

    return { check, suppress, unsuppress } satisfies RecipientsShape
  })
