import { Duration, Effect } from "effect"
import { Resolver } from "node:dns/promises"

/** What DNS says about a domain as a mail destination. */
export type Verdict =
  | { readonly _tag: "Exists" }
  | { readonly _tag: "Refused"; readonly reason: string }
  /** DNS did not answer (timeout, SERVFAIL, refused): the domain is accepted, never blocked on this. */
  | { readonly _tag: "Unknown"; readonly reason: string }

const exists: Verdict = { _tag: "Exists" }

const codeOf = (error: unknown) => (error as { code?: unknown })?.code

// c-ares reports NXDOMAIN as ENOTFOUND and an empty NOERROR answer as ENODATA.
const absent = (error: unknown) => codeOf(error) === "ENOTFOUND" || codeOf(error) === "ENODATA"

export interface Options {
  readonly servers?: ReadonlyArray<string> | undefined
  readonly timeout: Duration.DurationInput
}

/** A resolver on the given servers; `setServers` takes "host", "host:port" and "[v6]:port". */
export const makeLookup = (options: Options): (domain: string) => Effect.Effect<Verdict> => {
  const resolver = new Resolver({ timeout: Math.max(1, Duration.toMillis(options.timeout)), tries: 1 })
  if (options.servers !== undefined && options.servers.length > 0) resolver.setServers([...options.servers])

  const lookup = async (domain: string): Promise<Verdict> => {
    // RFC 5321 §5.1: MX first; without MX records the domain's address records are its implicit MX.
    try {
      const mx = await resolver.resolveMx(domain)
      // RFC 7505: a single MX of "." (empty exchange) says the domain accepts no mail.
      if (mx.length === 1 && (mx[0]!.exchange === "" || mx[0]!.exchange === ".")) {
        return { _tag: "Refused", reason: `domain ${domain} accepts no mail (null MX)` }
      }
      if (mx.length > 0) return exists
    } catch (error) {
      if (codeOf(error) === "ENOTFOUND") return { _tag: "Refused", reason: `domain ${domain} does not exist (NXDOMAIN)` }
      if (!absent(error)) return { _tag: "Unknown", reason: `MX lookup for ${domain}: ${String(codeOf(error) ?? error)}` }
    }
    const [a, aaaa] = await Promise.allSettled([resolver.resolve4(domain), resolver.resolve6(domain)])
    if ([a, aaaa].some((r) => r.status === "fulfilled" && r.value.length > 0)) return exists
    const failed = [a, aaaa].find((r) => r.status === "rejected" && !absent(r.reason))
    if (failed !== undefined && failed.status === "rejected") {
      return { _tag: "Unknown", reason: `A/AAAA lookup for ${domain}: ${String(codeOf(failed.reason) ?? failed.reason)}` }
    }
    return { _tag: "Refused", reason: `domain ${domain} has no MX, A or AAAA record` }
  }

  return (domain) =>
    Effect.promise(() =>
      lookup(domain).catch((error): Verdict => ({ _tag: "Unknown", reason: `lookup for ${domain}: ${String(error)}` }))
    )
}
