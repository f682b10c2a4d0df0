import type { Panel } from "./chart.js"
import type { Progress } from "./progress.js"

/** Options given after the scenario names: `--messages 2000 --rounds 1`, and bare flags as `true`. */
export type Options = Readonly<Record<string, string | true>>

export interface ScenarioContext {
  readonly options: Options
  readonly progress: Progress
  /** Aborted when the scenario overruns its time limit; the runner then ends its child processes. */
  readonly signal: AbortSignal
  /** When the scenario will be stopped (ms since the epoch). */
  readonly deadline: number
}

/** One row of the results table; the columns are the scenario's. */
export type Row = Readonly<Record<string, string | number | null>>

export interface ScenarioResult {
  /** What was measured, with what parameters (messages, rounds, how the figure is taken...). */
  readonly parameters: Readonly<Record<string, unknown>>
  /** Every figure, per round, for whoever wants more than the table. */
  readonly figures: unknown
  readonly table: { readonly columns: ReadonlyArray<string>; readonly rows: ReadonlyArray<Row> }
  /** A few lines for the terminal and the top of the table's section. */
  readonly summary: ReadonlyArray<string>
  /** Drawn to benchmarks/results/<scenario>.svg (not stored in the JSON: it is drawn from the figures). */
  readonly chart: ReadonlyArray<Panel>
}

export interface Scenario {
  readonly name: string
  readonly description: string
  /** The scenario is aborted (an error, no result) when it runs longer than this. */
  readonly timeLimitMs: number
  /** Units of work announced to the progress bar before the scenario starts. */
  readonly run: (context: ScenarioContext) => Promise<ScenarioResult>
}

/** A failure that makes the run an error rather than a result (e.g. a message the sink did not count). */
export class BenchmarkError extends Error {
  override readonly name = "BenchmarkError"
}

/** A bad option on the command line (exit code 2). */
export class UsageError extends Error {
  override readonly name = "UsageError"
}

export const numberOption = (options: Options, name: string, fallback: number): number => {
  const value = options[name]
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (value === true || !Number.isFinite(parsed) || parsed <= 0) {
    throw new UsageError(`--${name} needs a positive number, got ${String(value)}`)
  }
  return parsed
}

/** Throws when the scenario has been aborted, so loops stop between steps. */
export const checkAborted = (signal: AbortSignal): void => {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new BenchmarkError("aborted")
}
