import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { createEngine } from "@sluice/sluice"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"

const promise = <A>(run: () => Promise<A>) => Effect.promise(run)

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
})
