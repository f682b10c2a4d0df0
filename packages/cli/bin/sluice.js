#!/usr/bin/env node
// The command is the bundle `npm run build` writes (`npm ci` runs it as the workspace's `prepare`):
// plain JavaScript, no compiler in the process.
import { existsSync } from "node:fs"

const entry = new URL("../dist/bin/sluice.js", import.meta.url)
if (!existsSync(entry)) {
  console.error(`sluice: ${entry.pathname} is missing; build it with \`npm run build\` in the Sluice checkout`)
  process.exit(1)
}
await import(entry.href)
