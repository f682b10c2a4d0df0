#!/usr/bin/env node
// The command is the bundle `npm run build` writes (`npm ci` runs it as the workspace's `prepare`):
// plain JavaScript, no compiler in the process. Its help and version, fixed when it was built, are
// printed from help.json without loading it.
import { existsSync, readFileSync } from "node:fs"

const directory = new URL("../dist/bin/", import.meta.url)
const entry = new URL("sluice.js", directory)
if (!existsSync(entry)) {
  console.error(`sluice: ${entry.pathname} is missing; build it with \`npm run build\` in the Sluice checkout`)
  process.exit(1)
}
const fixed = (() => {
  try {
    return JSON.parse(readFileSync(new URL("help.json", directory), "utf8"))[process.argv.slice(2).join(" ")]
  } catch {
    return undefined
  }
})()
if (typeof fixed === "string") process.stdout.write(fixed)
else await import(entry.href)
