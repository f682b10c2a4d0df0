import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { SluiceConfig } from "../src/index.js"

// The README's Configuration and Running several nodes sections show whole files: they decode as
// written with the composed schema.
const readmeExample = (heading = "### Configuration"): unknown => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8")
  const section = readme.slice(readme.indexOf(heading))
  return JSON.parse(/```json\n([\s\S]*?)```/.exec(section)![1]!)
}

describe("SluiceConfig, the file composed from each package's section", () => {
  it.effect("the README's example decodes as written", () =>
    Effect.gen(function*() {
      const config = yield* SluiceConfig.decode(readmeExample())
      expect(config.upstreams.map((u) => u.name)).toEqual(["relay-a", "relay-b", "backup"])
      expect(config.http).toMatchObject({ host: "127.0.0.1", port: 8025, apiKeys: ["s3cret"] })
      expect(config.queue).toEqual({ kind: "embedded", path: "./.sluice/spool", maxDepth: 1_000_000 })
    }))

  it.effect("the README's cluster example decodes as written", () =>
    Effect.gen(function*() {
      const config = yield* SluiceConfig.decode(readmeExample("## Running several nodes"))
      expect(config.queue).toMatchObject({ kind: "rabbitmq", url: "amqp://guest:guest@127.0.0.1:5672", prefix: "sluice" })
      expect(config.cache).toMatchObject({ kind: "redis", url: "redis://127.0.0.1:6379", prefix: "sluice" })
      expect(config.upstreams[0]!.rateLimit).toMatchObject({ messages: 300 })
    }))

  it.effect("only upstreams given: every section has its default, and the optional ones are absent", () =>
    Effect.gen(function*() {
      const config = yield* SluiceConfig.decode({ upstreams: [{ host: "127.0.0.1", port: 2525 }] })
      expect(config.log).toEqual({ level: "info" })
      expect(config.cache).toBeUndefined()
      expect(config.webhook).toBeUndefined()
      expect(config.queue.kind).toBe("embedded")
    }))

  it.effect("a queue section without kind is the spool's; resolvePaths makes its path the given directory's", () =>
    Effect.gen(function*() {
      const input: SluiceConfig.SluiceConfigInput = { queue: { path: "spool" }, upstreams: [{ host: "127.0.0.1", port: 2525 }] }
      const config = yield* SluiceConfig.decode(input)
      expect(config.queue).toEqual({ kind: "embedded", path: "spool", maxDepth: 1_000_000 })
      expect(SluiceConfig.resolvePaths(config, "/etc/sluice").queue).toMatchObject({ path: "/etc/sluice/spool" })
      const memory = yield* SluiceConfig.decode({ queue: { kind: "memory" }, upstreams: [{ host: "127.0.0.1", port: 2525 }] })
      expect(SluiceConfig.resolvePaths(memory, "/etc/sluice").queue).toEqual({ kind: "memory", maxDepth: 1_000_000 })
    }))

  it.effect("the engine's cross-field checks still apply to the composed file", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(SluiceConfig.decode({
        upstreams: [{ name: "a", host: "127.0.0.1", port: 1 }, { name: "a", host: "127.0.0.1", port: 2 }],
        cache: { kind: "memory" }
      }))
      expect(error.issues).toEqual([{ path: "upstreams[1].name", message: "\"a\" is already the name of upstreams[0]" }])
    }))

  it.effect("the queue, http and recipients sections, each its package's, are named by their paths in the file", () =>
    Effect.gen(function*() {
      const upstreams = [{ host: "127.0.0.1", port: 2525 }]
      const issues = (input: unknown) => Effect.map(Effect.flip(SluiceConfig.decode(input)), (error) => error.issues)
      expect(yield* issues({ upstreams, queue: { kind: "kafka" }, http: { port: 70000 } })).toEqual([
        { path: "http.port", message: "Expected a number between 0 and 65535, actual 70000" },
        { path: "queue.kind", message: "Expected \"embedded\" | \"rabbitmq\" | \"memory\", actual \"kafka\"" }
      ])
      expect(yield* issues({ upstreams, queue: { kind: "rabbitmq" }, recipients: { dnsServers: ["x"] } })).toEqual([
        { path: "queue.url", message: "is missing" },
        { path: "recipients.dnsServers[0]", message: "\"x\" is not an IP address with an optional port (\"127.0.0.1:5353\", \"[::1]:53\")" }
      ])
      // One issue for a bad optional field, not a second "Expected undefined" beside it.
      expect(yield* issues({ upstreams, queue: { kind: "embedded", maxMappedBytes: 0 } })).toEqual([
        { path: "queue.maxMappedBytes", message: "Expected a number greater than or equal to 1, actual 0" }
      ])
      const rabbit = yield* SluiceConfig.decode({ upstreams, queue: { kind: "rabbitmq", url: "amqp://127.0.0.1" } })
      expect(rabbit.queue).toEqual({ kind: "rabbitmq", url: "amqp://127.0.0.1", maxDepth: 1_000_000 })
    }))
})
