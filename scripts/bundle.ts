/**
 * Bundles TypeScript entry points with esbuild into ES modules that plain `node` runs.
 *
 * `bundleCommand` builds the `sluice` command (packages/cli/dist/bin/, what bin/sluice.js loads):
 * the workspace packages and Effect go into it, tree-shaken, so a start reads a few files instead of
 * the thousand modules of Effect's package indexes; what `serve` alone needs is a chunk of its own,
 * loaded on use, so `--help` never reads it. The other npm packages stay outside and load from
 * node_modules as usual (lmdb and msgpackr have native parts; the CommonJS ones need a real
 * `require`), resolved from where the bundle is.
 *
 * `bundle` builds one benchmark client into one file as the command is built: the workspace packages
 * and Effect inside, tree-shaken and minified (SLUICE_BUNDLE_MINIFY=0 keeps the names); the other npm
 * packages, the peers' among them, load from node_modules. An embedding that imports Effect from
 * node_modules instead loads every module of its package indexes (their sources and code: ~40 MiB of
 * RSS in the drain).
 * `tsx scripts/bundle.ts` (part of `npm run build`) builds the command.
 */
import type { BuildOptions, Plugin } from "esbuild"
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../", import.meta.url))

/** Bare imports that do not match `inside` stay imports of node_modules. */
const outside = (inside: RegExp): Plugin => ({
  name: "npm-packages-outside",
  setup: (b) => {
    b.onResolve({ filter: /^[^./]/ }, (args) => inside.test(args.path) ? undefined : { path: args.path, external: true })
  }
})

const common: BuildOptions = {
  absWorkingDir: root,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
  // The workspace packages' TypeScript sources, not a dist/ that may be older.
  conditions: ["@sluice/source"],
  // Less to read and parse at every start; the source map keeps stack traces readable.
  // SLUICE_BUNDLE_MINIFY=0 keeps the names, for a readable CPU profile.
  minify: process.env.SLUICE_BUNDLE_MINIFY !== "0"
}

export const bundle = async (entry: string, outfile: string): Promise<string> => {
  await build({
    ...common,
    entryPoints: [entry],
    outfile,
    plugins: [outside(/^(@sluice\/|effect(\/|$)|@effect\/)/)]
  })
  return outfile
}

export const commandDirectory = join(root, "packages/cli/dist/bin")

/** Builds the `sluice` command; resolves with its entry file. */
export const bundleCommand = async (): Promise<string> => {
  // Chunk names change with their contents: no chunk of an earlier build stays behind.
  rmSync(commandDirectory, { recursive: true, force: true })
  await build({
    ...common,
    entryPoints: { sluice: join(root, "packages/cli/src/main.ts") },
    outdir: commandDirectory,
    splitting: true,
    sourcesContent: false,
    chunkNames: "chunks/[name]-[hash]",
    // CommonJS modules inside an ES module call `require` for Node's own modules: give them one.
    banner: { js: "import { createRequire as sluiceRequire } from \"node:module\"; const require = sluiceRequire(import.meta.url);" },
    plugins: [outside(/^(?!(lmdb|msgpackr|handlebars)(\/|$))/)]
  })
  const entry = join(commandDirectory, "sluice.js")
  writeHelp(entry)
  return entry
}

/** The command lines whose whole output is fixed by the build: their help and version. */
export const fixedAnswers: ReadonlyArray<ReadonlyArray<string>> = [
  ["--help"],
  ["--version"],
  ["serve", "--help"],
  ["sink", "--help"],
  ["queue", "--help"]
]

/**
 * Runs the built command once for each of `fixedAnswers` and keeps what it printed in help.json, which
 * bin/sluice.js prints without loading the command: help is asked for by people waiting at a prompt,
 * and loading Effect and the CLI library is most of a start.
 */
const writeHelp = (entry: string) => {
  const answers: Record<string, string> = {}
  for (const args of fixedAnswers) {
    answers[args.join(" ")] = execFileSync(process.execPath, [entry, ...args], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } })
  }
  writeFileSync(join(commandDirectory, "help.json"), JSON.stringify(answers))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  bundleCommand().then(
    (file) => console.log(`bundled the sluice command into ${file}`),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error)
      process.exit(1)
    }
  )
}
