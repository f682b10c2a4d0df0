/**
 * A project of its own outside the checkout, as a user of the published packages has: every
 * workspace package packed with `npm pack` (what `files` ships: dist/ as built, not the sources
 * through the workspace), the tarballs installed with npm, and nothing of the checkout on its paths
 * but the TypeScript compiler it is checked with.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import type { Ran } from "./run.js"
import { root, run } from "./run.js"

export interface Installed {
  readonly dir: string
  /** Writes `source` to `name` in the project. */
  readonly write: (name: string, source: string) => void
  /** `node file` in the project, with plain Node: no loader, no conditions. */
  readonly node: (file: string, args?: ReadonlyArray<string>, env?: Record<string, string>) => Effect.Effect<Ran, Error>
  /** The checkout's TypeScript compiler on the project's files (strict, NodeNext, libraries checked). */
  readonly typecheck: (files: ReadonlyArray<string>) => Effect.Effect<Ran, Error>
}

const npm = (args: ReadonlyArray<string>, cwd: string, what: string) =>
  run("npm", [...args, "--no-audit", "--no-fund", "--ignore-scripts"], { cwd, what, seconds: 240 }).pipe(
    Effect.filterOrFail((ran) => ran.code === 0, (ran) => new Error(`${what} failed (${ran.code}):\n${ran.stderr}`))
  )

/** Packs and installs the packages into a fresh directory; removed with the scope. */
export const install = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "sluice-installed-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(
  Effect.tap((dir) =>
    Effect.gen(function*() {
      const packed = yield* npm(["pack", "--workspaces", "--pack-destination", dir, "--json"], root, "npm pack")
      const tarballs = (JSON.parse(packed.stdout) as ReadonlyArray<{ readonly filename: string }>).map((p) => `./${p.filename}`)
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "a-host", private: true, type: "module" }))
      // The Node types at the checkout's version, so the compiler sees what the checkout's does.
      const types = `@types/node@${(JSON.parse(readFileSync(join(root, "node_modules/@types/node/package.json"), "utf8")) as { version: string }).version}`
      yield* npm(["install", "--prefer-offline", ...tarballs, types], dir, "npm install of the packed packages")
    })
  ),
  Effect.map((dir): Installed => ({
    dir,
    write: (name, source) => writeFileSync(join(dir, name), source),
    node: (file, args = [], env = {}) => run(process.execPath, [file, ...args], { cwd: dir, env: { NODE_OPTIONS: "", ...env }, what: `node ${file}` }),
    typecheck: (files) => {
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
        compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: false, types: ["node"] },
        files
      }))
      return run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "."], { cwd: dir, what: "tsc", seconds: 120 })
    }
  }))
)
