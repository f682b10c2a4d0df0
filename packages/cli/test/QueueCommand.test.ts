import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, realSleep, run, start, startSink, tempDir } from "./support/cli.js"

describe("sluice queue", () => {
  it.scoped("suspend, status, list, suspensions and resume against a running serve; tables by default, the server's JSON with --json", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { port: smtpPort, sink } = yield* startSink()
      const port = yield* freePort
      const url = `http://127.0.0.1:${port}`
      writeFileSync(join(dir, "sluice.json"), JSON.stringify({
        http: { port },
        queue: { path: "spool" },
        streams: { transactional: { weight: 8 }, bulk: { weight: 1 } },
        upstreams: [{ name: "relay", host: "127.0.0.1", port: smtpPort }]
      }))
      const serve = yield* start(["serve", "--config", join(dir, "sluice.json")], { cwd: dir })
      yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")
      const queue = (...args: Array<string>) => run(["queue", ...args, "--url", url])

      const suspended = yield* queue("suspend", "upstream", "relay", "--reason", "maintenance", "--json")
      expect(suspended.code).toBe(0)
      const suspension = JSON.parse(suspended.stdout) as { id: string }
      expect(suspension).toMatchObject({ scope: "upstream", target: "relay", reason: "maintenance" })

      const submit = (to: string) =>
        Effect.promise(() =>
          fetch(`${url}/v1/messages`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ from: "me@example.com", to: [to], subject: "s", text: "t", stream: "bulk" })
          }).then((r) => r.json() as Promise<{ id: string }>)
        )
      const first = yield* submit("x@a.example")
      yield* submit("y@b.example")

      const status = yield* queue("status", "--json")
      expect(status.code).toBe(0)
      const direct = yield* Effect.promise(() => fetch(`${url}/v1/queue`).then((r) => r.json() as Promise<Record<string, unknown>>))
      expect(JSON.parse(status.stdout)).toMatchObject({ total: 2, byStream: { bulk: 2 }, byDomain: direct.byDomain })
      const table = yield* queue("status")
      expect(table.stdout).toContain("queued messages: 2")
      expect(table.stdout).toMatch(/a\.example\s+1/)

      const listed = yield* queue("list", "--stream", "bulk", "--domain", "a.example", "--json")
      expect((JSON.parse(listed.stdout) as { messages: Array<{ id: string }> }).messages.map((m) => m.id)).toEqual([first.id])
      expect((yield* queue("list")).stdout).toContain(first.id)
      expect((yield* queue("suspensions")).stdout).toMatch(/upstream\s+relay\s+lifted by hand\s+maintenance/)

      const resumed = yield* queue("resume", suspension.id)
      expect(resumed).toMatchObject({ code: 0, stdout: `resumed ${suspension.id}\n` })
      for (let i = 0; i < 500 && sink.logs().filter((l) => l.msg === "received").length < 2; i++) yield* realSleep(20)
      expect(sink.logs().filter((l) => l.msg === "received")).toHaveLength(2)
      expect((yield* queue("suspensions")).stdout).toBe("no suspensions\n")
    }), 60_000)

  it.effect("a refusal is exit 2 naming the field; a server that cannot be reached is exit 1 in one line", () =>
    Effect.gen(function*() {
      const dead = `http://127.0.0.1:${yield* freePort}`
      const unreachable = yield* run(["queue", "status", "--url", dead])
      expect(unreachable.code).toBe(1)
      expect(unreachable.stderr.trim().split("\n")).toHaveLength(1)
      expect(unreachable.stderr).toContain(dead)
      const badFlag = yield* run(["queue", "list", "--status", "lost", "--url", dead])
      expect(badFlag.code).toBe(2)
      expect(badFlag.stderr).toContain("--status \"lost\" is not one of queued, deferred, delivering")
    }))

  it.scoped("the server's 400 is exit 2 with its field and detail", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort
      const serve = yield* start(["serve", "--upstream", `127.0.0.1:${yield* freePort}`, "--port", String(port)], { cwd: dir })
      yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")
      const refused = yield* run(["queue", "suspend", "stream", "news", "--url", `http://127.0.0.1:${port}`])
      expect(refused.code).toBe(2)
      expect(refused.stderr).toBe(`sluice: target: "news" is not a configured stream (default) (HTTP 400)\n`)
    }), 60_000)

  it.scoped("retry and purge by filter, --dry-run first; without a filter, exit 2", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { port: smtpPort } = yield* startSink()
      const port = yield* freePort
      const url = `http://127.0.0.1:${port}`
      writeFileSync(join(dir, "sluice.json"), JSON.stringify({
        http: { port },
        queue: { path: "spool" },
        retry: { initialDelay: "1 hour" },
        upstreams: [{ name: "relay", host: "127.0.0.1", port: smtpPort }]
      }))
      const serve = yield* start(["serve", "--config", join(dir, "sluice.json")], { cwd: dir })
      yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")
      const queue = (...args: Array<string>) => run(["queue", ...args, "--url", url])
      // The sink answers 451 to these addresses: both wait, deferred for an hour.
      for (const to of ["x+451@a.example", "y+451@b.example"]) {
        yield* Effect.promise(() =>
          fetch(`${url}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from: "me@example.com", to: [to], text: "t" }) })
        )
      }
      for (let i = 0; i < 500; i++) {
        const deferred = JSON.parse((yield* queue("status", "--json")).stdout).byStatus.deferred as number
        if (deferred === 2) break
        yield* realSleep(20)
      }

      expect((yield* queue("purge", "delete", "--domain", "a.example", "--dry-run")).stdout).toBe("1 would be deleted\n")
      expect(JSON.parse((yield* queue("purge", "delete", "--domain", "a.example", "--json")).stdout)).toEqual({ matched: 1, acted: 1, delivering: 0, dryRun: false })
      expect((yield* queue("retry", "--domain", "b.example")).stdout).toBe("1 of 1 due now\n")
      const unfiltered = yield* queue("purge", "bounce")
      expect(unfiltered.code).toBe(2)
      expect(unfiltered.stderr).toContain("all: name at least one filter")
      expect(JSON.parse((yield* queue("status", "--json")).stdout).total).toBe(1)
    }), 60_000)

  it.scoped("each action is logged with who asked: a named key by its name, a bare one by its place and hash", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort
      const url = `http://127.0.0.1:${port}`
      writeFileSync(join(dir, "sluice.json"), JSON.stringify({
        http: { port, apiKeys: [{ name: "ops-oncall", key: "k-named" }, "k-bare"] },
        queue: { path: "spool" },
        upstreams: [{ name: "relay", host: "127.0.0.1", port: yield* freePort }]
      }))
      const serve = yield* start(["serve", "--config", join(dir, "sluice.json")], { cwd: dir })
      yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")
      expect((yield* run(["queue", "retry", "--all", "--url", url, "--api-key", "k-named"])).code).toBe(0)
      expect((yield* serve.waitForLog((line) => line.msg === "queue action", "the first action's log line")).by).toBe("ops-oncall")
      expect((yield* run(["queue", "purge", "delete", "--all", "--url", url, "--api-key", "k-bare"])).code).toBe(0)
      const bare = yield* serve.waitForLog((line) => line.msg === "queue action" && line.action === "delete", "the second action's log line")
      expect(bare.by).toMatch(/^apiKeys\[1\] \(sha256 [0-9a-f]{8}\)$/)
      expect(JSON.stringify(serve.logs())).not.toContain("k-bare")
      expect((yield* run(["queue", "status", "--url", url])).code).toBe(2)
    }), 60_000)
})
