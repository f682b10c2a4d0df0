import { readFileSync } from "node:fs"

/**
 * What a measured process records about itself while it works: how long each message took (for
 * percentiles) and its resident set over time. Kept small enough to send over IPC: latencies are
 * summarized in the child, RSS samples thinned to at most `maxPoints`.
 */

export interface Percentiles {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/** Nearest-rank percentiles of `values` (milliseconds), rounded to 0.01 ms; null when empty. */
export const percentiles = (values: ArrayLike<number>): Percentiles | null => {
  if (values.length === 0) return null
  const sorted = Float64Array.from(values).sort()
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! * 100) / 100
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) }
}

/** Per-message latencies, in a preallocated array (no allocation per message while measuring). */
export class Latencies {
  private readonly values: Float64Array
  private count = 0
  constructor(capacity: number) {
    this.values = new Float64Array(capacity)
  }
  record(startedAt: number): void {
    this.recordDuration(performance.now() - startedAt)
  }
  recordDuration(ms: number): void {
    if (this.count < this.values.length) this.values[this.count++] = ms
  }
  summary(): Percentiles | null {
    return percentiles(this.values.subarray(0, this.count))
  }
}

/**
 * [seconds since start, RSS MiB, anonymous MiB, file-backed MiB]. RSS counts the pages of files
 * mapped into the process that it has touched (LMDB reads its data file through such a map), which
 * the kernel can drop at any time; the anonymous part (heap, stacks, buffers) is what the process
 * holds on its own. The last two are missing where /proc is not.
 */
export type RssPoint = readonly [number, number, number?, number?]

const kib = (status: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN)

const memoryNow = (): [number, number?, number?] => {
  const rss = round1(process.memoryUsage.rss() / 2 ** 20)
  try {
    const status = readFileSync("/proc/self/status", "utf8")
    return [rss, round1(kib(status, "RssAnon") / 1024), round1((kib(status, "RssFile") + kib(status, "RssShmem")) / 1024)]
  } catch {
    return [rss]
  }
}

/** Samples this process's RSS every `everyMs` until stopped. */
export const sampleRss = (everyMs = 100) => {
  const started = performance.now()
  const points: Array<RssPoint> = []
  const sample = () => points.push([round2((performance.now() - started) / 1000), ...memoryNow()])
  sample()
  const timer = setInterval(sample, everyMs)
  timer.unref()
  return {
    stop: (maxPoints = 200): Array<RssPoint> => {
      clearInterval(timer)
      sample()
      return thin(points, maxPoints)
    }
  }
}

/** At most `maxPoints` of `points`, evenly spaced, always keeping the first and the last. */
export const thin = <A>(points: ReadonlyArray<A>, maxPoints: number): Array<A> => {
  if (points.length <= maxPoints) return [...points]
  const step = (points.length - 1) / (maxPoints - 1)
  return Array.from({ length: maxPoints }, (_, i) => points[Math.round(i * step)]!)
}

export const round1 = (value: number) => Math.round(value * 10) / 10
export const round2 = (value: number) => Math.round(value * 100) / 100
