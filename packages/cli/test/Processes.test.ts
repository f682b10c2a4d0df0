import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join, relative } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { SmtpOptions, SmtpSession } from "@sluice/smtp"
import { Effect } from "effect"
import { freePort, realSleep, run, start, startSink } from "./support/cli.js"

const configFile = (config: unknown) => {
  const path = join(mkdtempSync(join(tmpdir(), "sluice-cli-")), "sluice.json")
  writeFileSync(path, JSON.stringify(config))
  return path
}

const send = (port: number, to: ReadonlyArray<string>) =>
  Effect.scoped(Effect.gen(function*() {
    const session = yield* SmtpSession.open(SmtpOptions.make({ host: "127.0.0.1", port }))
    return yield* session.send({ from: "me@example.com", to }, Buffer.from("Subject: hi\r\n\r\nhello\r\n"))
  }))

/** Waits until GET /healthz answers 200 on `port`: started, whatever it logs. */
const healthy = (port: number, timeoutMs = 30_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const status = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/healthz`).then((answer) => answer.status, () => 0)
      )
      if (status === 200) return
      if (Date.now() > deadline) return yield* Effect.die(new Error(`nothing answered on port ${port}`))
      yield* realSleep(50)
    }
  })

/** A TCP port held by this test process for the scope. */
const occupiedPort = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly close: () => void }>((resume) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      resume(Effect.succeed({ port, close: () => server.close() }))
    })
  }),
  ({ close }) => Effect.sync(close)
)

describe("sluice as a process", () => {
  it.effect("exit codes: 0 for --help, 2 for a bad flag or a bad config (message on stderr)", () =>
    Effect.gen(function*() {
      const config = configFile({ upstreams: [{ host: "127.0.0.1", port: 2525, weight: -1 }] })
      const [help, flag, bad] = yield* Effect.all([
        run(["--help"]),
        run(["serve", "--upstream", "127.0.0.1:2525", "--port", "-1"]),
        run(["serve", "--config", config])
      ], { concurrency: "unbounded" })
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("serve")
      expect(flag.code).toBe(2)
      expect(flag.stderr).toContain("--port -1: Expected a number between 0 and 65535")
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain("upstreams[0].weight: ")
      expect(flag.stdout + bad.stdout).toBe("")
    }))

  it.scoped("sink records what it accepts and refuses as told, one JSON line each", () =>
    Effect.gen(function*() {
      const [plain, deferring] = yield* Effect.all([startSink(), startSink(["--reject-data", "451"])], {
        concurrency: "unbounded"
      })
      const accepted = yield* send(plain.port, ["a@example.net", "bounce+550@example.net"])
      expect(accepted.recipients.map((r) => [r.address, r.reply.code]).sort()).toEqual([
        ["a@example.net", 250],
        ["bounce+550@example.net", 550]
      ])
      const received = yield* plain.sink.waitForLog((line) => line.msg === "received", "the message")
      expect(received).toMatchObject({ level: "info", from: "me@example.com", to: ["a@example.net"] })
      expect(plain.sink.logs().find((line) => line.msg === "refused")).toMatchObject({ code: 550, to: "bounce+550@example.net" })

      const deferred = yield* send(deferring.port, ["b@example.net"])
      expect(deferred.recipients.map((r) => [r.verdict, r.reply.code])).toEqual([["transient", 451]])
      yield* deferring.sink.waitForLog((line) => line.msg === "refused" && line.code === 451, "the refusal")

      yield* plain.sink.kill("SIGTERM")
      expect(yield* plain.sink.exited).toBe(0)
      expect(plain.sink.logs().at(-1)).toMatchObject({ msg: "sink closed", received: 1, refused: 1 })
    }))

  it.scoped("serve logs JSON lines and exits 0 on SIGTERM and on SIGINT", () =>
    Effect.gen(function*() {
      const { port } = yield* startSink()
      // Port 0: the HTTP listener must not collide with anything else on this machine.
      const config = configFile({
        http: { port: 0 },
        queue: { kind: "memory" },
        upstreams: [{ name: "sink", host: "127.0.0.1", port }]
      })
      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        const serve = yield* start(["serve", "--config", config, "--drain-timeout", "5 seconds"])
        const serving = yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")
        expect(serving).toMatchObject({ level: "info", queue: "memory", upstreams: ["sink"] })
        yield* serve.kill(signal)
        expect(yield* serve.exited).toBe(0)
        expect(serve.logs().map((line) => line.msg)).toEqual(expect.arrayContaining(["draining", "stopped"]))
        expect(serve.stderr()).toBe("")
      }
    }))

  it.scoped("a port already in use: exit 2 naming the address", () =>
    Effect.gen(function*() {
      const { port } = yield* occupiedPort
      const config = configFile({ http: { port }, queue: { kind: "memory" }, upstreams: [{ host: "127.0.0.1", port: 2525 }] })
      const result = yield* run(["serve", "--config", config])
      expect(result.code).toBe(2)
      expect(result.stderr).toBe(`sluice: cannot listen on 127.0.0.1:${port}: address already in use\n`)
      // Through --port too, and without a config file.
      const dir = mkdtempSync(join(tmpdir(), "sluice-cli-"))
      const flags = yield* run(["serve", "--upstream", "127.0.0.1:2525", "--port", String(port)], { cwd: dir })
      expect(flags.code).toBe(2)
      expect(flags.stderr).toContain(`cannot listen on 127.0.0.1:${port}: address already in use`)
      expect(flags.stderr).not.toContain("ServeError")
    }))

  it.scoped("one config file from two directories: one spool, beside the file; the second process exits 1 naming the first", () =>
    Effect.gen(function*() {
      const { port: sinkPort } = yield* startSink()
      // `queue` without `kind`: the spool is the default; its relative path is the file's directory's.
      const config = configFile({ http: { port: 0 }, queue: { path: "spool" }, upstreams: [{ host: "127.0.0.1", port: sinkPort }] })
      const here = dirname(config)
      const spool = join(here, "spool")
      const [one, two] = [mkdtempSync(join(tmpdir(), "sluice-cwd-")), mkdtempSync(join(tmpdir(), "sluice-cwd-"))]
      const first = yield* start(["serve", "--config", config], { cwd: one })
      yield* first.waitForLog((line) => line.msg === "serving", "serve to start")
      expect(existsSync(join(spool, "spool.lock"))).toBe(true)
      // The same file, named relatively, from another directory.
      const second = yield* run(["serve", "--config", relative(two, config)], { cwd: two })
      expect(second.code).toBe(1)
      expect(second.stderr).toBe(
        `sluice: spool ${spool}: already open in process ${first.pid} (${join(spool, "spool.lock")}); one process at a time may use a spool\n`
      )
      expect(readdirSync(one)).toEqual([])
      expect(readdirSync(two)).toEqual([])
      yield* first.kill("SIGTERM")
      expect(yield* first.exited).toBe(0)
    }))

  it.scoped("log.level and --log-level: warn leaves info out, debug lets debug in, the flag wins over the file", () =>
    Effect.gen(function*() {
      const { port: sinkPort } = yield* startSink()
      const port = yield* freePort
      const config = configFile({
        http: { port },
        queue: { kind: "memory" },
        upstreams: [{ name: "sink", host: "127.0.0.1", port: sinkPort }],
        log: { level: "warn" }
      })
      const quiet = yield* start(["serve", "--config", config])
      yield* healthy(port)
      yield* quiet.kill("SIGTERM")
      expect(yield* quiet.exited).toBe(0)
      expect(quiet.stdout()).not.toContain(`"msg":"serving"`)
      expect(quiet.logs().filter((line) => line.level === "info" || line.level === "debug")).toEqual([])

      const loud = yield* start(["serve", "--config", config, "--log-level", "debug"])
      yield* loud.waitForLog((line) => line.msg === "serving", "serve to start")
      expect(loud.logs().find((line) => line.msg === "configuration")).toMatchObject({
        level: "debug",
        file: config,
        logLevel: "debug"
      })
      yield* loud.kill("SIGTERM")
      expect(yield* loud.exited).toBe(0)
    }))
})
