/**
 * Failover: the engine delivers to three sinks (equal weights) while one of them is killed (SIGKILL,
 * its sessions drop, once a quarter of the messages are delivered) and, 6 s later, started again on
 * the same port. Deliveries are counted per
 * upstream over time; the figures are the dip in total throughput while the sink is down, and how
 * long after its return the revived sink carries traffic again (its circuit's cooldown included).
 */
import type { Panel } from "../harness/chart.js"
import type { Row, Scenario } from "../harness/scenario.js"
import { BenchmarkError, numberOption } from "../harness/scenario.js"
import type { BenchSink } from "../harness/sinks.js"
import { startSink } from "../harness/sinks.js"
import { round1 } from "../harness/sampling.js"
import { runEngine } from "./engine.js"
import { chosenSinks } from "./transport.js"

const bucketMs = 250

export const failover: Scenario = {
  name: "failover",
  description:
    "The engine (in-memory queue) delivering 60,000 messages of 1 KiB to three sinks, 10 connections each; one sink is " +
    "killed (SIGKILL) once a quarter of the messages are delivered and started again 6 s later. Throughput over time per upstream; the dip while it is " +
    "down and the time until it carries traffic again (circuit breaker: 5 failures, cooldown 2 s).",
  timeLimitMs: 10 * 60_000,
  run: async (context) => {
    const options = context.options
    const messages = numberOption(options, "messages", 60_000)
    const warmup = 1000
    const downFor = numberOption(options, "down-for", 6) * 1000
    const kind = chosenSinks(options)[0]!
    context.progress.start(messages + 1000)
    const sinks: Array<BenchSink> = []
    const timers: Array<NodeJS.Timeout> = []
    let killedAt: number | undefined
    let revivedAt: number | undefined
    let runStart = 0
    try {
      for (let i = 0; i < 3; i++) sinks.push(await startSink(kind))
      const victim = sinks[2]!
      context.progress.step(`3 × ${kind}, sink-3 killed at a quarter of the messages, for ${downFor / 1000} s`)
      const run = await runEngine(sinks, {
        queue: "memory",
        messages,
        warmup,
        connections: 30,
        size: 1024,
        batch: 100,
        preload: 0,
        rssEveryMs: 250,
        runTimeoutMs: numberOption(options, "run-timeout", 240) * 1000,
        timelineMs: bucketMs,
        countSinks: false,
        // Deferred messages come back after a second, on any upstream; the breaker lets the revived
        // sink be probed 2 s after it opened.
        overrides: {
          retry: { maxAttempts: 20, initialDelay: "1 second", maxDelay: "2 seconds" },
          circuitBreaker: { failureThreshold: 5, cooldown: "2 seconds" }
        },
        onMessage: (message) => {
          if (message.type === "started") runStart = performance.now()
        }
      }, context, (counted) => {
        context.progress.set(counted)
        // Killed once a quarter of the messages are delivered (not at a fixed time: under load the
        // first seconds may go to submitting), brought back `downFor` later.
        if (runStart === 0 || killedAt !== undefined || counted < warmup + messages / 4) return
        killedAt = performance.now() - runStart
        void victim.kill()
        context.progress.log(`failover: sink-3 killed at ${round1(killedAt / 1000)} s`)
        timers.push(setTimeout(() => {
          void startSink(kind, victim.port).then(
            (revived) => {
              sinks[2] = revived
              revivedAt = performance.now() - runStart
              context.progress.log(`failover: sink-3 back at ${round1(revivedAt / 1000)} s`)
            },
            (error: unknown) => context.progress.log(`failover: sink-3 could not be started again: ${String(error)}`)
          )
        }, downFor))
      })
      if (killedAt === undefined || revivedAt === undefined) {
        throw new BenchmarkError(`the run ended (${round1(run.elapsedMs / 1000)} s) before the sink was killed and brought back; give it more --messages`)
      }
      const timeline = run.timeline!
      const names = Object.keys(timeline.upstreams)
      const length = Math.max(...names.map((name) => timeline.upstreams[name]!.length))
      const perSecond = (count: number | undefined) => ((count ?? 0) * 1000) / bucketMs
      const total = Array.from({ length }, (_, i) => names.reduce((sum, name) => sum + (timeline.upstreams[name]![i] ?? 0), 0))
      const second = (ms: number) => Math.floor(ms / bucketMs)
      const mean = (values: ReadonlyArray<number>) => values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length
      // Before: the second before the kill; down: while the sink is away; after: from when the
      // revived sink has traffic again to the end.
      const before = mean(total.slice(Math.max(0, second(killedAt) - 4), second(killedAt)).map(perSecond))
      const down = total.slice(second(killedAt), second(revivedAt)).map(perSecond)
      const victimName = names[2]!
      const victimBuckets = timeline.upstreams[victimName]!
      const backBucket = victimBuckets.findIndex((count, i) => i >= second(revivedAt!) && count > 0)
      // To the end of the first bucket with traffic: the figure is at most one bucket late, never early.
      const recoverySeconds = backBucket < 0 ? null : Math.max(0, Math.round(((backBucket + 1) * bucketMs - revivedAt) / 100) / 10)
      const after = backBucket < 0 ? [] : total.slice(backBucket, length - 1).map(perSecond)
      const dip = down.length === 0 ? 0 : Math.min(...down)
      const figures = {
        bucketMs,
        killedAtSeconds: round1(killedAt / 1000),
        revivedAtSeconds: round1(revivedAt / 1000),
        beforeMessagesPerSecond: Math.round(before),
        lowestWhileDownMessagesPerSecond: Math.round(dip),
        meanWhileDownMessagesPerSecond: Math.round(mean(down)),
        meanAfterRecoveryMessagesPerSecond: Math.round(mean(after)),
        victimBackAfterSeconds: recoverySeconds,
        overall: run,
        perUpstream: timeline.upstreams
      }
      const rows: Array<Row> = [{
        "before msg/s": figures.beforeMessagesPerSecond,
        "lowest ¼ s while down (msg/s)": figures.lowestWhileDownMessagesPerSecond,
        "mean while down msg/s": figures.meanWhileDownMessagesPerSecond,
        "sink back → carrying traffic": recoverySeconds === null ? "never (in the run)" : `≤ ${recoverySeconds} s`,
        "mean after msg/s": figures.meanAfterRecoveryMessagesPerSecond,
        "overall msg/s": run.messagesPerSecond,
        "lost": 0
      }]
      const summary = [
        `3 × ${kind}: ${figures.beforeMessagesPerSecond} msg/s before; while one sink was down (${round1((revivedAt - killedAt) / 1000)} s) ` +
        `${figures.meanWhileDownMessagesPerSecond} msg/s on average, lowest quarter-second ${figures.lowestWhileDownMessagesPerSecond} msg/s; ` +
        `the revived sink carried traffic again ${recoverySeconds === null ? "never within the run" : `within ${recoverySeconds} s of coming back`}; ` +
        `all ${messages} messages delivered (at least once)`
      ]
      const chart: Array<Panel> = [{
        kind: "lines",
        title: `Deliveries per second, per upstream and in all (${bucketMs} ms buckets)`,
        xUnit: "s",
        yUnit: "messages/s",
        lines: [
          { label: "all", points: total.map((count, i) => [(i * bucketMs) / 1000, perSecond(count)] as const) },
          ...names.map((name) => ({
            label: name === victimName ? `${name} (killed, then back)` : name,
            points: timeline.upstreams[name]!.map((count, i) => [(i * bucketMs) / 1000, perSecond(count)] as const)
          }))
        ],
        spans: [{ from: killedAt / 1000, to: revivedAt / 1000, label: "sink-3 down" }]
      }]
      return {
        parameters: {
          sinks: `3 × ${kind}`,
          messages,
          connections: "10 per upstream",
          killAt: "once a quarter of the messages are delivered",
          downForSeconds: downFor / 1000,
          retry: { maxAttempts: 20, initialDelay: "1 second", maxDelay: "2 seconds" },
          circuitBreaker: { failureThreshold: 5, cooldown: "2 seconds" },
          counted: "the engine's own Delivered events per upstream; the killed sink's counter dies with it, so delivery is checked by the engine's delivered counter reaching every message"
        },
        figures,
        table: { columns: Object.keys(rows[0]!), rows },
        summary,
        chart
      }
    } finally {
      for (const timer of timers) clearTimeout(timer)
      await Promise.all(sinks.map((sink) => sink.close()))
    }
  }
}
