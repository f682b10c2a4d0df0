import { Metric } from "effect"

/** Complaints recorded through POST /v1/complaints. */
export const complaints = Metric.counter("sluice_complaints_total", {
  description: "Complaints recorded against delivered messages",
  incremental: true
})

/** Seconds of CPU the process has used, by mode (user, system). */
export const cpuSeconds = Metric.counter("process_cpu_seconds_total", {
  description: "CPU time used by the process, in seconds, by mode",
  incremental: true
})

export const residentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident set size of the process, in bytes"
})

export const heapUsed = Metric.gauge("nodejs_heap_used_bytes", { description: "V8 heap in use, in bytes" })

export const heapTotal = Metric.gauge("nodejs_heap_total_bytes", { description: "V8 heap allocated, in bytes" })

export const startTime = Metric.gauge("process_start_time_seconds", {
  description: "When the process started, in seconds since the Unix epoch"
})
