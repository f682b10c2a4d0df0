/**
 * Scale-out on RabbitMQ: 1, 2 and 3 `sluice serve` processes sharing one RabbitMQ (quorum queues),
 * against one process on the embedded spool, each time 20,000 messages posted in batches of 100
 * spread over the nodes and delivered to two sinks. Figures: delivered per second (first post to
 * last delivery) and CPU time per message of the serve processes, and of the broker.
 */
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import amqp from "amqplib"
import type { Panel } from "../harness/chart.js"
import { round1 } from "../harness/sampling.js"
import type { Row, Scenario } from "../harness/scenario.js"
import { BenchmarkError, checkAborted, numberOption } from "../harness/scenario.js"
import type { Serve } from "../harness/serve.js"
import { processCpuMs, startServe } from "../harness/serve.js"
import type { BenchSink } from "../harness/sinks.js"
import { startSink } from "../harness/sinks.js"
import { runHttpClient } from "./http.js"
import { countAll, sleep } from "./peers.js"
import { chosenSinks } from "./transport.js"

const brokerUrl = "amqp://guest:guest@127.0.0.1:5672"

/** The broker's Erlang VM, when it runs on this machine (its CPU time is read, nothing else). */
const brokerPid = (): number | undefined => {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "beam.smp") return Number(entry)
    } catch {
      // gone meanwhile
    }
  }
  return undefined
}

const brokerAnswers = async (): Promise<boolean> => {
  try {
    const connection = await amqp.connect(brokerUrl)
    await connection.close()
    return true
  } catch {
    return false
  }
}

/** Deletes the queues this run declared (the broker keeps them after the processes are gone). */
const deleteQueues = async (prefix: string) => {
  const names = execFileSync("rabbitmqctl", ["list_queues", "-q", "--no-table-headers", "name"], { encoding: "utf8" })
    .split("\n").map((line) => line.trim()).filter((name) => name.startsWith(`${prefix}.`))
  if (names.length === 0) return
  const connection = await amqp.connect(brokerUrl)
  const channel = await connection.createChannel()
  for (const name of names) await channel.deleteQueue(name)
  await connection.close()
}

interface Setup {
  readonly id: string
  readonly label: string
  readonly nodes: number
  readonly queue: "embedded" | "rabbitmq"
}

export const cluster: Scenario = {
  name: "cluster",
  description:
    "Scale-out: 1, 2 and 3 `sluice serve` processes on one RabbitMQ against 1 on the embedded spool; 20,000 messages " +
    "posted in batches of 100 (10 in flight, spread over the nodes), delivered to two sinks (10 connections per node " +
    "and sink). Delivered/s and CPU per message of the serve processes and of the broker.",
  timeLimitMs: 15 * 60_000,
  run: async (context) => {
    const options = context.options
    const messages = numberOption(options, "messages", 20_000)
    const kind = chosenSinks(options)[0]!
    const rabbit = await brokerAnswers()
    const setups: ReadonlyArray<Setup> = [
      { id: "spool-1", label: "1 node, embedded spool", nodes: 1, queue: "embedded" },
      ...(rabbit
        ? [1, 2, 3].map((nodes): Setup => ({ id: `rabbitmq-${nodes}`, label: `${nodes} node${nodes === 1 ? "" : "s"}, RabbitMQ`, nodes, queue: "rabbitmq" }))
        : [])
    ]
    if (!rabbit) context.progress.log(`cluster: RabbitMQ does not answer on ${brokerUrl}; only the spool is measured (scripts/services.sh starts it)`)
    context.progress.start(setups.length * messages * 2)
    const broker = brokerPid()
    const results = []
    let done = 0
    for (const setup of setups) {
      checkAborted(context.signal)
      const prefix = `sluice-bench-${randomBytes(4).toString("hex")}`
      const sinks: Array<BenchSink> = []
      const nodes: Array<Serve> = []
      try {
        sinks.push(await startSink(kind), await startSink(kind))
        context.progress.step(`${setup.label}: starting`)
        for (let i = 0; i < setup.nodes; i++) {
          nodes.push(await startServe({
            queue: setup.queue === "embedded" ? { kind: "embedded", path: "./spool" } : { kind: "rabbitmq", url: brokerUrl, prefix },
            upstreams: sinks.map((sink, j) => ({
              name: `sink-${j + 1}`,
              host: sink.host,
              port: sink.port,
              maxConnections: 10,
              maxMessagesPerConnection: 1_000_000_000
            })),
            retry: { maxAttempts: 1 }
          }))
        }
        const urls = nodes.map((node) => node.url)
        // Warm-up, delivered before the timed part.
        await runHttpClient({ urls, messages: 1000 * setup.nodes, batch: 100, concurrency: 2 * setup.nodes, textBytes: 800 }, context)
        const warm = 1000 * setup.nodes
        for (let waited = 0; (await countAll(sinks)) < warm; waited += 100) {
          if (waited > 60_000) throw new BenchmarkError(`${setup.label}: the warm-up was not delivered within 60 s`)
          await sleep(100)
        }
        const before = await countAll(sinks)
        const cpu0 = nodes.map((node) => node.cpuMs())
        const broker0 = broker === undefined ? 0 : processCpuMs(broker)
        context.progress.step(`${setup.label}: posting and delivering`)
        const t0 = performance.now()
        const report = await runHttpClient({ urls, messages, batch: 100, concurrency: 10, textBytes: 800 }, context)
        done += messages
        let last = before
        let lastChange = Date.now()
        for (;;) {
          const counted = await countAll(sinks)
          context.progress.set(done + counted - before)
          if (counted - before >= messages) break
          if (counted !== last) {
            last = counted
            lastChange = Date.now()
          } else if (Date.now() - lastChange > 60_000) {
            throw new BenchmarkError(`${setup.label}: delivery stalled at ${counted - before} of ${messages}`)
          }
          await sleep(50)
        }
        const elapsedMs = performance.now() - t0
        done += messages
        const serveCpuMs = nodes.reduce((sum, node, i) => sum + node.cpuMs() - cpu0[i]!, 0)
        const brokerCpuMs = broker === undefined || setup.queue === "embedded" ? null : processCpuMs(broker) - broker0
        const result = {
          ...setup,
          messages,
          acceptedPerSecond: Math.round((messages * 1000) / report.elapsedMs),
          deliveredPerSecond: Math.round((messages * 1000) / elapsedMs),
          serveCpuMicrosPerMessage: round1((serveCpuMs * 1000) / messages),
          brokerCpuMicrosPerMessage: brokerCpuMs === null ? null : round1((brokerCpuMs * 1000) / messages)
        }
        context.progress.log(`cluster: ${setup.label}: ${result.deliveredPerSecond} delivered/s, serve ${result.serveCpuMicrosPerMessage} µs CPU/msg`)
        results.push(result)
      } finally {
        await Promise.all(nodes.map((node) => node.close()))
        await Promise.all(sinks.map((sink) => sink.close()))
        if (setup.queue === "rabbitmq") await deleteQueues(prefix).catch(() => {})
      }
    }
    const spool = results.find((r) => r.id === "spool-1")
    const rows: Array<Row> = results.map((r) => ({
      Setup: r.label,
      "accepted/s": r.acceptedPerSecond,
      "delivered/s": r.deliveredPerSecond,
      "÷ spool": spool === undefined ? null : Math.round((r.deliveredPerSecond / spool.deliveredPerSecond) * 100) / 100,
      "serve CPU µs/msg (all nodes)": r.serveCpuMicrosPerMessage,
      "broker CPU µs/msg": r.brokerCpuMicrosPerMessage
    }))
    const summary = [
      results.map((r) => `${r.label}: ${r.deliveredPerSecond} delivered/s`).join("; "),
      "all processes share the same 2 cores: more nodes add CPU demand, not CPU",
      ...(rabbit ? [] : ["RabbitMQ was not reachable: the cluster rows are missing"])
    ]
    const chart: Array<Panel> = [
      { kind: "bars", title: "Delivered per second (first post to last delivery)", unit: "messages/s", items: results.map((r) => ({ label: r.label, value: r.deliveredPerSecond })) },
      {
        kind: "bars",
        title: "CPU time per message",
        unit: "µs",
        items: results.flatMap((r) => [
          { label: `${r.label}: serve`, value: r.serveCpuMicrosPerMessage },
          ...(r.brokerCpuMicrosPerMessage === null ? [] : [{ label: `${r.label}: broker`, value: r.brokerCpuMicrosPerMessage }])
        ])
      }
    ]
    return {
      parameters: {
        messages,
        post: "batches of 100, 10 in flight, round-robin over the nodes (undici)",
        sinks: `2 × ${kind}; each node has both as upstreams, 10 connections each`,
        broker: rabbit ? `${brokerUrl}, quorum queues under a fresh prefix per setup, deleted after` : "not reachable",
        cpu: "utime + stime from /proc over the timed part; the broker's is the whole beam.smp process"
      },
      figures: results,
      table: { columns: Object.keys(rows[0]!), rows },
      summary,
      chart
    }
  }
}
