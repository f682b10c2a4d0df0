import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import { Effect } from "effect"
import { root, runTs } from "./support/runTs.js"

const marker = "<!-- the test in test/readme.test.ts runs this block"

/** The TypeScript blocks of the README that follow the marker, in order. */
const examples = (): ReadonlyArray<string> =>
  readFileSync(join(root, "README.md"), "utf8")
    .split(marker)
    .slice(1)
    .map((part) => /```ts\n([\s\S]*?)```/.exec(part)?.[1] ?? "")

/** Runs one example as a user would (tsx, a fresh working directory) against the sink's port. */
const run = (source: string, smtpPort: number) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      // Inside the repository, so that `@sluice/*` resolves as it does for a user of the workspace.
      const dir = join(root, "test", ".readme")
      mkdirSync(dir, { recursive: true })
      const file = join(dir, `example-${process.pid}-${Date.now()}.ts`)
      writeFileSync(file, source)
      return { file, cwd: mkdtempSync(join(tmpdir(), "sluice-readme-")) }
    }),
    ({ cwd, file }) =>
      runTs(file, cwd, { SMTP_PORT: String(smtpPort) }, "the example"),
    ({ cwd, file }) => Effect.sync(() => {
      rmSync(file, { force: true })
      rmSync(cwd, { recursive: true, force: true })
    })
  )

describe("the README's embedding examples", () => {
  it.scoped("runs as written and the message arrives byte for byte", () =>
    Effect.gen(function*() {
      const [example] = examples()
      expect(example).toContain("createEngine")
      const sink = yield* Sink.make()
      const result = yield* run(example!, sink.port)
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("status: 'delivered'")
      expect(sink.messages).toHaveLength(1)
      const data = sink.messages[0]!.data.toString("utf8")
      expect(data).toContain("Subject: Your order")
      expect(data).toContain("It ships today.\r\n.\r\nA line with a lone dot arrives as it is.")
    }))

  it.scoped("the Effect example runs as written too", () =>
    Effect.gen(function*() {
      const [, example] = examples()
      expect(example).toContain("Sluice.layer")
      const sink = yield* Sink.make()
      const result = yield* run(example!, sink.port)
      expect(result.stderr).toBe("")
      expect(result.code).toBe(0)
      expect(result.stdout).toContain("Delivered")
      expect(sink.messages).toHaveLength(1)
      expect(sink.messages[0]!.to).toEqual(["b@example.net"])
    }))
})
