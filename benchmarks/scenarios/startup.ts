/**
 * How fast the command users run starts: `sluice --help` to its exit (its text kept at build time),
 * a usage error (the command loaded and parsing), and `sluice serve` from its
 * spawn to the first 200 of /readyz (embedded spool in a fresh directory, one upstream — a sink — that
 * answered its first probe), each several times through bin/sluice.js as `npx sluice` runs it. Bare
 * `node -e 0` is the floor of the same run. Targets (issue 16): --help < 0.5 s, serve ready < 1.5 s.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { exited, repoRoot, sluiceCommand, track } from "../harness/children.js"
import { percentiles, round1 } from "../harness/sampling.js"
import type { Row, Scenario } from "../harness/scenario.js"
import { BenchmarkError, checkAborted, numberOption } from "../harness/scenario.js"
import { freePort } from "../harness/serve.js"
import { startSink } from "../harness/sinks.js"
import { sleep } from "./peers.js"

const bin = join(repoRoot, "packages/cli/bin/sluice.js")

/** Wall-clock ms from spawn to exit of `node ...args`, which must exit `expected`. */
const timeToExit = async (args: ReadonlyArray<string>, expected = 0): Promise<number> => {
  const started = performance.now()
  const child = track(spawn(process.execPath, args, { stdio: "ignore", env: { ...process.env, NODE_OPTIONS: "" } }))
  const { code } = await exited(child)
  if (code !== expected) throw new BenchmarkError(`node ${args.join(" ")} exited ${code}`)
  return performance.now() - started
}

/**
 * Wall-clock ms from spawning `sluice serve` to its first 200 of /readyz (its upstream, `smtpPort`,
 * has answered its first probe); then a graceful stop.
 */
const timeToReady = async (smtpPort: number): Promise<number> => {
  const directory = mkdtempSync(join(tmpdir(), "sluice-bench-startup-"))
  const httpPort = await freePort()
  const started = performance.now()
  const child = track(spawn(process.execPath, [bin, "serve", "--upstream", `127.0.0.1:${smtpPort}`, "--port", String(httpPort)], {
    cwd: directory,
    stdio: "ignore",
    env: { ...process.env, NODE_OPTIONS: "" }
  }))
  try {
    for (;;) {
      if (child.exitCode !== null) throw new BenchmarkError(`sluice serve exited ${child.exitCode} at start`)
      const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.status === 200, () => false)
      if (ready) return performance.now() - started
      if (performance.now() - started > 30_000) throw new BenchmarkError("sluice serve was not ready within 30 s")
      await sleep(5)
    }
  } finally {
    child.kill("SIGTERM")
    await exited(child)
    rmSync(directory, { recursive: true, force: true })
  }
}

interface Measured {
  readonly label: string
  readonly targetMs: number | null
  readonly ms: ReadonlyArray<number>
}

export const startup: Scenario = {
  name: "startup",
  description:
    "Start-up of the built command through bin/sluice.js: `sluice --help` to its exit, a usage error (the whole command " +
    "loaded), and `sluice serve` to its first " +
    "200 of /readyz, against bare `node -e 0`; median and p90 of --runs (default 10). Targets: --help < 0.5 s, serve ready < 1.5 s.",
  timeLimitMs: 5 * 60_000,
  run: async (context) => {
    const runs = numberOption(context.options, "runs", 10)
    await sluiceCommand()
    const sink = await startSink("smtp-server")
    const measure = async (label: string, targetMs: number | null, once: () => Promise<number>): Promise<Measured> => {
      const ms: Array<number> = []
      for (let i = 0; i < runs; i++) {
        checkAborted(context.signal)
        ms.push(await once())
      }
      return { label, targetMs, ms }
    }
    const measured = [
      await measure("node -e 0 (bare Node)", null, () => timeToExit(["-e", "0"])),
      await measure("sluice --help", 500, () => timeToExit([bin, "--help"])),
      // Help is kept from the build; this loads the command itself, to its first answer.
      await measure("sluice serve --port x (command loaded, usage error)", null, () => timeToExit([bin, "serve", "--port", "x"], 2)),
      await measure("sluice serve, spawn → /readyz 200", 1500, () => timeToReady(sink.port))
    ]
    await sink.close()
    const rows: Array<Row> = measured.map(({ label, ms, targetMs }) => {
      const p = percentiles(ms)!
      return {
        what: label,
        "median ms": round1(p.p50),
        "p90 ms": round1(p.p90),
        target: targetMs === null ? "" : `< ${targetMs} ms`,
        met: targetMs === null ? "" : p.p50 < targetMs ? "✓" : "✗"
      }
    })
    return {
      parameters: { runs, command: "node packages/cli/bin/sluice.js (the bundle npm run build writes)" },
      figures: measured,
      table: { columns: ["what", "median ms", "p90 ms", "target", "met"], rows },
      summary: rows.map((row) => `${row.what}: median ${row["median ms"]} ms, p90 ${row["p90 ms"]} ms ${row.met}`),
      chart: [{ kind: "bars", title: "Start-up, median", unit: "ms", items: rows.map((row) => ({ label: String(row.what), value: Number(row["median ms"]) })) }]
    }
  }
}
