/**
 * The benchmark harness: `npm run bench` runs every scenario, `npm run bench -- <scenario> [...]` the
 * named ones. Options after the names go to the scenarios (`--messages 2000 --rounds 1`); `--list`
 * lists the scenarios. Each scenario writes benchmarks/results/<scenario>.json, its chart
 * <scenario>.svg and its section of the tables in benchmarks/results/README.md. Exit code 0 when every scenario gave a result, 1 when one failed
 * (an error, a miscount or an overrun), 2 for a bad command line.
 */
import { writeChart } from "./harness/chart.js"
import { killAll } from "./harness/children.js"
import { describeMachine, loadAverage, versions } from "./harness/machine.js"
import { Progress } from "./harness/progress.js"
import { markdownTable, updateTable, writeResult } from "./harness/results.js"
import type { Options, Scenario } from "./harness/scenario.js"
import { BenchmarkError, UsageError } from "./harness/scenario.js"
import { cluster } from "./scenarios/cluster.js"
import { drain } from "./scenarios/drain.js"
import { e2e } from "./scenarios/e2e.js"
import { engine, engineSpool } from "./scenarios/engine.js"
import { failover } from "./scenarios/failover.js"
import { http } from "./scenarios/http.js"
import { scaling } from "./scenarios/scaling.js"
import { spool } from "./scenarios/spool.js"
import { startup } from "./scenarios/startup.js"
import { transport } from "./scenarios/transport.js"

/** Every scenario, in the order `npm run bench` runs them. */
const scenarios: ReadonlyArray<Scenario> = [transport, engine, spool, engineSpool, e2e, scaling, failover, drain, http, cluster, startup]

const usage = `usage: npm run bench [-- [scenario ...] [--option value ...]]

scenarios:
${scenarios.map((scenario) => `  ${scenario.name.padEnd(12)} ${scenario.description}`).join("\n")}

options (passed to the scenarios that know them):
  --messages N      messages per timed run (transport: 20000)
  --warmup N        messages sent before each timed run, untimed (transport: 2000; 0 for none)
  --rounds N        at most N rounds per sink (transport: 3); fewer when --budget runs out
  --budget S        seconds the scenario plans its rounds into (transport: 420)
  --run-timeout S   one run longer than this is an error (transport: 120)
  --sinks a,b       smtp-sink and/or smtp-server (default: those available)
  --subjects a,b    sluice,nodemailer,nodemailer-nodelay,smtp-source,raw (default: all available)
  --runs N          startup: starts measured per command (10)
  --profile         write V8 CPU profiles of the Sluice client runs to benchmarks/results/tmp/profiles/ (not committed)
  --list            list the scenarios and exit`

const parseArgs = (argv: ReadonlyArray<string>): { names: Array<string>; options: Record<string, string | true> } => {
  const names: Array<string> = []
  const options: Record<string, string | true> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg.startsWith("--")) {
      const [key, inline] = arg.slice(2).split("=", 2) as [string, string | undefined]
      const next = argv[i + 1]
      if (inline !== undefined) options[key] = inline
      else if (next !== undefined && !next.startsWith("--") && !scenarios.some((s) => s.name === next)) options[key] = argv[++i]!
      else options[key] = true
    } else {
      names.push(arg)
    }
  }
  return { names, options }
}

const runScenario = async (scenario: Scenario, options: Options): Promise<boolean> => {
  const progress = new Progress(scenario.name)
  const controller = new AbortController()
  const startedAt = new Date()
  const deadline = Date.now() + scenario.timeLimitMs
  const overrun = new Promise<never>((_, reject) => {
    const timer = setTimeout(() => {
      const error = new BenchmarkError(`${scenario.name} overran its time limit of ${scenario.timeLimitMs / 1000} s`)
      controller.abort(error)
      reject(error)
    }, scenario.timeLimitMs)
    timer.unref()
    controller.signal.addEventListener("abort", () => clearTimeout(timer), { once: true })
  })
  const machine = describeMachine()
  try {
    const result = await Promise.race([
      scenario.run({ options, progress, signal: controller.signal, deadline }),
      overrun
    ])
    controller.abort(new BenchmarkError("finished"))
    progress.stop()
    const durationSeconds = Math.round((Date.now() - startedAt.getTime()) / 100) / 10
    const { chart, ...figures } = result
    const file = writeResult({
      scenario: scenario.name,
      description: scenario.description,
      startedAt: startedAt.toISOString(),
      durationSeconds,
      machine,
      loadAverageAtEnd: loadAverage(),
      versions: versions(),
      ...figures
    })
    const svg = writeChart(scenario.name, `${scenario.name}: ${machine.cpus.count} cores, load ${machine.loadAverageAtStart.join(" ")}`, chart)
    const table = updateTable()
    console.log(`\n${scenario.name} (${durationSeconds} s)`)
    for (const line of result.summary) console.log(`  ${line}`)
    console.log(`\n${markdownTable(result.table.columns, result.table.rows)}\n`)
    console.log(`written: ${file}\n         ${svg}\n         ${table}`)
    return true
  } catch (error) {
    progress.stop()
    killAll()
    if (error instanceof UsageError) throw error
    const text = error instanceof BenchmarkError ? error.message : error instanceof Error ? error.stack ?? error.message : String(error)
    console.error(`\n${scenario.name} FAILED: ${text}`)
    return false
  }
}

const main = async () => {
  const { names, options } = parseArgs(process.argv.slice(2))
  if (options.help === true || options.h === true) {
    console.log(usage)
    return 0
  }
  if (options.list === true) {
    for (const scenario of scenarios) console.log(`${scenario.name}\t${scenario.description}`)
    return 0
  }
  const unknown = names.filter((name) => !scenarios.some((scenario) => scenario.name === name))
  if (unknown.length > 0) {
    console.error(`unknown scenario${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}\n\n${usage}`)
    return 2
  }
  // In the order given on the command line.
  const chosen = names.length === 0 ? scenarios : [...new Set(names)].map((name) => scenarios.find((scenario) => scenario.name === name)!)
  let ok = true
  for (const scenario of chosen) ok = (await runScenario(scenario, options)) && ok
  return ok ? 0 : 1
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAll()
    process.exit(130)
  })
}

main().then(
  (code) => {
    killAll()
    process.exit(code)
  },
  (error) => {
    killAll()
    console.error(error instanceof UsageError ? `${error.message}\n\n${usage}` : error)
    process.exit(error instanceof UsageError ? 2 : 1)
  }
)
