/**
 * Summarizes a sampling heap profile (from `tools/heap-sampler.cjs`): the bytes allocated in all, per
 * message when given how many the process handled, and the functions that allocated most.
 *
 *   BENCH_NODE_OPTIONS="--require $PWD/benchmarks/tools/heap-sampler.cjs" \
 *     npm run bench -- engine-spool --subjects sluice --sinks smtp-sink --rounds 1
 *   npx tsx benchmarks/tools/heapprofile.ts /tmp/<pid>.heapprofile --messages 22000 [--top 30]
 *
 * (The engine client handles its warm-up and its timed messages: 2,000 + 20,000 by default.)
 */
import { readFileSync } from "node:fs"

interface Node {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<Node>
}

const args = process.argv.slice(2)
const file = args[0]?.startsWith("--") === false ? args[0] : undefined
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : undefined
}
if (file === undefined) {
  console.error("usage: heapprofile.ts <file.heapprofile> [--messages N] [--top N]")
  process.exit(2)
}
const messages = option("--messages")
const top = option("--top") ?? 30

const bySite = new Map<string, number>()
let total = 0
const visit = (node: Node) => {
  const { functionName, lineNumber, url } = node.callFrame
  const site = `${functionName || "(anonymous)"} ${url.split("/").at(-1) ?? ""}:${lineNumber + 1}`
  bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize)
  total += node.selfSize
  for (const child of node.children) visit(child)
}
visit((JSON.parse(readFileSync(file, "utf8")) as { head: Node }).head)

const mb = (bytes: number) => (bytes / 1e6).toFixed(1)
console.log(`allocated: ${mb(total)} MB${messages ? `, ${(total / messages / 1000).toFixed(2)} KB per message (${messages})` : ""}`)
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${mb(bytes).padStart(8)} MB ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${site}`)
}
