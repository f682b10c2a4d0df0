import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, start, tempDir } from "./support/cli.js"

const json = (response: Response) => response.json() as Promise<any>

describe("sluice serve's suspensions", () => {
  it.scoped("survive a restart: kept beside the spool", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort
      writeFileSync(join(dir, "sluice.json"), JSON.stringify({
        http: { port },
        queue: { path: "spool" },
        upstreams: [{ name: "relay", host: "127.0.0.1", port: yield* freePort }]
      }))
      const url = `http://127.0.0.1:${port}/v1/suspensions`
      const run = Effect.gen(function*() {
        const serve = yield* start(["serve", "--config", join(dir, "sluice.json")], { cwd: dir })
        yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")
        return serve
      })

      const first = yield* run
      const made = yield* Effect.promise(() =>
        fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ scope: "upstream", target: "relay", reason: "maintenance" })
        }).then(json)
      )
      expect(made).toMatchObject({ scope: "upstream", target: "relay", reason: "maintenance" })
      yield* first.kill("SIGTERM")
      expect(yield* first.exited).toBe(0)

      yield* run
      const listed = yield* Effect.promise(() => fetch(url).then(json))
      expect(listed.suspensions).toEqual([made])
    }), 60_000)
})
