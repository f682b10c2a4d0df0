import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, realSleep, start, startSink } from "./support/cli.js"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const built = fileURLToPath(new URL("../dist/sluice.mjs", import.meta.url))

describe("the built command (npm run build)", () => {
  it.scoped("runs on plain node: serves, takes a message over HTTP and delivers it from its spool", () =>
    Effect.gen(function*() {
      execFileSync("npm", ["run", "build"], { cwd: root, stdio: "ignore", timeout: 60_000 })
      const { port: smtpPort, sink } = yield* startSink()
      const cwd = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "sluice-bundle-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const httpPort = yield* freePort
      const serve = yield* start(["serve", "--upstream", `127.0.0.1:${smtpPort}`, "--port", String(httpPort)], { cwd, bundle: built })
      expect(yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")).toMatchObject({ queue: "embedded" })
      const url = `http://127.0.0.1:${httpPort}/v1/messages`
      const accepted = yield* Effect.promise(() =>
        fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ from: "me@example.com", to: ["you@example.net"], subject: "built", text: "from the bundle" })
        }).then(async (response) => ({ status: response.status, body: await response.json() as { id: string } }))
      )
      expect(accepted.status).toBe(202)
      let status = ""
      for (let i = 0; i < 500 && status !== "delivered"; i++) {
        status = (yield* Effect.promise(() => fetch(`${url}/${accepted.body.id}`).then((r) => r.json() as Promise<{ status: string }>))).status
        if (status !== "delivered") yield* realSleep(20)
      }
      expect(status).toBe("delivered")
      const received = yield* sink.waitForLog((line) => line.msg === "received", "the sink to record it")
      expect(received).toMatchObject({ from: "me@example.com", to: ["you@example.net"] })
      yield* serve.kill("SIGTERM")
      expect(yield* serve.exited).toBe(0)
    }), 60_000)
})
