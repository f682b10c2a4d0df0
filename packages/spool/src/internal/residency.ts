import { readFileSync } from "node:fs"

const kib = (status: string, field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN)

/** Bytes of mapped files resident in this process (Linux's RssFile + RssShmem), or undefined where /proc does not say. */
export const mappedResident = (): number | undefined => {
  let status: string
  try {
    status = readFileSync("/proc/self/status", "utf8")
  } catch {
    return undefined
  }
  const bytes = (kib(status, "RssFile") + kib(status, "RssShmem")) * 1024
  return Number.isFinite(bytes) ? bytes : undefined
}

/** How often, in accesses to the store, /proc is read (about 7 µs a read). */
const every = 256

/**
 * Tells when the pages of files mapped into this process grew by more than `budget` bytes since the
 * last `reset`: the pages LMDB's map keeps resident, counted without parsing /proc/self/smaps.
 * It never tells where /proc is missing.
 */
export class Residency {
  private accesses = 0
  private baseline = mappedResident()
  constructor(private readonly budget: number) {}

  exceeded(): boolean {
    if (this.baseline === undefined || ++this.accesses < every) return false
    this.accesses = 0
    return (mappedResident() ?? 0) - this.baseline > this.budget
  }

  /** After the map was let go: what is resident now is the new floor. */
  reset(): void {
    this.baseline = mappedResident() ?? this.baseline
  }
}
