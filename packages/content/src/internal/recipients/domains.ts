import type * as KeyValueStore from "@effect/platform/KeyValueStore"
import { Cache, Clock, Duration, Effect, Exit, Option, Schema } from "effect"
import type { Verdict } from "./dns.js"

// A failed lookup is retried soon: a DNS outage must not pin "unchecked" on a domain for the whole TTL.
const unknownTtl = Duration.seconds(30)

// Only answers are shared; "DNS did not answer" is this process's own experience.
const Shared = Schema.parseJson(Schema.Struct({
  verdict: Schema.Union(
    Schema.Struct({ _tag: Schema.Literal("Exists") }),
    Schema.Struct({ _tag: Schema.Literal("Refused"), reason: Schema.String })
  ),
  expiresAt: Schema.Number
}))

interface Remembered {
  readonly verdict: Verdict
  /** How much longer it holds. */
  readonly ttl: Duration.Duration
}

/**
 * Verdicts per domain, in two levels: this process's memory (an Effect Cache, which also makes
 * concurrent checks of one domain share one lookup), then the store (Redis when configured: every
 * process benefits from one lookup), each for what remains of `ttl` since the DNS answered.
 */
export const make = (
  store: KeyValueStore.KeyValueStore,
  lookup: (domain: string) => Effect.Effect<Verdict>,
  ttl: Duration.Duration
): Effect.Effect<(domain: string) => Effect.Effect<Verdict>> =>
  Effect.gen(function*() {
    const lookupShared = (domain: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const stored = yield* store.get(domain).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.succeed(Option.none()),
            onSome: (json) => Effect.option(Schema.decode(Shared)(json))
          })),
          // The shared level is an optimisation: when it fails, ask DNS.
          Effect.orElseSucceed(() => Option.none())
        )
        if (Option.isSome(stored) && stored.value.expiresAt > now) {
          return { verdict: stored.value.verdict, ttl: Duration.millis(stored.value.expiresAt - now) }
        }
        const verdict = yield* lookup(domain)
        if (verdict._tag === "Unknown") return { verdict, ttl: Duration.min(ttl, unknownTtl) }
        const json = yield* Schema.encode(Shared)({ verdict, expiresAt: now + Duration.toMillis(ttl) }).pipe(Effect.orDie)
        yield* store.set(domain, json).pipe(Effect.ignore)
        return { verdict, ttl }
      })

    const remembered = yield* Cache.makeWith({
      capacity: 100_000,
      lookup: (domain: string): Effect.Effect<Remembered> => lookupShared(domain),
      timeToLive: (exit) => Exit.isSuccess(exit) ? exit.value.ttl : Duration.zero
    })
    return (domain) => Effect.map(remembered.get(domain), (r) => r.verdict)
  })
