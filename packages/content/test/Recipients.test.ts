import { KeyValueStore } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Config, Suppressions } from "@sluice/engine"
import { Context, Effect, Layer, Schema, TestClock } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Options } from "../src/Recipients.js"
import { Recipients } from "../src/Recipients.js"
import * as RecipientsConfig from "../src/RecipientsConfig.js"
import * as DnsResponder from "./support/DnsResponder.js"

const recipients = (options: Options = {}, store: Layer.Layer<KeyValueStore.KeyValueStore> = KeyValueStore.layerMemory) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Recipients.layer(options).pipe(Layer.provide(store)))
    return yield* Effect.provide(Recipients, context)
  })

const zones = {
  "mx.example": { mx: [{ priority: 10, exchange: "mail.mx.example" }] },
  "a-only.example": { a: ["192.0.2.1"] },
  "v6-only.example": { aaaa: ["2001:db8::1"] },
  "empty.example": {},
  "null-mx.example": { mx: [{ priority: 0, exchange: "" }] },
  "broken.example": "servfail",
  "slow.example": "silent"
} as const

describe("Recipients: syntax and suppressions", () => {
  it.scoped("refuses bad syntax with the reason, accepts good addresses", () =>
    Effect.gen(function*() {
      const r = yield* recipients()
      const refused = yield* r.check(["ok@example.com", "no-at-sign", "a@b\r\nRCPT TO:<x@y.z>", "dot.@example.com", "ann@bücher.example"])
      expect(refused).toEqual([
        { address: "no-at-sign", reason: "\"no-at-sign\" is not of the form local@domain" },
        { address: "a@b\r\nRCPT TO:<x@y.z>", reason: "\"a@b\r\nRCPT TO:<x@y.z>\" contains CR, LF or NUL" },
        { address: "dot.@example.com", reason: "\"dot.@example.com\" has a misplaced dot in the local part" }
      ])
    }))

  it.scoped("a suppression refuses the address under any spelling of its domain and any case of its local part, until lifted", () =>
    Effect.gen(function*() {
      const r = yield* recipients()
      yield* r.suppress("Ann@BÜCHER.Example", "hard bounce")
      // Mailbox providers ignore the local part's case (though RFC 5321 §2.4 would let them not):
      // a suppression that "ann" slips past is no suppression (issue 14, item 9).
      const spellings = ["Ann@bücher.example", "Ann@XN--BCHER-KVA.EXAMPLE", "Ann@xn--bcher-kva.example", "ann@bücher.example", "ANN@Bücher.Example"]
      const refused = yield* r.check([...spellings, "bob@bücher.example"])
      expect(refused.map((x) => x.address)).toEqual(spellings)
      expect(refused[0]!.reason).toBe("Ann@bücher.example is suppressed: hard bounce")

      expect(yield* r.unsuppress("aNN@xn--bcher-kva.example")).toBe(true)
      expect(yield* r.check(spellings)).toEqual([])
      expect(yield* r.unsuppress("Ann@bücher.example")).toBe(false)
    }))

  it.scoped("a suppression stored before local parts were compared without case still refuses its own spelling, and is lifted", () =>
    Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore.pipe(Effect.provide(KeyValueStore.layerMemory))
      // As an older version keyed it: the local part as given, the domain normalized.
      const key = createHash("sha256").update("SUP2@example.net").digest("hex")
      yield* store.set(`suppressions/${key}`, JSON.stringify({ address: "SUP2@example.net", reason: "old", at: 0 }))
      const r = yield* recipients({}, Layer.succeed(KeyValueStore.KeyValueStore, store))
      expect((yield* r.check(["SUP2@Example.NET"])).map((x) => x.reason)).toEqual(["SUP2@Example.NET is suppressed: old"])
      expect(yield* r.unsuppress("SUP2@example.net")).toBe(true)
      expect(yield* r.check(["SUP2@example.net"])).toEqual([])
    }))

  it.scoped("suppressing again replaces the reason; the default reason says suppressed", () =>
    Effect.gen(function*() {
      const r = yield* recipients()
      yield* r.suppress("x@example.com")
      expect((yield* r.check(["x@example.com"]))[0]!.reason).toBe("x@example.com is suppressed: suppressed")
      yield* r.suppress("x@example.com", "complaint")
      expect((yield* r.check(["x@example.com"]))[0]!.reason).toBe("x@example.com is suppressed: complaint")
    }))

  it.scoped("suppress and unsuppress refuse invalid addresses with InvalidAddress", () =>
    Effect.gen(function*() {
      const r = yield* recipients()
      const error = yield* Effect.flip(r.suppress("not an address"))
      expect(error._tag).toBe("InvalidAddress")
      expect(error.address).toBe("not an address")
      expect(error.reason).toBe("is not of the form local@domain")
      expect((yield* Effect.flip(r.unsuppress("a@-bad-.example")))._tag).toBe("InvalidAddress")
    }))

  it.scoped("the longest valid addresses, non-ASCII ones too, can be suppressed on disk", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-recipients-test-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const config = { queue: { kind: "embedded" as const, path: path.join(dir, "spool") } }
      const r = yield* Effect.flatMap(Layer.build(Recipients.layerFromConfig(config)), (c) => Effect.provide(Recipients, c))
      const long = `${"ü".repeat(32)}@${Array(4).fill("b".repeat(60)).join(".")}.example`
      yield* r.suppress(long, "test")
      expect((yield* r.check([long])).map((x) => x.address)).toEqual([long])
      expect(yield* r.unsuppress(long)).toBe(true)
    }))

  it.scoped("with an embedded queue, suppressions are on disk beside the spool and survive a restart", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-recipients-test-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const config = { queue: { kind: "embedded" as const, path: path.join(dir, "spool") } }
      const open = Effect.flatMap(Layer.build(Recipients.layerFromConfig(config)), (c) => Effect.provide(Recipients, c))
      yield* Effect.scoped(Effect.flatMap(open, (r) => r.suppress("gone@example.com", "unsubscribed")))
      expect(fs.existsSync(path.join(dir, "recipients", "data.mdb"))).toBe(true)
      const again = yield* open
      expect(yield* again.check(["gone@example.com"])).toEqual([
        { address: "gone@example.com", reason: "gone@example.com is suppressed: unsubscribed" }
      ])
    }))
})

describe("Recipients: suppressions that expire, and the engine's port", () => {
  it.effect("a suppression with an expiry refuses until then, naming it; once lapsed it is removed as it is read", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore.pipe(Effect.provide(KeyValueStore.layerMemory))
      const r = yield* recipients({}, Layer.succeed(KeyValueStore.KeyValueStore, store))
      const start = Date.UTC(2026, 11, 1)
      yield* TestClock.setTime(start)
      yield* r.suppress("x@example.com", "bounced: 550 5.1.1 User unknown", start + 60_000)
      yield* r.suppress("y@example.com", "for good")
      const refused = [{ address: "x@example.com", reason: "x@example.com is suppressed until 2026-12-01T00:01:00.000Z: bounced: 550 5.1.1 User unknown" }]
      expect(yield* r.check(["x@example.com"])).toEqual(refused)
      yield* TestClock.adjust("59 seconds")
      expect(yield* r.check(["x@example.com"])).toEqual(refused)
      expect(yield* store.size).toBe(2)

      yield* TestClock.adjust("1 second")
      expect(yield* r.check(["x@example.com", "y@example.com"])).toEqual([
        { address: "y@example.com", reason: "y@example.com is suppressed: for good" }
      ])
      expect(yield* store.size).toBe(1)
      expect(yield* r.unsuppress("x@example.com")).toBe(false)
    })))

  it.effect("a lapsed suppression is not lifted: unsuppress says it was not suppressed", () =>
    Effect.scoped(Effect.gen(function*() {
      const r = yield* recipients()
      yield* r.suppress("x@example.com", "complained", 1000)
      yield* TestClock.setTime(1000)
      expect(yield* r.unsuppress("x@example.com")).toBe(false)
    })))

  it.scoped("the engine's Suppressions add to the list submits are checked against; a bad address is logged, never raised", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(
        Recipients.layerSuppressions.pipe(Layer.provideMerge(Recipients.layer()), Layer.provide(KeyValueStore.layerMemory))
      )
      const port = Context.get(context, Suppressions)
      const r = Context.get(context, Recipients)
      yield* port.add("gone@example.net", "bounced: 550 5.1.1 User unknown", undefined)
      yield* port.add("not an address", "complained", undefined)
      expect(yield* r.check(["gone@example.net"])).toEqual([
        { address: "gone@example.net", reason: "gone@example.net is suppressed: bounced: 550 5.1.1 User unknown" }
      ])
    }))
})

describe("Recipients: domain checks on a DNS server on loopback", () => {
  it.scoped("MX, or else A/AAAA, accepts; NXDOMAIN, no records and null MX refuse", () =>
    Effect.gen(function*() {
      const dns = yield* DnsResponder.make(zones)
      const r = yield* recipients({ checkDomains: true, dnsServers: [dns.server], dnsTimeout: "300 millis" })
      const refused = yield* r.check([
        "a@mx.example", "b@a-only.example", "c@v6-only.example", "d@empty.example", "e@nowhere.example", "f@null-mx.example"
      ])
      expect(refused).toEqual([
        { address: "d@empty.example", reason: "domain empty.example has no MX, A or AAAA record" },
        { address: "e@nowhere.example", reason: "domain nowhere.example does not exist (NXDOMAIN)" },
        { address: "f@null-mx.example", reason: "domain null-mx.example accepts no mail (null MX)" }
      ])
      expect(dns.queries("mx.example")).toBe(1)
    }))

  it.scoped("SERVFAIL and a server that never answers accept the address (DNS never blocks a submit)", () =>
    Effect.gen(function*() {
      const dns = yield* DnsResponder.make(zones)
      const r = yield* recipients({ checkDomains: true, dnsServers: [dns.server], dnsTimeout: "300 millis" })
      expect(yield* r.check(["a@broken.example", "b@slow.example"])).toEqual([])
      expect(dns.queries("broken.example")).toBeGreaterThanOrEqual(1)
      expect(dns.queries("slow.example")).toBeGreaterThanOrEqual(1)
    }))

  it.scoped("with checkDomains off (the default), DNS is never asked", () =>
    Effect.gen(function*() {
      const dns = yield* DnsResponder.make(zones)
      const r = yield* recipients({ dnsServers: [dns.server] })
      expect(yield* r.check(["a@nowhere.example", "b@mx.example"])).toEqual([])
      expect(dns.queries()).toBe(0)
    }))

  it.scoped("a suppressed or malformed address is refused without a DNS query", () =>
    Effect.gen(function*() {
      const dns = yield* DnsResponder.make(zones)
      const r = yield* recipients({ checkDomains: true, dnsServers: [dns.server] })
      yield* r.suppress("x@mx.example")
      expect((yield* r.check(["x@mx.example", "y@mx..example"])).length).toBe(2)
      expect(dns.queries()).toBe(0)
    }))

  it.effect("verdicts are cached per domain for cacheTtl (TestClock), then looked up again", () =>
    Effect.scoped(Effect.gen(function*() {
      const dns = yield* DnsResponder.make(zones)
      const r = yield* recipients({ checkDomains: true, dnsServers: [dns.server], cacheTtl: "10 minutes" })
      yield* r.check(["a@mx.example", "b@nowhere.example"])
      expect(dns.queries("mx.example")).toBe(1)
      expect(dns.queries("nowhere.example")).toBe(1)

      // Other mailboxes at the same domains, many at once: no new query.
      const refused = yield* r.check(["c@mx.example", "d@MX.example", "e@nowhere.example", "f@NOWHERE.example"])
      expect(refused.map((x) => x.address)).toEqual(["e@nowhere.example", "f@NOWHERE.example"])
      expect(dns.queries("mx.example")).toBe(1)
      expect(dns.queries("nowhere.example")).toBe(1)

      yield* TestClock.adjust("9 minutes")
      yield* r.check(["a@mx.example"])
      expect(dns.queries("mx.example")).toBe(1)
      yield* TestClock.adjust("2 minutes")
      yield* r.check(["a@mx.example", "b@nowhere.example"])
      expect(dns.queries("mx.example")).toBe(2)
      expect(dns.queries("nowhere.example")).toBe(2)
    })))

  it.effect("a DNS failure is remembered only briefly (30 s), not for the whole TTL", () =>
    Effect.scoped(Effect.gen(function*() {
      const dns = yield* DnsResponder.make(zones)
      const r = yield* recipients({ checkDomains: true, dnsServers: [dns.server], cacheTtl: "1 hour" })
      yield* r.check(["a@broken.example"])
      const first = dns.queries("broken.example")
      yield* r.check(["a@broken.example"])
      expect(dns.queries("broken.example")).toBe(first)
      yield* TestClock.adjust("31 seconds")
      yield* r.check(["a@broken.example"])
      expect(dns.queries("broken.example")).toBeGreaterThan(first)
    })))

  it.effect("processes on one store (as on Redis) share verdicts, for what remains of the TTL", () =>
    Effect.scoped(Effect.gen(function*() {
      const dns = yield* DnsResponder.make(zones)
      const shared = Layer.succeed(KeyValueStore.KeyValueStore, yield* KeyValueStore.KeyValueStore.pipe(
        Effect.provide(KeyValueStore.layerMemory)
      ))
      const options: Options = { checkDomains: true, dnsServers: [dns.server], cacheTtl: "10 minutes", dnsTimeout: "300 millis" }
      const first = yield* recipients(options, shared)
      expect((yield* first.check(["a@nowhere.example", "b@mx.example", "c@slow.example"])).length).toBe(1)
      const asked = { nowhere: dns.queries("nowhere.example"), mx: dns.queries("mx.example"), slow: dns.queries("slow.example") }

      yield* TestClock.adjust("4 minutes")
      const second = yield* recipients(options, shared)
      const refused = yield* second.check(["a@nowhere.example", "b@mx.example", "c@slow.example"])
      expect(refused).toEqual([{ address: "a@nowhere.example", reason: "domain nowhere.example does not exist (NXDOMAIN)" }])
      expect(dns.queries("nowhere.example")).toBe(asked.nowhere)
      expect(dns.queries("mx.example")).toBe(asked.mx)
      // No answer is not shared: the second process asks for itself.
      expect(dns.queries("slow.example")).toBeGreaterThan(asked.slow)

      // The second took the verdict for the 6 minutes left of it, not for 10 more.
      yield* TestClock.adjust("361 seconds")
      yield* second.check(["b@mx.example"])
      expect(dns.queries("mx.example")).toBe(asked.mx + 1)
    })))

  it.effect("concurrent checks of one domain share one lookup", () =>
    Effect.scoped(Effect.gen(function*() {
      const dns = yield* DnsResponder.make(zones)
      const r = yield* recipients({ checkDomains: true, dnsServers: [dns.server] })
      const addresses = Array.from({ length: 50 }, (_, i) => `user${i}@a-only.example`)
      expect(yield* r.check(addresses)).toEqual([])
      // MX (empty), then A and AAAA: three queries, not 150.
      expect(dns.queries("a-only.example")).toBe(3)
    })))
})

describe("Recipients: config", () => {
  it.effect("dnsServers must be IP[:port]; the config names the field", () =>
    Effect.gen(function*() {
      // The section where a configuration file has it, so the path is the file's.
      const error = yield* Effect.flip(Config.decodeSection(Schema.Struct({ recipients: RecipientsConfig.Config }))({
        recipients: { checkDomains: true, dnsServers: ["127.0.0.1:5353", "dns.example:53"] }
      }))
      expect(error.issues).toEqual([{
        path: "recipients.dnsServers[1]",
        message: "\"dns.example:53\" is not an IP address with an optional port (\"127.0.0.1:5353\", \"[::1]:53\")"
      }])
    }))
})
