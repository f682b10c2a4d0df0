import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import { parseUpstream } from "../src/internal/flags.js"
import { ServeConfig } from "../src/index.js"

const flags = (overrides: Partial<ServeConfig.ServeFlags>): ServeConfig.ServeFlags => ({
  config: Option.none(),
  upstreams: [],
  host: Option.none(),
  port: Option.none(),
  logLevel: Option.none(),
  ...overrides
})

const configFile = (config: unknown) => {
  const path = join(mkdtempSync(join(tmpdir(), "sluice-cli-")), "sluice.json")
  writeFileSync(path, JSON.stringify(config))
  return Option.some(path)
}

describe("ServeConfig", () => {
  it.effect.each([
    ["127.0.0.1:2525", { host: "127.0.0.1", port: 2525 }],
    ["relay.example.net:587,3", { host: "relay.example.net", port: 587, weight: 3 }],
    ["[::1]:2525,0.5", { host: "::1", port: 2525, weight: 0.5 }]
  ] as const)("--upstream %s", ([text, expected]) =>
    Effect.gen(function*() {
      expect(yield* parseUpstream(text)).toEqual(expected)
    }))

  it.effect("the embedded default: durable queue under ./.sluice, HTTP on 127.0.0.1:8025", () =>
    Effect.gen(function*() {
      const config = yield* ServeConfig.load(flags({ upstreams: [{ host: "127.0.0.1", port: 2525 }, { host: "127.0.0.1", port: 2526, weight: 3 }] }))
      expect(config.queue).toEqual({ kind: "embedded", path: "./.sluice/spool", maxDepth: 1_000_000 })
      expect(config.http).toMatchObject({ host: "127.0.0.1", port: 8025 })
      expect(config.upstreams.map((u) => [u.host, u.port, u.weight, u.role])).toEqual([
        ["127.0.0.1", 2525, 1, "active"],
        ["127.0.0.1", 2526, 3, "active"]
      ])
      expect(Duration.toMillis(config.retry.initialDelay)).toBe(30_000)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("queue.kind defaults to the spool; its path, given or by default, is the config file's directory's", () =>
    Effect.gen(function*() {
      const upstreams = [{ host: "127.0.0.1", port: 2525 }]
      const given = configFile({ queue: { path: "spool" }, upstreams })
      const byDefault = configFile({ upstreams })
      const absolute = configFile({ queue: { path: "/var/lib/sluice/spool" }, upstreams })
      expect((yield* ServeConfig.load(flags({ config: given }))).queue).toEqual({
        kind: "embedded",
        path: join(dirname(Option.getOrThrow(given)), "spool"),
        maxDepth: 1_000_000
      })
      expect((yield* ServeConfig.load(flags({ config: byDefault }))).queue).toMatchObject({
        kind: "embedded",
        path: join(dirname(Option.getOrThrow(byDefault)), ".sluice", "spool")
      })
      expect((yield* ServeConfig.load(flags({ config: absolute }))).queue).toMatchObject({ path: "/var/lib/sluice/spool" })
      // A section that says another kind is that kind's, and a bad one is still named by its path.
      expect((yield* ServeConfig.load(flags({ config: configFile({ queue: { kind: "memory" }, upstreams }) }))).queue).toEqual({
        kind: "memory",
        maxDepth: 1_000_000
      })
      const bad = yield* Effect.flip(ServeConfig.load(flags({ config: configFile({ queue: { path: "spool", maxDepth: 0 }, upstreams }) })))
      expect(bad.message).toBe("queue.maxDepth: Expected a number greater than or equal to 1, actual 0")
      const unknown = yield* Effect.flip(ServeConfig.load(flags({ config: configFile({ queue: { kind: "disk" }, upstreams }) })))
      expect(unknown.message).toBe(`queue.kind: Expected "embedded" | "rabbitmq" | "memory", actual "disk"`)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("--host and --port override the listener, keeping the rest of the config's http", () =>
    Effect.gen(function*() {
      const config = yield* ServeConfig.load(flags({
        upstreams: [{ host: "127.0.0.1", port: 2525 }],
        host: Option.some("0.0.0.0"),
        port: Option.some(9000)
      }))
      expect(config.http).toMatchObject({ host: "0.0.0.0", port: 9000, maxBodyBytes: 10 * 1024 * 1024 })
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("log.level in the file, --log-level over it, info when neither says", () =>
    Effect.gen(function*() {
      const upstreams = [{ host: "127.0.0.1", port: 2525 }]
      expect((yield* ServeConfig.load(flags({ upstreams }))).log.level).toBe("info")
      expect((yield* ServeConfig.load(flags({ upstreams, logLevel: Option.some("debug") }))).log.level).toBe("debug")
      const warn = configFile({ upstreams, log: { level: "warn" } })
      expect((yield* ServeConfig.load(flags({ config: warn }))).log.level).toBe("warn")
      expect((yield* ServeConfig.load(flags({ config: warn, logLevel: Option.some("error") }))).log.level).toBe("error")
      const bad = yield* Effect.flip(ServeConfig.load(flags({ config: configFile({ upstreams, log: { level: "verbose" } }) })))
      expect(bad._tag === "ConfigError" && [...new Set(bad.issues.map((issue) => issue.path))]).toEqual(["log.level"])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("certificate checks are turned off with tlsVerify; rejectUnauthorized is refused by name", () =>
    Effect.gen(function*() {
      const upstream = { host: "relay.example.net", port: 465, tls: "implicit" }
      const config = yield* ServeConfig.load(flags({ config: configFile({ upstreams: [{ ...upstream, tlsVerify: false }] }) }))
      expect(config.upstreams[0].tlsVerify).toBe(false)
      expect((yield* ServeConfig.load(flags({ config: configFile({ upstreams: [upstream] }) }))).upstreams[0].tlsVerify).toBe(true)
      const refused = yield* Effect.flip(
        ServeConfig.load(flags({ config: configFile({ upstreams: [{ ...upstream, rejectUnauthorized: false }] }) }))
      )
      expect(refused._tag).toBe("ConfigError")
      expect(refused.message).toMatch(/^upstreams\[0\]\.rejectUnauthorized: /)
    }).pipe(Effect.provide(NodeContext.layer)))

  // The file is composed from each package's section (@sluice/sluice's SluiceConfig); a bad field in
  // a section another package owns is still named by its path in the file.
  it.effect("the sections of other packages: cache (@sluice/redis) and webhook (@sluice/http), named by their paths", () =>
    Effect.gen(function*() {
      const upstreams = [{ host: "127.0.0.1", port: 2525 }]
      const good = yield* ServeConfig.load(flags({
        config: configFile({ upstreams, cache: { kind: "redis", url: "redis://127.0.0.1:6379" }, webhook: { url: "https://hooks.example.com/x" } })
      }))
      expect(good.cache).toEqual({ kind: "redis", url: "redis://127.0.0.1:6379" })
      expect(good.webhook).toMatchObject({ url: "https://hooks.example.com/x", batchSize: 100 })
      const bad = yield* Effect.flip(ServeConfig.load(flags({
        config: configFile({ upstreams, cache: { kind: "redis", url: "" }, webhook: { url: "ftp://x.example", batchSize: 0 } })
      })))
      expect(bad._tag).toBe("ConfigError")
      expect(bad.message.split("\n")).toEqual([
        "cache.url: Expected a non empty string, actual \"\"",
        "webhook.url: \"ftp://x.example\" is not an http(s) URL",
        "webhook.batchSize: Expected a number greater than or equal to 1, actual 0"
      ])
      const typo = yield* Effect.flip(ServeConfig.load(flags({ config: configFile({ upstreams, cahce: { kind: "memory" } }) })))
      expect(typo.message).toMatch(/^cahce: is unexpected, expected: .*"cache" \| "webhook"/)
    }).pipe(Effect.provide(NodeContext.layer)))
})
