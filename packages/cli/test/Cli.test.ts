import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Spool } from "@sluice/spool"
import { Effect } from "effect"
import { run } from "./support/cli.js"
import { sluice } from "./support/inProcess.js"

const repository = fileURLToPath(new URL("../../../", import.meta.url))

const configFile = (config: unknown) => {
  const path = join(mkdtempSync(join(tmpdir(), "sluice-cli-")), "sluice.json")
  writeFileSync(path, typeof config === "string" ? config : JSON.stringify(config))
  return path
}

describe("the command line", () => {
  it.effect("--help lists the commands and each command's flags", () =>
    Effect.gen(function*() {
      const root = yield* sluice("--help")
      expect(root.code).toBe(0)
      expect(root.stdout).toMatch(/- serve .*--upstream/)
      expect(root.stdout).toMatch(/- sink .*--port/)
      const serve = yield* sluice("serve", "--help")
      for (const flag of ["--config FILE", "--upstream host:port[,weight]", "--host HOST", "--port PORT", "--drain-timeout DURATION", "--log-level debug|info|warn|error"]) {
        expect(serve.stdout).toContain(flag)
      }
      expect(serve.stdout).toContain("the README's Configuration section")
      // --upstream is for running without --config: the usage line does not ask for it.
      expect(serve.stdout).toContain("[--upstream host:port[,weight]...]")
      expect(serve.stdout).toContain("(default 30 seconds)")
      expect(serve.stdout).toContain("relative paths in it are from its directory")
      const sink = yield* sluice("sink", "--help")
      for (const flag of ["--port PORT", "--host HOST", "--reject-rcpt CODE", "--reject-data CODE", "--defer-rate 0..1", "--bounce-rate 0..1", "--delay MS", "--auth user:pass", "--quiet"]) {
        expect(sink.stdout).toContain(flag)
      }
      // Every file the help sends a user to is in the repository they have.
      for (const help of [root, serve, sink]) {
        for (const file of help.stdout.match(/[\w./-]+\.md\b/g) ?? []) expect(existsSync(join(repository, file)), file).toBe(true)
      }
    }))

  it.effect.each([
    [["serve", "--upstream", "127.0.0.1:2525", "--port", "70000"], "--port 70000: Expected a number between 0 and 65535"],
    [["serve", "--upstream", "127.0.0.1:2525", "--port", "http"], `--port "http" is not a number`],
    [["serve", "--upstream", "no-port-here"], `--upstream "no-port-here" is not host:port[,weight]`],
    [["serve", "--upstream", "127.0.0.1:99999"], `--upstream "127.0.0.1:99999": port 99999 is above 65535`],
    [["serve", "--upstream", "127.0.0.1:2525", "--drain-timeout", "a while"], `--drain-timeout "a while" is not a duration`],
    [["serve", "--upstream", "127.0.0.1:2525", "--log-level", "loud"], `--log-level "loud" is not one of debug, info, warn, error`],
    [["serve", "--bogus"], "--bogus"],
    [["serve"], "serve needs --config <file>, or at least one --upstream"],
    [["sink", "--defer-rate", "2"], "--defer-rate 2: Expected a number between 0 and 1"],
    [["sink", "--reject-rcpt", "250"], "--reject-rcpt 250: Expected a number between 400 and 599"],
    [["sink", "--auth", "nobody"], `--auth "nobody" is not user:pass`],
    [["launch"], "use one of 'serve', 'sink'"]
  ])("sluice %j exits 2 and says what is wrong", ([args, said]) =>
    Effect.gen(function*() {
      const result = yield* sluice(...args)
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(said)
    }))

  it.effect("a bad config file exits 2 naming each bad field by its path", () =>
    Effect.gen(function*() {
      const result = yield* sluice("serve", "--config", configFile({
        queue: { kind: "memory" },
        upstreams: [{ host: "127.0.0.1", port: 99999 }, { host: "127.0.0.1", port: 2526, tls: "sometimes" }],
        retry: { initialDelay: "soon" },
        log: { level: "verbose" },
        extra: true
      }))
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("the configuration is not valid:")
      for (const path of ["upstreams[0].port", "upstreams[1].tls", "retry.initialDelay", "log.level", "extra"]) {
        expect(result.stderr).toContain(`  ${path}: `)
      }
    }))

  it.effect("flags that build a bad config are named by the field they fill", () =>
    Effect.gen(function*() {
      const result = yield* sluice("serve", "--upstream", "127.0.0.1:2525", "--upstream", "127.0.0.1:2525")
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(`upstreams[1].name: "127.0.0.1:2525" is already the name of upstreams[0]`)
    }))

  it.effect("a config file that cannot be read or parsed exits 2 naming the file", () =>
    Effect.gen(function*() {
      const notJson = configFile("{ upstreams: [")
      const syntax = yield* sluice("serve", "--config", notJson)
      expect(syntax.code).toBe(2)
      expect(syntax.stderr).toContain(`config file ${notJson}: not JSON`)
      const missing = yield* sluice("serve", "--config", join(tmpdir(), "no-such-sluice-config.json"))
      expect(missing.code).toBe(2)
      expect(missing.stderr).toContain("no-such-sluice-config.json: no such file")
    }))

  it.effect("--upstream belongs to the embedded default, not next to --config", () =>
    Effect.gen(function*() {
      const config = configFile({ upstreams: [{ host: "127.0.0.1", port: 2525 }] })
      const result = yield* sluice("serve", "--config", config, "--upstream", "127.0.0.1:2526")
      expect(result.code).toBe(2)
      expect(result.stderr).toContain("--upstream is for running without --config")
    }))

  it.live("a broker that refuses the login exits 2 naming queue.kind, the password hidden", () =>
    Effect.gen(function*() {
      // Live clock: opening a broker connection is bounded by real timers.
      const config = configFile({
        queue: { kind: "rabbitmq", url: "amqp://guest:wrong@127.0.0.1:5672" },
        upstreams: [{ host: "127.0.0.1", port: 2525 }]
      })
      const result = yield* sluice("serve", "--config", config)
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(`queue.kind "rabbitmq": cannot open amqp://guest:***@127.0.0.1:5672`)
      expect(result.stderr).toContain("403")
      expect(result.stderr).not.toContain("wrong")
    }))

  it.scoped("a spool that cannot be opened exits 2 naming its path; one already open, 1 (nothing to fix in the config)", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "sluice-cli-"))
      const blocker = join(dir, "a-file")
      writeFileSync(blocker, "")
      const serveOn = (path: string) =>
        sluice("serve", "--config", configFile({
          queue: { kind: "embedded", path },
          upstreams: [{ host: "127.0.0.1", port: 2525 }]
        }))
      const inTheWay = yield* serveOn(join(blocker, "spool"))
      expect(inTheWay.code).toBe(2)
      expect(inTheWay.stderr).toContain(`spool ${join(blocker, "spool")}: `)

      const held = yield* Spool.make({ path: join(dir, "spool") })
      const locked = yield* serveOn(held.path)
      expect(locked.code).toBe(1)
      expect(locked.stderr).toContain(`spool ${held.path}: already open`)
    }))
})

describe("the linked bin", () => {
  it.effect("answers help and version from help.json exactly as the command itself does, and everything else by running it", () =>
    Effect.gen(function*() {
      const fixed = JSON.parse(readFileSync(join(repository, "packages/cli/dist/bin/help.json"), "utf8")) as Record<string, string>
      expect(Object.keys(fixed)).toEqual(expect.arrayContaining(["--help", "--version", "serve --help", "sink --help", "queue --help"]))
      for (const [line, output] of Object.entries(fixed)) {
        const direct = execFileSync(process.execPath, [join(repository, "packages/cli/dist/bin/sluice.js"), ...line.split(" ")], { encoding: "utf8" })
        expect(output, line).toBe(direct)
        expect((yield* run(line.split(" "))).stdout, line).toBe(direct)
      }
      // Not a fixed line: the command runs (and says what is wrong).
      const other = yield* run(["serve", "--port", "http"])
      expect(other.code).toBe(2)
    }))
})
