import { readFileSync } from "node:fs"

/**
 * What a measured process records about itself while it works: how long each message took (for
 * percentiles) and its resident set over time. Kept small enough to send over IPC: latencies are
 * summarized in the child, RSS samples thinned to at most `maxPoints`.
 */

/**
 * Milliseconds on the machine's monotonic clock (process.hrtime: CLOCK_MONOTONIC on Linux), the same in
 * every process and never stepped like the wall clock (a VM's clock was seen jumping seconds mid-run),
 * so a time one process took can be compared with another's.
 */
export const machineClockMs = (): number => Number(process.hrtime.bigint()) / 1e6

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

// Latency buckets: 0.5% wide from 1 µs up (a value reads back within 0.25% of itself), 10^7 ms at most.
const growth = 1.005
const floorMs = 0.001
const buckets = Math.ceil(Math.log(1e7 / floorMs) / Math.log(growth)) + 1

/**
 * Per-message latencies as a histogram of fixed size (37 KB, however many messages), so that what the
 * measured process keeps for the report does not grow with the run and count in its memory figures.
 */
export class Latencies {
  private readonly counts = new Float64Array(buckets)
  private count = 0
  private max = 0
  record(startedAt: number): void {
    this.recordDuration(performance.now() - startedAt)
  }
  recordDuration(ms: number): void {
    const at = ms <= floorMs ? 0 : Math.min(buckets - 1, Math.ceil(Math.log(ms / floorMs) / Math.log(growth)))
    this.counts[at]!++
    this.count++
    if (ms > this.max) this.max = ms
  }
  /** Nearest-rank percentiles (a bucket's value: the geometric middle of its bounds), rounded to 0.01 ms. */
  summary(): Percentiles | null {
    if (this.count === 0) return null
    const at = (q: number) => {
      const rank = Math.ceil(q * this.count)
      let seen = 0
      for (let i = 0; i < buckets; i++) {
        seen += this.counts[i]!
        if (seen >= rank) return Math.round(Math.min(this.max, floorMs * growth ** (i - 0.5)) * 100) / 100
      }
      return Math.round(this.max * 100) / 100
    }
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: Math.round(this.max * 100) / 100 }
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
