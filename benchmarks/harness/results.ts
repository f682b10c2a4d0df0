import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { repoRoot } from "./children.js"
import type { Machine } from "./machine.js"
import type { Row, ScenarioResult } from "./scenario.js"

export const resultsDir = join(repoRoot, "benchmarks", "results")
export const tableFile = join(resultsDir, "README.md")

export interface ResultFile extends Omit<ScenarioResult, "chart"> {
  readonly scenario: string
  readonly description: string
  readonly startedAt: string
  readonly durationSeconds: number
  readonly machine: Machine
  readonly loadAverageAtEnd: ReadonlyArray<number>
  readonly versions: Readonly<Record<string, string>>
}

const writeAtomically = (path: string, text: string) => {
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, text)
  renameSync(temporary, path)
}

export const writeResult = (result: ResultFile): string => {
  mkdirSync(resultsDir, { recursive: true })
  const path = join(resultsDir, `${result.scenario}.json`)
  writeAtomically(path, `${JSON.stringify(result, null, 2)}\n`)
  return path
}

const cell = (value: string | number | null | undefined): string =>
  value === null || value === undefined ? "–" : String(value).replace(/\|/g, "\\|")

export const markdownTable = (columns: ReadonlyArray<string>, rows: ReadonlyArray<Row>): string =>
  [
    `| ${columns.join(" | ")} |`,
    `|${columns.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...rows.map((row) => `| ${columns.map((column) => cell(row[column])).join(" | ")} |`)
  ].join("\n")

/** Rewrites the table file from every results/<scenario>.json, so one scenario's run keeps the others. */
export const updateTable = (): string => {
  mkdirSync(resultsDir, { recursive: true })
  const results = readdirSync(resultsDir)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .flatMap((file): Array<ResultFile> => {
      try {
        return [JSON.parse(readFileSync(join(resultsDir, file), "utf8")) as ResultFile]
      } catch {
        return []
      }
    })
  const sections = results.map((result) => {
    const machine = result.machine
    return [
      `## ${result.scenario}`,
      "",
      result.description,
      "",
      `Run ${result.startedAt} in ${result.durationSeconds} s on ${machine.os}, ${machine.cpus.count} × ${machine.cpus.model}, ` +
      `${Math.round(machine.memoryMiB / 1024)} GiB, Node ${machine.node}, load average ${machine.loadAverageAtStart.join(" ")} at start` +
      (result.loadAverageAtEnd ? ` and ${result.loadAverageAtEnd.join(" ")} at end` : "") +
      (machine.git.commit ? `, commit ${machine.git.commit.slice(0, 12)}${machine.git.dirty ? " (with uncommitted changes)" : ""}` : "") +
      ".  ",
      `Versions: ${Object.entries(result.versions).map(([name, version]) => `${name} ${version}`).join(", ")}.`,
      "",
      ...result.summary.map((line) => `- ${line}`),
      "",
      markdownTable(result.table.columns, result.table.rows),
      "",
      `![${result.scenario}](${result.scenario}.svg)`,
      ""
    ].join("\n")
  })
  const text = [
    "# Benchmark results",
    "",
    "Written by `npm run bench` (see [../README.md](../README.md) for how to read them); each scenario's",
    "figures, per round, are in `<scenario>.json` beside this file. Do not edit by hand.",
    "",
    ...sections
  ].join("\n")
  writeAtomically(tableFile, text)
  return tableFile
}
