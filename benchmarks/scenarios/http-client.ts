/**
 * The HTTP load client (undici), in a process of its own: `node --import tsx http-client.ts '<json>'`.
 * `concurrency` requests in flight, each one message (POST /v1/messages) or a batch of `batch`
 * (POST /v1/messages/batch), spread round-robin over `urls` (the nodes of a cluster), until
 * `messages` are accepted. Every message must be answered 202 with an id, or the run fails. With
 * `kind: "healthz"`, `messages` GET /healthz instead, each of which must be answered 200.
 */
import { runClient } from "../harness/client.js"
import { Pool } from "undici"
import type { Percentiles } from "../harness/sampling.js"
import { Latencies, machineClockMs } from "../harness/sampling.js"
import { FROM, TO } from "./message.js"

export interface HttpClientConfig {
  readonly urls: ReadonlyArray<string>
  readonly messages: number
  /** 1: POST /v1/messages; more: POST /v1/messages/batch with this many. */
  readonly batch: number
  readonly concurrency: number
  /** Bytes of text in each message (the composed message is a few hundred bytes more). */
  readonly textBytes: number
  /** What is requested: messages (the default), or GET /healthz. */
  readonly kind?: "submit" | "healthz"
  /** When set, requests start at this steady rate (per second) instead of as fast as answers come. */
  readonly requestsPerSecond?: number
}

export interface HttpReport {
  readonly type: "result"
  readonly accepted: number
  readonly elapsedMs: number
  /**
   * When the first request went out, in ms of the machine's clock (machineClockMs, so comparable with the
   * parent's clock): a run timed by the parent starts here, not at the client's own start-up.
   */
  readonly startedAt: number
  readonly cpuMs: number
  /** Per request, from sending it to the whole answer. */
  readonly latencyMs: Percentiles | null
  readonly firstError: string | undefined
}

const config = JSON.parse(process.argv[2] ?? "{}") as HttpClientConfig
const line = "The quick brown fox jumps over the lazy dog, and Sluice delivers it.\n"
const text = line.repeat(Math.ceil(config.textBytes / line.length)).slice(0, config.textBytes)
const message = (i: number) => ({ from: FROM, to: [TO], subject: `benchmark message ${i}`, text })

const pools = config.urls.map((url) => new Pool(url, { connections: Math.ceil(config.concurrency / config.urls.length), pipelining: 1 }))
const latencies = new Latencies()
let next = 0
let requests = 0
let accepted = 0
let firstError: string | undefined

let started = 0
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const worker = async () => {
  while (next < config.messages && firstError === undefined) {
    const n = Math.min(config.batch, config.messages - next)
    const first = next
    next += n
    const index = requests
    const pool = pools[requests++ % pools.length]!
    if (config.requestsPerSecond !== undefined) {
      const due = started + (index * 1000) / config.requestsPerSecond
      if (due > performance.now()) await sleep(due - performance.now())
    }
    if (config.kind === "healthz") {
      const t0 = performance.now()
      const response = await pool.request({ method: "GET", path: "/healthz" })
      const answer = await response.body.text()
      latencies.record(t0)
      if (response.statusCode === 200) accepted += n
      else firstError ??= `${response.statusCode}: ${answer.slice(0, 300)}`
      continue
    }
    const body = config.batch === 1
      ? JSON.stringify(message(first))
      : JSON.stringify({ messages: Array.from({ length: n }, (_, i) => message(first + i)) })
    const t0 = performance.now()
    const response = await pool.request({
      method: "POST",
      path: config.batch === 1 ? "/v1/messages" : "/v1/messages/batch",
      headers: { "content-type": "application/json" },
      body
    })
    const answer = await response.body.text()
    latencies.record(t0)
    if (response.statusCode !== 202) {
      firstError ??= `${response.statusCode}: ${answer.slice(0, 300)}`
      continue
    }
    const parsed = JSON.parse(answer) as { id?: string; results?: Array<{ id?: string; error?: unknown }> }
    const ids = config.batch === 1 ? [parsed.id] : (parsed.results ?? []).map((r) => r.id)
    const ok = ids.filter((id) => typeof id === "string").length
    accepted += ok
    if (ok !== n) firstError ??= `${n - ok} of ${n} not accepted: ${answer.slice(0, 300)}`
  }
}

const main = async () => {
  const cpu0 = process.cpuUsage()
  const startedAt = machineClockMs()
  const t0 = performance.now()
  started = t0
  await Promise.all(Array.from({ length: config.concurrency }, worker))
  const elapsedMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  await Promise.all(pools.map((pool) => pool.close()))
  const report: HttpReport = {
    type: "result",
    accepted,
    elapsedMs,
    startedAt,
    cpuMs: (cpu.user + cpu.system) / 1000,
    latencyMs: latencies.summary(),
    firstError
  }
  return report
}

runClient("http client", main)
