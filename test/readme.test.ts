import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Effect, Exit, Scope } from "effect"
import type { Installed } from "./support/installed.js"
import { install } from "./support/installed.js"
import { root } from "./support/run.js"

const marker = "<!-- the test in test/readme.test.ts runs this block"

/** The TypeScript blocks of the README that follow the marker, in order. */
const examples = (): ReadonlyArray<string> =>
  readFileSync(join(root, "README.md"), "utf8")
    .split(marker)
    .slice(1)
    .map((part) => /```ts\n([\s\S]*?)```/.exec(part)?.[1] ?? "")

// One installation for the file: packing and installing is most of its time.
const scope = Effect.runSync(Scope.make())
let project: Installed

beforeAll(async () => {
  project = await Effect.runPromise(install.pipe(Scope.extend(scope)))
  const [engine, effect] = examples()
  project.write("engine.mjs", engine!)
  project.write("engine.ts", engine!)
  project.write("effect.mjs", effect!)
  project.write("effect.ts", effect!)
}, 300_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

describe("the README's embedding examples, in a project of their own that installed the packed packages", () => {
  it.scoped("createEngine runs on plain node, and the message arrives byte for byte", () =>
    Effect.gen(function*() {
      expect(examples()[0]).toContain("createEngine")
      const sink = yield* Sink.make()
      const result = yield* project.node("engine.mjs", [], { SMTP_PORT: String(sink.port) })
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("status: 'delivered'")
      expect(sink.messages).toHaveLength(1)
      const data = sink.messages[0]!.data.toString("utf8")
      expect(data).toContain("Subject: Your order")
      expect(data).toContain("It ships today.\r\n.\r\nA line with a lone dot arrives as it is.")
    }))

  it.scoped("the Effect example runs on plain node too", () =>
    Effect.gen(function*() {
      expect(examples()[1]).toContain("Sluice.layer")
      const sink = yield* Sink.make()
      const result = yield* project.node("effect.mjs", [], { SMTP_PORT: String(sink.port) })
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("Delivered")
      expect(sink.messages).toHaveLength(1)
      expect(sink.messages[0]!.to).toEqual(["b@example.net"])
    }))

  it.effect("both type-check as TypeScript against the packages' declarations, and a wrong field does not", () =>
    Effect.gen(function*() {
      const good = yield* project.typecheck(["engine.ts", "effect.ts"])
      expect(good.stdout + good.stderr).toBe("")
      expect(good.code).toBe(0)
      project.write("wrong.ts", examples()[0]!.replace("subject:", "subjet:"))
      const wrong = yield* project.typecheck(["wrong.ts"])
      expect(wrong.code).not.toBe(0)
      expect(wrong.stdout).toContain("'subjet' does not exist")
    }), 120_000)

  it.effect("the installed sluice command runs on plain node", () =>
    Effect.gen(function*() {
      const help = yield* project.node("node_modules/.bin/sluice", ["--help"])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("serve")
      expect(help.stdout).toContain("sink")
    }))
})
