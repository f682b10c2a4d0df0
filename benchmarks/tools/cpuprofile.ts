/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`, or `npm run bench -- transport --profile`):
 * self time by function and by package/file, and inclusive time of the functions named on the command
 * line (as substrings of "function file").
 *
 *   npx tsx benchmarks/tools/cpuprofile.ts <file.cpuprofile> [--top 40] [--focus name ...]
 */
import { readFileSync } from "node:fs"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
  readonly startTime: number
  readonly endTime: number
}

const args = process.argv.slice(2)
const file = args.find((arg) => !arg.startsWith("--"))
if (file === undefined) {
  console.error("usage: cpuprofile.ts <file.cpuprofile> [--top N] [--focus substring ...]")
  process.exit(2)
}
const topIndex = args.indexOf("--top")
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 40
const focus: Array<string> = []
for (let i = 0; i < args.length; i++) if (args[i] === "--focus" && args[i + 1]) focus.push(args[++i]!)

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const parent = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

const selfUs = new Map<number, number>()
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
}
const totalUs = profile.endTime - profile.startTime

const shortUrl = (url: string): string => {
  if (url === "") return "(native)"
  const nm = url.lastIndexOf("node_modules/")
  if (nm >= 0) return url.slice(nm + "node_modules/".length)
  const packages = url.indexOf("/packages/")
  if (packages >= 0) return url.slice(packages + 1)
  const benchmarks = url.indexOf("/benchmarks/")
  if (benchmarks >= 0) return url.slice(benchmarks + 1)
  return url.replace(/^file:\/\//, "")
}
const packageOf = (url: string): string => {
  const short = shortUrl(url)
  if (short.startsWith("node:")) return "node (internal)"
  if (short.startsWith("packages/")) return short.split("/").slice(0, 2).join("/")
  if (short.startsWith("(")) return short
  const parts = short.split("/")
  return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!
}
const label = (frame: CallFrame) =>
  `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ""}`

const pct = (us: number) => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`
const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`

const sumBy = (key: (node: ProfileNode) => string) => {
  const sums = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const k = key(byId.get(id)!)
    sums.set(k, (sums.get(k) ?? 0) + us)
  }
  return [...sums].sort((a, b) => b[1] - a[1])
}

console.log(`${file}: ${(totalUs / 1000).toFixed(0)} ms profiled, ${profile.samples.length} samples\n`)
console.log("Self time by package or file:")
for (const [name, us] of sumBy((node) => packageOf(node.callFrame.url)).slice(0, 20)) console.log(`${ms(us)} ${pct(us)}  ${name}`)
console.log("\nSelf time by file:")
for (const [name, us] of sumBy((node) => shortUrl(node.callFrame.url)).slice(0, 25)) console.log(`${ms(us)} ${pct(us)}  ${name}`)
console.log(`\nSelf time by function (top ${top}):`)
for (const [name, us] of sumBy((node) => label(node.callFrame)).slice(0, top)) console.log(`${ms(us)} ${pct(us)}  ${name}`)

if (focus.length > 0) {
  // Inclusive time: a sample counts once when any frame on its stack matches (a|b: either).
  console.log("\nInclusive time (samples with the function anywhere on the stack):")
  for (const needle of focus) {
    let us = 0
    for (const [id, self] of selfUs) {
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const name = label(byId.get(at)!.callFrame)
        if (needle.split("|").some((part) => name.includes(part))) {
          us += self
          break
        }
      }
    }
    console.log(`${ms(us)} ${pct(us)}  ${needle}`)
  }
}

// --callers name: who calls the frames matching name (inclusive time, by immediate caller).
const callers: Array<string> = []
for (let i = 0; i < args.length; i++) if (args[i] === "--callers" && args[i + 1]) callers.push(args[++i]!)
for (const needle of callers) {
  const sums = new Map<string, number>()
  for (const [id, self] of selfUs) {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      if (label(byId.get(at)!.callFrame).includes(needle)) {
        const up = parent.get(at)
        const key = up === undefined ? "(root)" : label(byId.get(up)!.callFrame)
        sums.set(key, (sums.get(key) ?? 0) + self)
        break
      }
    }
  }
  console.log(`\nCallers of ${needle} (inclusive time):`)
  for (const [name, us] of [...sums].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${ms(us)} ${pct(us)}  ${name}`)
}
