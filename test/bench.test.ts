import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { root, run } from "./support/run.js"

// The README's `npm run bench -- <scenario>` commands take minutes each; what a test can run is the
// harness itself, and that every scenario the README names is one it has.
describe("the README's benchmark commands", () => {
  it.effect("`npm run bench -- --list` lists every scenario the README names", () =>
    Effect.gen(function*() {
      const listed = yield* run("npm", ["run", "--silent", "bench", "--", "--list"], { cwd: root, what: "npm run bench -- --list", seconds: 60 })
      expect(listed.code).toBe(0)
      const scenarios = listed.stdout.split("\n").filter((line) => line.includes("\t")).map((line) => line.split("\t")[0])
      const readme = readFileSync(join(root, "README.md"), "utf8")
      const named = [...readme.matchAll(/npm run bench -- ([a-z-]+)/g)].map((match) => match[1])
      expect(named.length).toBeGreaterThan(0)
      for (const name of named) expect(scenarios).toContain(name)
    }))
})
