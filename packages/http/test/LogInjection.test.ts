import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import { join } from "node:path"
import { call, statusUntil } from "./support/adapter.js"
import { serve, workspace } from "./support/process.js"

// What a caller would have land in the log stream: a record of its own making, and a bare line.
const forged = "{\"level\":\"fatal\",\"msg\":\"forged record\"}\nforged bare line"

describe("the log stream of sluice serve", () => {
  it.scopedLive("templates cannot write to stdout: {{log}} writes nothing, Handlebars' warnings are JSON records", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const { dir, file } = workspace((dir) => ({
        http: { port: 0 },
        queue: { kind: "embedded", path: join(dir, "spool") },
        upstreams: [{ name: "sink", host: sink.host, port: sink.port }]
      }))
      const sluice = yield* serve(["--config", file], dir)
      // {{log}} in every form; a property Handlebars' prototype guard refuses, which it warns about.
      const text = "{{log line}}{{log line level=\"error\"}}{{#each items}}{{log this}}{{/each}}Hi {{name}}[{{constructor.name}}][{{toString}}]"
      const put = yield* call(sluice.base, "PUT", "/v1/templates/loggy", { json: { subject: "Hi", text } })
      expect([put.status, put.body], put.text).toEqual([200, { id: "loggy", version: 1 }])
      const sent = yield* call(sluice.base, "POST", "/v1/messages", {
        json: {
          from: "sender@example.com",
          to: ["ann@example.net"],
          template: { id: "loggy", vars: { line: forged, items: [forged], name: "Ann" } }
        }
      })
      expect(sent.status, sent.text).toBe(202)
      yield* statusUntil({ call: (method, path, options) => call(sluice.base, method, path, options) }, sent.body.id, "delivered")
      expect(sink.messages[0]!.data.toString()).toContain("Hi Ann[][]")
      yield* sluice.kill("SIGTERM")
      expect(yield* sluice.exited).toBe(0)

      const lines = sluice.stdout().split("\n").filter((line) => line !== "")
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow()
      expect(sluice.stdout()).not.toContain("forged")
      const warning = sluice.logs().find((line) => line.msg === "template engine warning")
      expect(warning, sluice.stdout()).toMatchObject({ level: "warn", handlebarsLevel: "error" })
      expect(warning!.handlebars).toContain("Access has been denied to resolve the property \"toString\"")
    }), 120_000)
})
