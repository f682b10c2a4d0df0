/**
 * Durable enqueue throughput of @sluice/spool: single submissions from 100 concurrent callers, and
 * batches of 100 from 10 concurrent callers; every call returns once its messages are fsync'd.
 * Concurrent calls share commits (group commit: LMDB's batched transactions, see
 * packages/spool/src/internal/store.ts), which is what lets single submissions go faster than one
 * fsync at a time.
 */
import type { Panel } from "../harness/chart.js"
import { exited, nextMessage, spawnClient } from "../harness/children.js"
import type { Percentiles } from "../harness/sampling.js"
import { round1 } from "../harness/sampling.js"
import type { Row, Scenario } from "../harness/scenario.js"
import { BenchmarkError, checkAborted, numberOption } from "../harness/scenario.js"
import { median, medianRun } from "./peers.js"
import type { SpoolClientConfig, SpoolReport } from "./spool-client.js"

interface Mode {
  readonly id: string
  readonly label: string
  readonly batch: number
  readonly callers: number
  readonly messages: number
  readonly target: number
}

interface Run {
  readonly round: number
  readonly messagesPerSecond: number
  readonly elapsedMs: number
  readonly cpuMicrosPerMessage: number
  readonly peakRssMiB: number
  readonly latencyMs: Percentiles | null
}

export const spool: Scenario = {
  name: "spool",
  description:
    "Durable enqueue on @sluice/spool (LMDB, fsync'd before each call returns), 1 KiB messages: single submissions " +
    "from 100 concurrent callers, and batches of 100 from 10 concurrent callers. " +
    "Targets on 2 cores: ≥ 10,000 single/s, ≥ 50,000/s batched.",
  timeLimitMs: 10 * 60_000,
  run: async (context) => {
    const options = context.options
    const rounds = numberOption(options, "rounds", 3)
    const size = numberOption(options, "size", 1024)
    const modes: ReadonlyArray<Mode> = [
      { id: "single", label: "single submissions, 100 callers", batch: 1, callers: 100, messages: numberOption(options, "messages", 50_000), target: 10_000 },
      { id: "batched", label: "batches of 100, 10 callers", batch: 100, callers: 10, messages: numberOption(options, "batch-messages", 200_000), target: 50_000 }
    ]
    context.progress.start(rounds * modes.reduce((sum, mode) => sum + mode.messages, 0))
    const runs = new Map<string, Array<Run>>(modes.map((mode) => [mode.id, []]))
    let done = 0
    for (let round = 1; round <= rounds; round++) {
      for (const mode of modes) {
        checkAborted(context.signal)
        context.progress.step(`round ${round}/${rounds} · ${mode.label}`)
        const config: SpoolClientConfig = { messages: mode.messages, warmup: Math.min(5_000, mode.messages / 10), batch: mode.batch, callers: mode.callers, size }
        const child = await spawnClient(new URL("./spool-client.ts", import.meta.url).href, [JSON.stringify(config)], { flags: ["--expose-gc"] })
        const onAbort = () => child.kill("SIGKILL")
        context.signal.addEventListener("abort", onAbort, { once: true })
        try {
          const report = await nextMessage(child, (message: { type?: string }) => message.type === "result" ? message as SpoolReport : undefined)
          await exited(child)
          const run: Run = {
            round,
            messagesPerSecond: Math.round((report.messages * 1000) / report.elapsedMs),
            elapsedMs: round1(report.elapsedMs),
            cpuMicrosPerMessage: round1(((report.cpuUserMs + report.cpuSystemMs) * 1000) / report.messages),
            peakRssMiB: round1(report.peakRssMiB),
            latencyMs: report.latencyMs
          }
          runs.get(mode.id)!.push(run)
          context.progress.log(`spool: round ${round}: ${mode.label}: ${run.messagesPerSecond} msg/s, ${run.cpuMicrosPerMessage} µs CPU/msg`)
        } catch (error) {
          throw new BenchmarkError(`spool ${mode.id}: ${error instanceof Error ? error.message : String(error)}`)
        } finally {
          context.signal.removeEventListener("abort", onAbort)
        }
        done += mode.messages
        context.progress.set(done)
      }
    }
    const rows: Array<Row> = []
    const summary: Array<string> = []
    const figures = modes.map((mode) => {
      const list = runs.get(mode.id)!
      const rate = Math.round(median(list.map((run) => run.messagesPerSecond)))
      const latency = medianRun(list)?.latencyMs ?? null
      const met = rate >= mode.target
      rows.push({
        Mode: mode.label,
        "msg/s (median)": rate,
        "min–max": `${Math.min(...list.map((r) => r.messagesPerSecond))}–${Math.max(...list.map((r) => r.messagesPerSecond))}`,
        "call p50 / p99 ms": latency === null ? null : `${latency.p50} / ${latency.p99}`,
        "CPU µs/msg": median(list.map((run) => run.cpuMicrosPerMessage)),
        Target: `≥ ${mode.target.toLocaleString("en-US")}/s`,
        Met: met ? "yes" : "NO"
      })
      summary.push(`${mode.label}: ${rate} msg/s durable (target ≥ ${mode.target}: ${met ? "met" : "NOT met"}; median of ${list.length})`)
      return { ...mode, medianMessagesPerSecond: rate, met, runs: list }
    })
    const chart: Array<Panel> = [
      {
        kind: "bars",
        title: "Durable enqueue throughput, median over rounds",
        unit: "messages/s",
        items: figures.flatMap((f) => [{ label: f.label, value: f.medianMessagesPerSecond }, { label: `target (${f.id})`, value: f.target }])
      },
      {
        kind: "percentiles",
        title: "Latency per call until durable, run with the median rate",
        unit: "ms",
        items: figures.flatMap((f) => {
          const latency = medianRun(f.runs)?.latencyMs
          return latency == null ? [] : [{ label: f.label, ...latency }]
        })
      }
    ]
    return {
      parameters: {
        messageBytes: size,
        rounds,
        modes: modes.map(({ id, batch, callers, messages }) => ({ id, batch, callers, messages })),
        durability: "each enqueue call returns once LMDB has committed and fsync'd the transaction holding its messages (overlappingSync off)",
        disk: "a fresh spool in the system's temporary directory",
        timed: "from the first call to the last return, after a warm-up of a tenth of the messages (at most 5,000)"
      },
      figures,
      table: { columns: ["Mode", "msg/s (median)", "min–max", "call p50 / p99 ms", "CPU µs/msg", "Target", "Met"], rows },
      summary,
      chart
    }
  }
}
