import { Config as Config_ } from "@sluice/engine"
import { Duration, Schema } from "effect"
import { isIP } from "node:net"

// What node:dns `setServers` takes: an IP address, "v4:port" or "[v6]:port".
const DnsServer = Schema.String.pipe(
  Schema.filter((server) => {
    const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(server) ?? /^([^:]+)(?::(\d+))?$/.exec(server) ?? [server, server]
    const [, host, port] = match
    const portOk = port === undefined || (Number(port) >= 1 && Number(port) <= 65535)
    return (isIP(host ?? "") !== 0 && portOk) || `"${server}" is not an IP address with an optional port ("127.0.0.1:5353", "[::1]:53")`
  }, { identifier: "DnsServer" })
)

/**
 * The configuration file's `recipients` section: how a submit's recipients are checked beyond their
 * syntax. Its own module, so the file decodes without loading the checks.
 */
export const Config = Schema.Struct({
  checkDomains: Config_.withDefault(Schema.Boolean, () => false),
  dnsServers: Schema.optional(Schema.Array(DnsServer)),
  cacheTtl: Config_.withDefault(Config_.DurationFromInput, () => Duration.minutes(10)),
  dnsTimeout: Config_.withDefault(Config_.DurationFromInput, () => Duration.seconds(2))
})
export type Config = Schema.Schema.Type<typeof Config>
