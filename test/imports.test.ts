import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { root } from "./support/run.js"

// Node loads a package's index with every module it re-exports. @effect/platform's index takes in its
// HTTP server and Swagger UI (some 20 MB of strings on the heap), which an embedded engine never
// uses: the packages an embedder loads import its modules by their own paths. Only the HTTP adapter
// and the command, which serve HTTP, may import the index.
const serving = new Set(["http", "cli"])
const barrel = /^import\s+(?!type\b)[^;]*?from\s+"@effect\/platform(-node)?"/m

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

describe("what an embedder loads", () => {
  it("no package but the HTTP adapter and the command imports @effect/platform's index at run time", () => {
    const packages = readdirSync(join(root, "packages")).filter((name) => !serving.has(name))
    const files = packages.flatMap((name) => sources(join(root, "packages", name, "src")))
    expect(files.length).toBeGreaterThan(50)
    const offending = files.filter((file) => barrel.test(readFileSync(file, "utf8"))).map((file) => relative(root, file))
    expect(offending).toEqual([])
  })
})
