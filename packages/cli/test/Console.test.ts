/**
 * The console in a real browser: Debian's Chromium, headless, driven by playwright-core, against a
 * `sluice serve` with a sink (scripts/install-chromium.sh installs it; .ci/run calls that).
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Browser } from "playwright-core"
import { chromium } from "playwright-core"
import { freePort, realSleep, start, startSink, tempDir } from "./support/cli.js"

const browser = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launch({
      executablePath: "/usr/bin/chromium",
      // As root in a container, and on a machine whose network is closed: no sandbox, no background calls.
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    })
  ),
  (b: Browser) => Effect.promise(() => b.close())
)

describe("the console at /console", () => {
  it.scoped("shows what /v1/queue says, asks for the key, and suspends and resumes from the page", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { port: smtpPort, sink } = yield* startSink()
      const port = yield* freePort
      const url = `http://127.0.0.1:${port}`
      const key = "console-key"
      writeFileSync(join(dir, "sluice.json"), JSON.stringify({
        http: { port, apiKeys: [key] },
        queue: { path: "spool" },
        streams: { transactional: { weight: 8 }, bulk: { weight: 1 } },
        upstreams: [{ name: "relay", host: "127.0.0.1", port: smtpPort }]
      }))
      const serve = yield* start(["serve", "--config", join(dir, "sluice.json")], { cwd: dir })
      yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")
      const call = (method: string, path: string, body?: unknown) =>
        Effect.promise(() =>
          fetch(`${url}${path}`, {
            method,
            headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
            ...(body === undefined ? {} : { body: JSON.stringify(body) })
          }).then(async (r) => (r.status === 204 ? undefined : r.json()) as Promise<any>)
        )
      // The relay held: what is submitted stays queued while the page is read.
      const hold = yield* call("POST", "/v1/suspensions", { scope: "upstream", target: "relay", reason: "console test" })
      for (const [i, stream] of [[1, "bulk"], [2, "bulk"], [3, "transactional"]] as const) {
        yield* call("POST", "/v1/messages", { from: "me@example.com", to: [`r${i}@example.net`], text: "t", stream })
      }

      const b = yield* browser
      const page = yield* Effect.promise(() => b.newPage())
      yield* Effect.promise(() => page.goto(`${url}/console`))
      // Without the key, the page asks for it; with it, the numbers come.
      yield* Effect.promise(() => page.waitForSelector("#key-form:not([hidden])", { timeout: 20_000 }))
      yield* Effect.promise(() => page.fill("#key", key))
      yield* Effect.promise(() => page.click("#key-form button"))
      const textOf = (selector: string) => Effect.promise(() => page.locator(selector).textContent())
      for (let i = 0; i < 500 && (yield* textOf("[data-testid=total]")) !== "3"; i++) yield* realSleep(20)
      const queue = yield* call("GET", "/v1/queue")
      const cells = (selector: string) => Effect.promise(() => page.locator(selector).allTextContents())
      const pairs = (flat: ReadonlyArray<string>, width: number) => Array.from({ length: flat.length / width }, (_, i) => flat.slice(i * width, i * width + width))
      const shown = {
        total: yield* textOf("[data-testid=total]"),
        queued: yield* textOf("[data-testid=queued]"),
        streams: pairs(yield* cells("#by-stream td"), 2),
        suspensions: pairs(yield* cells("#suspensions td"), 5).map(([scope, target]) => `${scope} ${target}`),
        circuits: pairs(yield* cells("#circuits td"), 2)
      }
      expect(shown.total).toBe(String(queue.total))
      expect(shown.queued).toBe(String(queue.byStatus.queued))
      expect(Object.fromEntries(shown.streams.map(([name, n]) => [name, Number(n)]))).toEqual(queue.byStream)
      expect(shown.suspensions).toEqual(["upstream relay"])
      expect(shown.circuits).toEqual([["relay", "closed"]])

      // A suspension made from the page is in force.
      yield* Effect.promise(() => page.selectOption("#scope", "domain"))
      yield* Effect.promise(() => page.fill("#target", "example.org"))
      yield* Effect.promise(() => page.fill("#reason", "from the console"))
      yield* Effect.promise(() => page.click("#suspend button"))
      let made: Array<{ scope: string; target: string; reason?: string }> = []
      for (let i = 0; i < 250 && made.length < 2; i++) {
        made = (yield* call("GET", "/v1/suspensions")).suspensions
        if (made.length < 2) yield* realSleep(20)
      }
      expect(made.map((s) => `${s.scope} ${s.target} ${s.reason}`)).toEqual(["upstream relay console test", "domain example.org from the console"])

      // Resumed from the page: the relay takes the held mail.
      yield* Effect.promise(() => page.waitForSelector(`[data-resume="${hold.id}"]`, { timeout: 20_000 }))
      yield* Effect.promise(() => page.click(`[data-resume="${hold.id}"]`))
      for (let i = 0; i < 500 && sink.logs().filter((l) => l.msg === "received").length < 3; i++) yield* realSleep(20)
      expect(sink.logs().filter((l) => l.msg === "received")).toHaveLength(3)
      expect((yield* call("GET", "/v1/suspensions")).suspensions.map((s: { scope: string }) => s.scope)).toEqual(["domain"])
    }), 90_000)
})
