import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, realSleep, start, startSink, tempDir } from "./support/cli.js"

describe("live reload", () => {
  it.scoped("SIGHUP and POST /v1/admin/reload put a new file in force without a restart; a bad one is refused naming the field and the old one stays", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const a = yield* startSink()
      const b = yield* startSink()
      const port = yield* freePort
      const url = `http://127.0.0.1:${port}`
      const file = join(dir, "sluice.json")
      const write = (config: Record<string, unknown>) =>
        writeFileSync(file, JSON.stringify({ http: { port }, queue: { path: "spool" }, ...config }))
      write({ upstreams: [{ name: "a", host: "127.0.0.1", port: a.port }] })
      const serve = yield* start(["serve", "--config", file], { cwd: dir })
      yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")

      const received = (sink: typeof a) => sink.sink.logs().filter((line) => line.msg === "received").length
      const send = (n: number, stream?: string) =>
        Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
          Effect.promise(() =>
            fetch(`${url}/v1/messages`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ from: "me@example.com", to: [`r${i}@example.net`], text: "t", ...(stream === undefined ? {} : { stream }) })
            }).then((r) => r.status)
          ))
      const until = (check: () => boolean, what: string) =>
        Effect.gen(function*() {
          for (let i = 0; i < 1000 && !check(); i++) yield* realSleep(20)
          if (!check()) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
        })

      expect(yield* send(3)).toEqual([202, 202, 202])
      yield* until(() => received(a) === 3, "3 at a")

      // Another upstream and a new stream, by SIGHUP.
      write({ upstreams: [{ name: "b", host: "127.0.0.1", port: b.port }], streams: { default: { weight: 1 }, bulk: { weight: 1 } } })
      yield* serve.kill("SIGHUP")
      const reloaded = yield* serve.waitForLog((line) => line.msg === "configuration reloaded", "the reload")
      expect(reloaded).toMatchObject({ by: "SIGHUP", changed: ["upstreams", "streams"] })
      expect(yield* send(4, "bulk")).toEqual([202, 202, 202, 202])
      yield* until(() => received(b) === 4, "4 at b")
      expect(received(a)).toBe(3)

      // A bad file: refused, naming the field; the running configuration stays.
      write({ upstreams: [{ name: "b", host: "", port: 70000 }] })
      yield* serve.kill("SIGHUP")
      const refused = yield* serve.waitForLog((line) => line.msg === "configuration reload refused", "the refusal")
      expect(String(refused.issues)).toContain("upstreams[0].host")
      expect(yield* send(1, "bulk")).toEqual([202])
      yield* until(() => received(b) === 5, "5 at b")

      // Over HTTP: a section only a restart can change is refused by name; a good file is taken.
      write({ http: { port, maxBodyBytes: 1024 }, upstreams: [{ name: "b", host: "127.0.0.1", port: b.port }] })
      const fixed = yield* Effect.promise(() => fetch(`${url}/v1/admin/reload`, { method: "POST" }).then(async (r) => ({ status: r.status, body: await r.json() as any })))
      expect(fixed.status).toBe(400)
      expect(fixed.body.field).toBe("http")
      write({ upstreams: [{ name: "a", host: "127.0.0.1", port: a.port, weight: 1 }, { name: "b", host: "127.0.0.1", port: b.port, weight: 1 }] })
      const taken = yield* Effect.promise(() => fetch(`${url}/v1/admin/reload`, { method: "POST" }).then(async (r) => ({ status: r.status, body: await r.json() as any })))
      expect(taken).toEqual({ status: 200, body: { changed: ["upstreams", "streams"] } })
      expect(yield* send(10)).toHaveLength(10)
      yield* until(() => received(a) + received(b) === 18, "all 18 delivered")
      expect(received(a)).toBeGreaterThan(3)
      yield* serve.kill("SIGTERM")
      expect(yield* serve.exited).toBe(0)
    }), 90_000)
})
