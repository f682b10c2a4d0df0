/**
 * `sluice serve` as the product runs it, in a child process of its own: a config file written to a
 * temporary directory (which is also its working directory, so its spool and stores land there),
 * its HTTP port, its /metrics, and its CPU time read from /proc.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { exited, sluiceCommand, track } from "./children.js"
import { BenchmarkError } from "./scenario.js"

export interface Serve {
  readonly pid: number
  readonly url: string
  /** The Prometheus text of /metrics. */
  readonly metrics: () => Promise<string>
  /** User + system CPU time of the process so far, in ms (from /proc; 0 where there is none). */
  readonly cpuMs: () => number
  /** SIGTERM (a graceful drain), then SIGKILL after `graceMs`; removes the directory. */
  readonly close: (graceMs?: number) => Promise<void>
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** utime + stime of a process in ms, from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 10 ms). */
export const processCpuMs = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return 0
  }
}

/** Starts `sluice serve --config <file>` with `config` (its `http` set here) and waits for /readyz. */
export const startServe = async (config: Record<string, unknown>): Promise<Serve> => {
  const directory = mkdtempSync(join(tmpdir(), "sluice-bench-serve-"))
  const port = await freePort()
  const file = join(directory, "sluice.json")
  writeFileSync(file, JSON.stringify({ ...config, http: { host: "127.0.0.1", port, maxBodyBytes: 64 * 1024 * 1024 } }, null, 2))
  const child = track(spawn(process.execPath, [await sluiceCommand(), "serve", "--config", file], {
    cwd: directory,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? "" }
  }))
  let errors = ""
  child.stderr!.on("data", (chunk: Buffer) => errors = (errors + chunk.toString()).slice(-4000))
  const url = `http://127.0.0.1:${port}`
  const close = async (graceMs = 30_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
      await exited(child)
      clearTimeout(timer)
    }
    rmSync(directory, { recursive: true, force: true })
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) {
      await close()
      throw new BenchmarkError(`sluice serve exited ${child.exitCode} at start: ${errors.trim()}`)
    }
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await close(1000)
      throw new BenchmarkError(`sluice serve was not ready within 30 s: ${errors.trim()}`)
    }
    await sleep(100)
  }
  return {
    pid: child.pid!,
    url,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    cpuMs: () => processCpuMs(child.pid!),
    close
  }
}

/** The value of one sample of the Prometheus text (`name{labels}`, labels as written), or 0. */
export const sample = (text: string, name: string, labels: Record<string, string> = {}): number => {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line)
    if (match === null || match[1] !== name) continue
    const found = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3])
  }
  return 0
}

/** The cumulative buckets of a Prometheus histogram: [upper bound (s), count]. */
export const histogram = (text: string, name: string): Array<readonly [number, number]> => {
  const buckets: Array<readonly [number, number]> = []
  for (const match of text.matchAll(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\}\\s+(\\S+)`, "gm"))) {
    buckets.push([match[1] === "+Inf" ? Infinity : Number(match[1]), Number(match[2])])
  }
  return buckets.sort((a, b) => a[0] - b[0])
}

/**
 * A quantile from the difference of two snapshots of a cumulative histogram (so one phase of a run
 * is read alone), interpolated linearly within its bucket, in ms; null when nothing was observed.
 */
export const quantileBetween = (
  before: ReadonlyArray<readonly [number, number]>,
  after: ReadonlyArray<readonly [number, number]>,
  q: number
): number | null => {
  const counts = after.map(([le, count], i) => [le, count - (before[i]?.[1] ?? 0)] as const)
  const total = counts.at(-1)?.[1] ?? 0
  if (total <= 0) return null
  const rank = q * total
  let lower = 0
  let below = 0
  for (const [le, count] of counts) {
    if (count >= rank) {
      if (le === Infinity) return lower * 1000
      const inBucket = count - below
      return Math.round((lower + ((le - lower) * (rank - below)) / Math.max(1, inBucket)) * 1000 * 10) / 10
    }
    lower = le
    below = count
  }
  return null
}
