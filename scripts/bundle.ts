/**
 * Bundles a TypeScript entry point, with the workspace packages it imports, into one ES module that
 * plain `node` runs: no TypeScript loader in the process. tsx compiles each module as it loads and
 * keeps a loader thread of its own, some 70 MiB of memory and a slower start; a deployment does not
 * need that. npm packages stay outside the bundle and load from node_modules as usual (lmdb and
 * msgpackr have native parts), resolved from where the bundle is: write it inside the package of its
 * entry point. `tsx scripts/bundle.ts <entry.ts> <out.mjs>`; with no arguments it
 * bundles the sluice command into packages/cli/dist/sluice.mjs (`npm run build`).
 */
import { build } from "esbuild"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../", import.meta.url))

export const bundle = async (entry: string, outfile: string): Promise<string> => {
  await build({
    entryPoints: [entry],
    outfile,
    absWorkingDir: root,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "linked",
    logLevel: "warning",
    plugins: [{
      name: "npm-packages-outside",
      setup: (b) => {
        b.onResolve({ filter: /^[^./]/ }, (args) => args.path.startsWith("@sluice/") ? undefined : { path: args.path, external: true })
      }
    }]
  })
  return outfile
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [entry = "packages/cli/src/main.ts", outfile = "packages/cli/dist/sluice.mjs"] = process.argv.slice(2)
  bundle(entry, outfile).then(
    (file) => console.log(`bundled ${entry} into ${file}`),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error)
      process.exit(1)
    }
  )
}
