/**
 * Running the measured subjects that several scenarios share, each in a process of its own: the
 * Node clients of transport-client.ts (Sluice's SmtpPool, Nodemailer's pool, raw sockets) and
 * Postfix's smtp-source, against one or more sinks. Each run is checked: every message accepted by
 * the client and counted by the sinks, or the run is an error.
 */
import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { exited, nextMessage, repoRoot, spawnClient, track } from "../harness/children.js"
import { postfixTools } from "../harness/postfix.js"
import type { Percentiles, RssPoint } from "../harness/sampling.js"
import { round1 } from "../harness/sampling.js"
import type { ScenarioContext } from "../harness/scenario.js"
import { BenchmarkError } from "../harness/scenario.js"
import type { BenchSink } from "../harness/sinks.js"
import { FROM, makeMessage, TO } from "./message.js"
import type { ClientConfig, ClientReport } from "./transport-client.js"

export type Subject = ClientConfig["client"] | "smtp-source"

/** One timed run of one subject. */
export interface Measurement {
  readonly messages: number
  readonly elapsedMs: number
  readonly messagesPerSecond: number
  /** CPU time (user + system) of the client process during the timed part, per message. */
  readonly cpuMicrosPerMessage: number | null
  readonly cpuUserMs: number | null
  readonly cpuSystemMs: number | null
  readonly peakRssMiB: number | null
  /** Messages the sinks counted during the whole run (warm-up included). */
  readonly sinkCounted: number
  /** Per message, from handing it to the client to its final reply (not measured for smtp-source). */
  readonly latencyMs: Percentiles | null
  readonly rss: ReadonlyArray<RssPoint>
}

export interface PeerParameters {
  readonly messages: number
  readonly warmup: number
  /** In all, split among the sinks. */
  readonly connections: number
  readonly concurrency: number
  readonly size: number
  readonly runTimeoutMs: number
  /** Write V8 CPU profiles of the Sluice runs to benchmarks/results/tmp/profiles/ (git-ignored). */
  readonly profile: boolean
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
export const medianOrNull = (values: ReadonlyArray<number | null>): number | null => {
  const present = values.filter((value): value is number => value !== null)
  return present.length === 0 ? null : median(present)
}
/** The run whose rate is the median (the lower middle one of an even count): its latency and RSS go in the chart. */
export const medianRun = <A extends { readonly messagesPerSecond: number }>(runs: ReadonlyArray<A>): A | undefined =>
  [...runs].sort((a, b) => a.messagesPerSecond - b.messagesPerSecond)[Math.floor((runs.length - 1) / 2)]

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Messages all the sinks have counted. */
export const countAll = async (sinks: ReadonlyArray<BenchSink>): Promise<number> =>
  (await Promise.all(sinks.map((sink) => sink.count()))).reduce((a, b) => a + b, 0)

/** Waits until the sinks have counted `expected` (counters can trail the client's last reply by a moment). */
export const settledCount = async (sinks: ReadonlyArray<BenchSink>, expected: number): Promise<number> => {
  const deadline = Date.now() + 3_000
  let count = await countAll(sinks)
  while (count < expected && Date.now() < deadline) {
    await sleep(50)
    count = await countAll(sinks)
  }
  return count
}

/** A message file for smtp-source, which appends CRLF to each line: LF line ends. Removed with `dispose`. */
export const messageFile = (size: number) => {
  const directory = mkdtempSync(join(tmpdir(), "sluice-bench-"))
  const path = join(directory, "message.eml")
  writeFileSync(path, makeMessage(size).toString("latin1").replace(/\r\n/g, "\n"))
  return { path, dispose: () => rmSync(directory, { recursive: true, force: true }) }
}

/**
 * Polls the sinks for progress while a child runs; fails (killing the child) when the run overruns
 * `runTimeoutMs` or the scenario aborts.
 */
export const watch = async <A>(
  children: ReadonlyArray<ChildProcess>,
  done: Promise<A>,
  sinks: ReadonlyArray<BenchSink>,
  before: number,
  runTimeoutMs: number,
  context: ScenarioContext,
  onProgress: (counted: number) => void
): Promise<A> => {
  let finished = false
  const poller = (async () => {
    while (!finished) {
      await sleep(250)
      if (finished) break
      try {
        onProgress((await countAll(sinks)) - before)
      } catch {
        // the sink answers again at the next poll, or the run fails on its own
      }
    }
  })()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BenchmarkError(`a run took longer than ${runTimeoutMs / 1000} s`)), runTimeoutMs)
  })
  let onAbort = () => {}
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(context.signal.reason instanceof Error ? context.signal.reason : new BenchmarkError("aborted"))
    if (context.signal.aborted) onAbort()
    context.signal.addEventListener("abort", onAbort, { once: true })
  })
  try {
    return await Promise.race([done, timeout, aborted])
  } catch (error) {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    throw error
  } finally {
    clearTimeout(timer)
    context.signal.removeEventListener("abort", onAbort)
    finished = true
    await poller
  }
}

/** A fresh directory per profiled run: the tsx loader's worker thread writes a profile of its own beside it. */
export const profileDirectory = (name: string): string => join(repoRoot, "benchmarks/results/tmp/profiles", `${name}-${Date.now()}`)

/** Runs one Node client (Sluice's pool, Nodemailer, raw sockets) in a child process, timed inside the child. */
export const runNodeClient = async (
  client: ClientConfig["client"],
  sinks: ReadonlyArray<BenchSink>,
  p: PeerParameters,
  context: ScenarioContext,
  onProgress: (counted: number) => void
): Promise<Measurement> => {
  const config: ClientConfig = {
    client,
    targets: sinks.map((sink) => ({ host: sink.host, port: sink.port })),
    messages: p.messages,
    warmup: p.warmup,
    concurrency: p.concurrency,
    connections: p.connections,
    size: p.size
  }
  const flags = ["--expose-gc"]
  if (p.profile && client === "sluice") {
    flags.push("--cpu-prof", `--cpu-prof-dir=${profileDirectory(client)}`)
  }
  const before = await countAll(sinks)
  const child = await spawnClient(new URL("./transport-client.ts", import.meta.url).href, [JSON.stringify(config)], { flags })
  const report = nextMessage(child, (message: { type?: string }) => message.type === "result" ? message as ClientReport : undefined)
  const result = await watch([child], report, sinks, before, p.runTimeoutMs, context, onProgress)
  await exited(child)
  const expected = p.warmup + p.messages
  const counted = (await settledCount(sinks, before + expected)) - before
  if (result.failed > 0 || result.accepted !== p.messages) {
    throw new BenchmarkError(`${client}: ${result.failed} of ${p.messages} messages failed; first: ${result.firstFailure}`)
  }
  if (counted !== expected) throw new BenchmarkError(`${client}: the sinks counted ${counted} messages, ${expected} were sent`)
  const cpuMs = result.cpuUserMs + result.cpuSystemMs
  return {
    messages: p.messages,
    elapsedMs: round1(result.elapsedMs),
    messagesPerSecond: Math.round((p.messages * 1000) / result.elapsedMs),
    cpuMicrosPerMessage: round1((cpuMs * 1000) / p.messages),
    cpuUserMs: Math.round(result.cpuUserMs),
    cpuSystemMs: Math.round(result.cpuSystemMs),
    peakRssMiB: round1(result.peakRssMiB),
    sinkCounted: counted,
    latencyMs: result.latencyMs,
    rss: result.rss
  }
}

/**
 * Postfix's smtp-source, one process per sink with its share of the sessions and messages: `-d`
 * keeps each session for many messages (else it reconnects per message), `-s` sessions in parallel,
 * `-m` messages in all, `-F` the same message the others send. It does not pipeline. Its CPU time
 * comes from bash's `times` (children's user and system time). No warm-up: it is C.
 */
export const runSmtpSource = async (
  sinks: ReadonlyArray<BenchSink>,
  file: string,
  p: PeerParameters,
  context: ScenarioContext,
  onProgress: (counted: number) => void
): Promise<Measurement> => {
  const tools = postfixTools()
  if (tools === undefined) throw new BenchmarkError("smtp-source is not installed")
  const share = (total: number, i: number) => Math.floor(total / sinks.length) + (i < total % sinks.length ? 1 : 0)
  const before = await countAll(sinks)
  const started = performance.now()
  const runs = sinks.map((sink, i) => {
    const args = [
      "-d", "-s", String(Math.max(1, share(p.connections, i))), "-m", String(share(p.messages, i)), "-F", file,
      "-M", "localhost", "-f", FROM, "-t", TO, `${sink.host}:${sink.port}`
    ]
    const child = track(spawn("bash", ["-c", '"$0" "$@"; rc=$?; times; exit $rc', tools.smtpSource, ...args], {
      stdio: ["ignore", "pipe", "pipe"]
    }))
    let out = ""
    child.stdout!.on("data", (chunk: Buffer) => out += chunk.toString())
    child.stderr!.on("data", (chunk: Buffer) => out += chunk.toString())
    return { child, done: exited(child).then((exit) => ({ ...exit, out: () => out })) }
  })
  const exits = await watch(runs.map((run) => run.child), Promise.all(runs.map((run) => run.done)), sinks, before, p.runTimeoutMs, context, onProgress)
  const elapsedMs = performance.now() - started
  let userSeconds = 0
  let systemSeconds = 0
  for (const { code, signal, out } of exits) {
    if (code !== 0) throw new BenchmarkError(`smtp-source exited ${signal ?? code}: ${out().trim()}`)
    // `times` prints the shell's times, then its children's: "0m0.103s 0m0.792s".
    const lines = out().trim().split("\n")
    const seconds = (text: string | undefined) => {
      const match = /^(\d+)m([\d.]+)s$/.exec(text ?? "")
      return match ? Number(match[1]) * 60 + Number(match[2]) : NaN
    }
    const [user, system] = (lines[lines.length - 1] ?? "").trim().split(/\s+/).map(seconds)
    userSeconds += user!
    systemSeconds += system!
  }
  const counted = (await settledCount(sinks, before + p.messages)) - before
  if (counted !== p.messages) throw new BenchmarkError(`smtp-source: the sinks counted ${counted} messages, ${p.messages} were sent`)
  const cpuKnown = Number.isFinite(userSeconds) && Number.isFinite(systemSeconds)
  return {
    messages: p.messages,
    elapsedMs: round1(elapsedMs),
    messagesPerSecond: Math.round((p.messages * 1000) / elapsedMs),
    cpuMicrosPerMessage: cpuKnown ? round1(((userSeconds + systemSeconds) * 1e6) / p.messages) : null,
    cpuUserMs: cpuKnown ? Math.round(userSeconds * 1000) : null,
    cpuSystemMs: cpuKnown ? Math.round(systemSeconds * 1000) : null,
    peakRssMiB: null,
    sinkCounted: counted,
    latencyMs: null,
    rss: []
  }
}
