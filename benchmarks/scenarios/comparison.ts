/**
 * The shape the throughput scenarios share: on each set of sinks, rounds of every subject (Sluice
 * and its peers) one after the other, the order rotated each round; medians over the rounds; ratios
 * of Sluice's median to each peer's on the same sinks; a table, a summary and a chart.
 */
import type { Panel } from "../harness/chart.js"
import { postfixTools } from "../harness/postfix.js"
import { round1, round2 } from "../harness/sampling.js"
import type { Row, ScenarioContext, ScenarioResult } from "../harness/scenario.js"
import { checkAborted } from "../harness/scenario.js"
import type { BenchSink, SinkKind } from "../harness/sinks.js"
import { startSink } from "../harness/sinks.js"
import type { Measurement } from "./peers.js"
import { median, medianOrNull, medianRun } from "./peers.js"

const round1OrNull = (value: number | null) => value === null ? null : round1(value)

export interface Contestant {
  readonly id: string
  readonly label: string
  /** Messages the sinks count in one run (for the progress bar). */
  readonly unitsPerRun: number
  readonly run: (sinks: ReadonlyArray<BenchSink>, onProgress: (counted: number) => void) => Promise<Measurement>
}

export interface ComparisonOptions {
  readonly scenario: string
  /** Sets of sinks; each set is started once and every contestant runs against all of its sinks. */
  readonly sinkSets: ReadonlyArray<ReadonlyArray<SinkKind>>
  readonly contestants: ReadonlyArray<Contestant>
  /** The contestant the ratios are of (Sluice). */
  readonly subject: string
  /** The peer the target is set against, and the ratio to reach. */
  readonly target: { readonly peer: string; readonly ratio: number }
  readonly maxRounds: number
  readonly budgetMs: number
}

interface Run extends Measurement {
  readonly round: number
  readonly order: number
}

export interface ContestantFigures {
  readonly id: string
  readonly label: string
  readonly runs: Array<Run>
  median?: { messagesPerSecond: number; cpuMicrosPerMessage: number | null; peakRssMiB: number | null }
}

export interface SinkSetFigures {
  readonly sinks: ReadonlyArray<SinkKind>
  readonly label: string
  readonly rounds: number
  readonly contestants: ReadonlyArray<ContestantFigures>
  readonly ratios: Readonly<Record<string, number | null>>
  /** Sluice ÷ the target peer, round by round (paired: less sensitive to drift over the run). */
  readonly targetRatioPerRound: ReadonlyArray<number>
}

export const sinkSetLabel = (sinks: ReadonlyArray<BenchSink>) =>
  sinks.length === 1 ? sinks[0]!.label : `${sinks.length} × ${sinks[0]!.label}`

/** For chart labels: "smtp-sink", "2 × smtp-server". */
const shortLabel = (kinds: ReadonlyArray<SinkKind>) => kinds.length === 1 ? kinds[0]! : `${kinds.length} × ${kinds[0]}`

export const runComparison = async (
  options: ComparisonOptions,
  context: ScenarioContext
): Promise<Pick<ScenarioResult, "table" | "summary" | "chart"> & { readonly sets: ReadonlyArray<SinkSetFigures> }> => {
  const { contestants, maxRounds, sinkSets } = options
  const unitsPerRound = contestants.reduce((sum, c) => sum + c.unitsPerRun, 0)
  context.progress.start(unitsPerRound * maxRounds * sinkSets.length)
  const started = Date.now()
  const budgetEnd = Math.min(started + options.budgetMs, context.deadline - 30_000)

  const sets: Array<SinkSetFigures> = []
  let completed = 0
  for (let s = 0; s < sinkSets.length; s++) {
    checkAborted(context.signal)
    const sinks: Array<BenchSink> = []
    const figures = contestants.map((c): ContestantFigures => ({ id: c.id, label: c.label, runs: [] }))
    let rounds = 0
    let label = sinkSets[s]!.join(", ")
    try {
      for (const kind of sinkSets[s]!) sinks.push(await startSink(kind))
      label = sinkSetLabel(sinks)
      const setStarted = Date.now()
      for (let round = 1; round <= maxRounds; round++) {
        // Later rounds only when they fit in this set's share of what is left of the budget.
        if (round > 1) {
          const perRound = (Date.now() - setStarted) / (round - 1)
          const share = (budgetEnd - setStarted) / (sinkSets.length - s)
          if (Date.now() - setStarted + perRound > share) {
            context.progress.grow(-unitsPerRound * (maxRounds - round + 1))
            context.progress.log(`${options.scenario}: ${label}: ${round - 1} round(s), the budget leaves no time for more`)
            break
          }
        }
        // Rotate the order each round, so that no contestant always runs first or last.
        const order = contestants.map((_, i) => (i + round - 1) % contestants.length)
        for (let position = 0; position < order.length; position++) {
          const contestant = contestants[order[position]!]!
          checkAborted(context.signal)
          context.progress.step(`${label} · round ${round}/${maxRounds} · ${contestant.label}`)
          const base = completed
          const measurement = await contestant.run(sinks, (counted) => context.progress.set(base + counted))
          figures[order[position]!]!.runs.push({ round, order: position + 1, ...measurement })
          completed += contestant.unitsPerRun
          context.progress.set(completed)
          context.progress.log(
            `${options.scenario}: ${label} round ${round}: ${contestant.label}: ${measurement.messagesPerSecond} msg/s` +
              (measurement.cpuMicrosPerMessage === null ? "" : `, ${measurement.cpuMicrosPerMessage} µs CPU/msg`)
          )
        }
        rounds = round
      }
    } finally {
      await Promise.all(sinks.map((sink) => sink.close()))
    }
    for (const entry of figures) {
      entry.median = {
        messagesPerSecond: Math.round(median(entry.runs.map((run) => run.messagesPerSecond))),
        cpuMicrosPerMessage: round1OrNull(medianOrNull(entry.runs.map((run) => run.cpuMicrosPerMessage))),
        peakRssMiB: round1OrNull(medianOrNull(entry.runs.map((run) => run.peakRssMiB)))
      }
    }
    const subject = figures.find((f) => f.id === options.subject)
    const ratios: Record<string, number | null> = {}
    for (const entry of figures) {
      const peer = entry.median?.messagesPerSecond
      ratios[entry.id] = subject?.median === undefined || peer === undefined || peer === 0 ? null : round2(subject.median.messagesPerSecond / peer)
    }
    const targetPeer = figures.find((f) => f.id === options.target.peer)
    const targetRatioPerRound = subject === undefined || targetPeer === undefined ? [] : subject.runs.flatMap((run) => {
      const peer = targetPeer.runs.find((r) => r.round === run.round)
      return peer === undefined ? [] : [round2(run.messagesPerSecond / peer.messagesPerSecond)]
    })
    sets.push({ sinks: sinkSets[s]!, label, rounds, contestants: figures, ratios, targetRatioPerRound })
  }

  const subjectLabel = contestants.find((c) => c.id === options.subject)?.label ?? options.subject
  const targetLabel = contestants.find((c) => c.id === options.target.peer)?.label ?? options.target.peer
  const rows: Array<Row> = []
  const summary: Array<string> = []
  for (const set of sets) {
    for (const entry of set.contestants) {
      const rates = entry.runs.map((run) => run.messagesPerSecond)
      const latency = medianRun(entry.runs)?.latencyMs
      rows.push({
        Sinks: set.label,
        Client: entry.label,
        "msg/s (median)": entry.median?.messagesPerSecond ?? null,
        "min–max": rates.length === 0 ? null : `${Math.min(...rates)}–${Math.max(...rates)}`,
        "p50 / p99 ms": latency == null ? null : `${latency.p50} / ${latency.p99}`,
        "CPU µs/msg": entry.median?.cpuMicrosPerMessage ?? null,
        "peak RSS MiB": entry.median?.peakRssMiB ?? null,
        "Sluice ÷ this": entry.id === options.subject ? "1.00" : (set.ratios[entry.id]?.toFixed(2) ?? null)
      })
    }
    const ratio = set.ratios[options.target.peer] ?? null
    const others = set.contestants
      .filter((c) => c.id !== options.subject && c.id !== options.target.peer && set.ratios[c.id] != null)
      .map((c) => `÷ ${c.label} = ${set.ratios[c.id]!.toFixed(2)}×`)
    summary.push(
      [
        `${set.label}: ${subjectLabel} ${set.contestants.find((c) => c.id === options.subject)?.median?.messagesPerSecond ?? "–"} msg/s; ` +
        `÷ ${targetLabel} = ${ratio?.toFixed(2) ?? "–"}×` +
        (ratio === null ? "" : ` (target ≥ ${options.target.ratio}×: ${ratio >= options.target.ratio ? "met" : "NOT met"})`),
        ...others
      ].join("; ") + ` (median of ${set.rounds} round${set.rounds === 1 ? "" : "s"})`
    )
  }

  if (postfixTools() === undefined) {
    summary.push("Postfix is not installed here: smtp-sink and smtp-source were left out (scripts/install-postfix.sh installs them)")
  }

  const chart: Array<Panel> = [
    {
      kind: "bars",
      title: "Throughput, median over rounds",
      unit: "messages/s",
      items: sets.flatMap((set) => set.contestants.map((c) => ({ label: `${c.label} → ${shortLabel(set.sinks)}`, value: c.median?.messagesPerSecond ?? null })))
    },
    {
      kind: "percentiles",
      title: "Latency per message, run with the median rate",
      unit: "ms",
      items: sets.flatMap((set) =>
        set.contestants.flatMap((c) => {
          const latency = medianRun(c.runs)?.latencyMs
          return latency == null ? [] : [{ label: `${c.label} → ${shortLabel(set.sinks)}`, ...latency }]
        })
      )
    },
    {
      kind: "lines",
      title: `RSS over the timed run, run with the median rate, ${sets[0] === undefined ? "" : shortLabel(sets[0].sinks)}`,
      xUnit: "s",
      yUnit: "MiB",
      lines: (sets[0]?.contestants ?? []).flatMap((c) => {
        const run = medianRun(c.runs)
        return run === undefined || run.rss.length === 0 ? [] : [{ label: c.label, points: run.rss }]
      })
    }
  ]
  return {
    sets,
    table: { columns: ["Sinks", "Client", "msg/s (median)", "min–max", "p50 / p99 ms", "CPU µs/msg", "peak RSS MiB", "Sluice ÷ this"], rows },
    summary,
    chart
  }
}
