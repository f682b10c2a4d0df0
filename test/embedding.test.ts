import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import type { DeliveryEvent } from "@sluice/engine"
import { createEngine } from "@sluice/sluice"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import { root, runTs } from "./support/run.js"

const promise = <A>(run: () => Promise<A>) => Effect.promise(run)


/** Runs test/support/embeddedHost.ts in a process of its own: what it writes is all there is to see. */
const runHost = (env: Record<string, string>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "sluice-host-"))),
    (cwd) =>
      runTs(join(root, "test", "support", "embeddedHost.ts"), cwd, { ...env, SPOOL_PATH: join(cwd, "spool") }, "the host"),
    (cwd) => Effect.sync(() => rmSync(cwd, { recursive: true, force: true }))
  )

describe("createEngine, the Promise facade", () => {
  it.live("a bad config rejects with a ConfigError naming each field", () =>
    promise(async () => {
      const error = await createEngine({ upstreams: [{ host: "", port: 70000 }] } as never).then(
        () => undefined,
        (error: unknown) => error
      )
      expect(error).toMatchObject({ _tag: "ConfigError" })
      const paths = (error as { issues: ReadonlyArray<{ path: string }> }).issues.map((issue) => issue.path)
      expect(paths).toEqual(expect.arrayContaining(["upstreams[0].host", "upstreams[0].port"]))
      // The sections of other packages too, by the same paths as `sluice serve` names them.
      const sections = await createEngine({ upstreams: [{ host: "127.0.0.1", port: 25 }], log: { level: "loud" }, cache: { kind: "disk" } } as never)
        .then(() => undefined, (error: unknown) => error)
      expect([...new Set((sections as { issues: ReadonlyArray<{ path: string }> }).issues.map((issue) => issue.path))]).toEqual(["cache.kind", "log.level"])
    }))

  it.scoped("a bad message rejects with InvalidMessage naming the field; events end at close", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const engine = yield* promise(() =>
        createEngine({ queue: { kind: "memory" }, upstreams: [{ host: sink.host, port: sink.port }] })
      )
      const error = yield* promise(() =>
        engine.submit({ from: "me@example.com", to: ["not an address"], text: "x" }).then(() => undefined, (e: unknown) => e)
      )
      expect(error).toMatchObject({ _tag: "InvalidMessage", field: "to[0]" })

      const seen: Array<string> = []
      const events = engine.events()
      const { id } = yield* promise(() => engine.submit({ from: "me@example.com", to: ["you@example.net"], text: "x" }))
      const listening = (async () => {
        for await (const event of events) seen.push(event._tag)
      })()
      yield* promise(async () => {
        while ((await engine.status(id))?.status !== "delivered") await new Promise((r) => setTimeout(r, 20))
      }).pipe(Effect.timeout("20 seconds"))
      yield* promise(() => engine.close())
      yield* promise(() => listening)
      expect(seen).toEqual(expect.arrayContaining(["Accepted", "Attempt", "Delivered"]))
      expect(sink.received).toBe(1)
    }))

  it.scoped("the embedded default opens a durable spool; a second engine on it is refused, naming the path", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "sluice-embed-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const config = { queue: { kind: "embedded" as const, path: join(dir, "spool") }, upstreams: [{ host: "127.0.0.1", port: 9 }] as const }
      const first = yield* promise(() => createEngine(config))
      const second = yield* promise(() => createEngine(config).then(() => undefined, (e: unknown) => e))
      expect(second).toMatchObject({ _tag: "SpoolError" })
      expect(String((second as Error).message)).toContain(join(dir, "spool"))
      yield* promise(() => first.close())
    }))

  // Issue 14: what a hostile submitter sends is refused through the facade as through the service.
  it.live("a hostile message rejects with the typed error, naming the field", () =>
    promise(async () => {
      const ok = { from: "sender@example.com", to: ["ok@example.net"], subject: "hello", text: "body" }
      const engine = await createEngine({ queue: { kind: "memory" }, upstreams: [{ host: "127.0.0.1", port: 1 }] })
      try {
        const error = await engine.submit({ ...ok, to: ["ok@example.net", "\"a\tb\"@example.net"] }).then(() => undefined, (e: unknown) => e)
        expect(error).toMatchObject({ _tag: "InvalidMessage", field: "to[1]" })
        const header = await engine.submit({ ...ok, headers: { Bcc: "spy@example.net" } }).then(() => undefined, (e: unknown) => e)
        expect(header).toMatchObject({ _tag: "InvalidMessage", field: "headers.Bcc" })
      } finally {
        await engine.close()
      }
    }))

  // The same layers as `sluice serve`: a webhook section posts the events, the drain's included.
  it.scoped("a webhook section posts the delivery events, as sluice serve does", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const posted: Array<{ _tag: string; id: string }> = []
      const receiver = yield* Effect.acquireRelease(
        promise(() =>
          new Promise<ReturnType<typeof createServer>>((resolve) => {
            const server = createServer((req, res) => {
              let body = ""
              req.setEncoding("utf8").on("data", (chunk: string) => body += chunk).on("end", () => {
                posted.push(...(JSON.parse(body) as { events: Array<{ _tag: string; id: string }> }).events)
                res.writeHead(204).end()
              })
            })
            server.listen(0, "127.0.0.1", () => resolve(server))
          })
        ),
        (server) => promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      )
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
      const engine = yield* promise(() =>
        createEngine({
          queue: { kind: "memory" },
          upstreams: [{ host: sink.host, port: sink.port }],
          webhook: { url, batchSize: 10, flushInterval: 50 }
        })
      )
      const { id } = yield* promise(() => engine.submit({ from: "me@example.com", to: ["you@example.net"], text: "x" }))
      yield* promise(async () => {
        while ((await engine.status(id))?.status !== "delivered") await new Promise((r) => setTimeout(r, 20))
      }).pipe(Effect.timeout("20 seconds"))
      // Closing drains the engine and then the webhook: every event is posted by the time close resolves.
      yield* promise(() => engine.close())
      expect(posted.filter((event) => event.id === id).map((event) => event._tag)).toEqual(["Accepted", "Attempt", "Delivered"])
    }))

  // Issue 16: a library writes nothing to its host's stdout unless the host asks for the lines.
  it.scoped("embedded, the engine writes nothing to stdout or stderr; with a logger its lines go to the host", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const quiet = yield* runHost({ SMTP_PORT: String(sink.port) })
      expect(quiet).toEqual({ code: 0, stdout: "", stderr: "" })
      expect(sink.received).toBe(1)

      const told = yield* runHost({ SMTP_PORT: String(sink.port), LOGGER: "1" })
      expect(told.stderr).toBe("")
      expect(told.code).toBe(0)
      expect(sink.received).toBe(2)
      const { deferred, delivered, lines } = JSON.parse(told.stdout) as {
        delivered: string
        deferred: string
        lines: ReadonlyArray<{ level: string; message: string; annotations: Record<string, unknown>; at: string }>
      }
      expect(lines).toEqual(expect.arrayContaining([
        expect.objectContaining({ level: "info", message: "delivered", annotations: expect.objectContaining({ messageId: delivered, attempt: 1 }) }),
        expect.objectContaining({
          level: "info",
          message: expect.stringMatching(/^deferred: /),
          annotations: expect.objectContaining({ messageId: deferred, code: 451 })
        }),
        expect.objectContaining({ level: "info", message: "draining" })
      ]))
      for (const line of lines) expect(Number.isNaN(Date.parse(line.at))).toBe(false)
    }))

  // What was only a log line (an upstream failing, the message moving on) is an event too.
  it.scoped("a failover is an event: the upstream that failed, the attempt and why", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      // A port nothing listens on: taken from the system, then let go.
      const dead = yield* promise(() =>
        new Promise<number>((resolve) => {
          const server = createServer().listen(0, "127.0.0.1", () => {
            const { port } = server.address() as AddressInfo
            server.close(() => resolve(port))
          })
        })
      )
      const engine = yield* promise(() =>
        createEngine({
          queue: { kind: "memory" },
          // The heavier upstream is tried first: it refuses the connection, and the sink delivers.
          upstreams: [{ host: "127.0.0.1", port: dead, weight: 100 }, { host: sink.host, port: sink.port, weight: 1 }]
        })
      )
      yield* Effect.addFinalizer(() => promise(() => engine.close()))
      const events = engine.events()
      const { id } = yield* promise(() => engine.submit({ from: "me@example.com", to: ["you@example.net"], text: "x" }))
      const seen: Array<DeliveryEvent> = []
      yield* promise(async () => {
        for await (const event of events) {
          if (event._tag !== "CircuitChanged" && event.id === id) seen.push(event)
          if (event._tag === "Delivered" && event.id === id) break
        }
      }).pipe(Effect.timeout("20 seconds"))
      const failover = seen.find((event) => event._tag === "Failover")
      expect(failover).toMatchObject({ _tag: "Failover", id, attempt: 1, reason: expect.any(String) })
      expect(seen.at(-1)).toMatchObject({ _tag: "Delivered", id })
      expect((seen.at(-1) as { upstream: string }).upstream).not.toBe((failover as { upstream: string }).upstream)
    }))

  it.scoped("inspect and list: what waits, by status, stream and domain, page by page", () =>
    Effect.gen(function*() {
      // The sink defers an address with 451 in it: those messages wait in the queue.
      const sink = yield* Sink.make()
      const engine = yield* Effect.acquireRelease(
        promise(() => createEngine({ queue: { kind: "memory" }, upstreams: [{ host: sink.host, port: sink.port }], retry: { initialDelay: "1 hour" } })),
        (engine) => Effect.promise(() => engine.close())
      )
      const ids: Array<string> = []
      for (const to of ["a+451@one.example", "b+451@one.example", "c+451@two.example"]) {
        ids.push((yield* promise(() => engine.submit({ from: "me@example.com", to: [to], text: "x" }))).id)
      }
      yield* promise(async () => {
        while ((await engine.inspect()).byStatus.deferred < 3) await new Promise((r) => setTimeout(r, 20))
      }).pipe(Effect.timeout("20 seconds"))
      const summary = yield* promise(() => engine.inspect())
      expect(summary).toMatchObject({ total: 3, byStream: { default: 3 }, byDomain: { "one.example": 2, "two.example": 1 } })
      expect(summary.nextAttemptAt).toBeGreaterThan(Date.now())
      const one = yield* promise(() => engine.list({ domain: "one.example" }))
      expect(one.messages.map((m) => m.id).sort()).toEqual(ids.slice(0, 2).sort())
      const first = yield* promise(() => engine.list({}, { limit: 2 }))
      expect(first.messages).toHaveLength(2)
      const rest = yield* promise(() => engine.list({}, { limit: 2, ...(first.cursor === undefined ? {} : { cursor: first.cursor }) }))
      expect([...first.messages, ...rest.messages].map((m) => m.id).sort()).toEqual([...ids].sort())
    }))
})
