/**
 * The transport alone: N messages of 1 KiB over 20 pooled sessions to one sink, Sluice's SmtpPool
 * against Nodemailer's pooled transport in the same run, on the same sinks; Postfix's smtp-source as
 * the physical-limit reference where installed. See benchmarks/README.md for how to read the figures.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { exited, nextMessage, repoRoot, spawnTs, track } from "../harness/children.js"
import { postfixTools } from "../harness/postfix.js"
import type { Row, Scenario, ScenarioContext } from "../harness/scenario.js"
import { BenchmarkError, checkAborted, numberOption } from "../harness/scenario.js"
import type { BenchSink, SinkKind } from "../harness/sinks.js"
import { availableSinks, startSink } from "../harness/sinks.js"
import { FROM, makeMessage, TO } from "./message.js"
import type { ClientConfig, ClientReport } from "./transport-client.js"

type Subject = ClientConfig["client"] | "smtp-source"

const subjectLabel: Record<Subject, string> = {
  sluice: "Sluice SmtpPool",
  nodemailer: "Nodemailer pool",
  "nodemailer-nodelay": "Nodemailer pool, TCP_NODELAY (reference)",
  "smtp-source": "Postfix smtp-source (reference)"
}

/** One timed run of one subject. */
interface Measurement {
  readonly round: number
  readonly order: number
  readonly messages: number
  readonly elapsedMs: number
  readonly messagesPerSecond: number
  /** CPU time (user + system) of the client process during the timed part, per message. */
  readonly cpuMicrosPerMessage: number | null
  readonly cpuUserMs: number | null
  readonly cpuSystemMs: number | null
  readonly peakRssMiB: number | null
  /** Messages the sink counted during the whole run (warm-up included). */
  readonly sinkCounted: number
}

interface SubjectFigures {
  readonly subject: Subject
  readonly label: string
  readonly runs: Array<Measurement>
  median?: { messagesPerSecond: number; cpuMicrosPerMessage: number | null; peakRssMiB: number | null }
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
const medianOrNull = (values: ReadonlyArray<number | null>): number | null => {
  const present = values.filter((value): value is number => value !== null)
  return present.length === 0 ? null : median(present)
}
const round1 = (value: number) => Math.round(value * 10) / 10
const round2 = (value: number) => Math.round(value * 100) / 100
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until the sink has counted `expected` (counters can trail the client's last reply by a moment). */
const settledCount = async (sink: BenchSink, expected: number): Promise<number> => {
  const deadline = Date.now() + 3_000
  let count = await sink.count()
  while (count < expected && Date.now() < deadline) {
    await sleep(50)
    count = await sink.count()
  }
  return count
}

interface Parameters {
  readonly messages: number
  readonly warmup: number
  readonly connections: number
  readonly concurrency: number
  readonly size: number
  readonly maxRounds: number
  readonly budgetMs: number
  readonly runTimeoutMs: number
  readonly profile: boolean
  readonly subjects: ReadonlyArray<Subject>
  readonly sinks: ReadonlyArray<SinkKind>
}

const parameters = (context: ScenarioContext): Parameters => {
  const options = context.options
  const sinks = typeof options.sinks === "string"
    ? availableSinks(options.sinks.split(",") as Array<SinkKind>)
    : availableSinks()
  const allSubjects: Array<Subject> = ["sluice", "nodemailer", "nodemailer-nodelay", ...(postfixTools() ? ["smtp-source" as const] : [])]
  const subjects = typeof options.subjects === "string"
    ? allSubjects.filter((subject) => (options.subjects as string).split(",").includes(subject))
    : allSubjects
  if (sinks.length === 0) throw new BenchmarkError(`no sink of ${String(options.sinks)} is available`)
  return {
    messages: numberOption(options, "messages", 20_000),
    warmup: options.warmup === "0" ? 0 : numberOption(options, "warmup", 2_000),
    connections: numberOption(options, "connections", 20),
    concurrency: numberOption(options, "concurrency", 20),
    size: numberOption(options, "size", 1024),
    maxRounds: numberOption(options, "rounds", 3),
    budgetMs: numberOption(options, "budget", 420) * 1000,
    runTimeoutMs: numberOption(options, "run-timeout", 120) * 1000,
    profile: options.profile === true,
    subjects,
    sinks
  }
}

/** Runs one Node client (Sluice or Nodemailer) in a child process, timed inside the child. */
const runNodeClient = async (
  client: ClientConfig["client"],
  sink: BenchSink,
  p: Parameters,
  context: ScenarioContext,
  onProgress: (counted: number) => void
): Promise<Omit<Measurement, "round" | "order">> => {
  const config: ClientConfig = {
    client,
    host: sink.host,
    port: sink.port,
    messages: p.messages,
    warmup: p.warmup,
    concurrency: p.concurrency,
    connections: p.connections,
    size: p.size
  }
  const flags = ["--expose-gc"]
  if (p.profile && client === "sluice") {
    flags.push("--cpu-prof", `--cpu-prof-dir=${join(repoRoot, "benchmarks/results/profiles")}`, `--cpu-prof-name=transport-${sink.kind}-${client}-${Date.now()}.cpuprofile`)
  }
  const before = await sink.count()
  const child = spawnTs(new URL("./transport-client.ts", import.meta.url).href, [JSON.stringify(config)], { flags })
  const report = nextMessage(child, (message: { type?: string }) => message.type === "result" ? message as ClientReport : undefined)
  const result = await watch(child, report, sink, before, p, context, onProgress)
  await exited(child)
  const expected = p.warmup + p.messages
  const counted = (await settledCount(sink, before + expected)) - before
  if (result.failed > 0 || result.accepted !== p.messages) {
    throw new BenchmarkError(`${client} on ${sink.kind}: ${result.failed} of ${p.messages} messages failed; first: ${result.firstFailure}`)
  }
  if (counted !== expected) {
    throw new BenchmarkError(`${client} on ${sink.kind}: the sink counted ${counted} messages, ${expected} were sent`)
  }
  const cpuMs = result.cpuUserMs + result.cpuSystemMs
  return {
    messages: p.messages,
    elapsedMs: round1(result.elapsedMs),
    messagesPerSecond: Math.round((p.messages * 1000) / result.elapsedMs),
    cpuMicrosPerMessage: round1((cpuMs * 1000) / p.messages),
    cpuUserMs: Math.round(result.cpuUserMs),
    cpuSystemMs: Math.round(result.cpuSystemMs),
    peakRssMiB: round1(result.peakRssMiB),
    sinkCounted: counted
  }
}

/** Polls the sink for progress while a child runs; fails when the run overruns or the scenario aborts. */
const watch = async <A>(
  child: ReturnType<typeof spawnTs> | ReturnType<typeof spawn>,
  done: Promise<A>,
  sink: BenchSink,
  before: number,
  p: Parameters,
  context: ScenarioContext,
  onProgress: (counted: number) => void
): Promise<A> => {
  let finished = false
  const poller = (async () => {
    while (!finished) {
      await sleep(250)
      if (finished) break
      try {
        onProgress((await sink.count()) - before)
      } catch {
        // the sink answers again at the next poll, or the run fails on its own
      }
    }
  })()
  const timeout = new Promise<never>((_, reject) => {
    const timer = setTimeout(() => reject(new BenchmarkError(`a run took longer than ${p.runTimeoutMs / 1000} s`)), p.runTimeoutMs)
    timer.unref()
    void done.finally(() => clearTimeout(timer)).catch(() => {})
  })
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(context.signal.reason instanceof Error ? context.signal.reason : new BenchmarkError("aborted"))
    if (context.signal.aborted) onAbort()
    context.signal.addEventListener("abort", onAbort, { once: true })
    void done.finally(() => context.signal.removeEventListener("abort", onAbort)).catch(() => {})
  })
  try {
    return await Promise.race([done, timeout, aborted])
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    throw error
  } finally {
    finished = true
    await poller
  }
}

/**
 * Postfix's smtp-source: `-d` keeps each session for many messages (else it reconnects per message),
 * `-s` sessions in parallel, `-m` messages in all, `-F` the same message file the others send. It
 * does not pipeline. Its CPU time comes from bash's `times` (children's user and system time).
 */
const runSmtpSource = async (
  sink: BenchSink,
  messageFile: string,
  p: Parameters,
  context: ScenarioContext,
  onProgress: (counted: number) => void
): Promise<Omit<Measurement, "round" | "order">> => {
  const tools = postfixTools()!
  const args = [
    "-d", "-s", String(p.connections), "-m", String(p.messages), "-F", messageFile,
    "-M", "localhost", "-f", FROM, "-t", TO, `${sink.host}:${sink.port}`
  ]
  const before = await sink.count()
  const started = performance.now()
  const child = track(spawn("bash", ["-c", '"$0" "$@"; rc=$?; times; exit $rc', tools.smtpSource, ...args], {
    stdio: ["ignore", "pipe", "pipe"]
  }))
  let out = ""
  child.stdout!.on("data", (chunk: Buffer) => out += chunk.toString())
  child.stderr!.on("data", (chunk: Buffer) => out += chunk.toString())
  const { code, signal } = await watch(child, exited(child), sink, before, p, context, onProgress)
  const elapsedMs = performance.now() - started
  if (code !== 0) throw new BenchmarkError(`smtp-source on ${sink.kind} exited ${signal ?? code}: ${out.trim()}`)
  const counted = (await settledCount(sink, before + p.messages)) - before
  if (counted !== p.messages) {
    throw new BenchmarkError(`smtp-source on ${sink.kind}: the sink counted ${counted} messages, ${p.messages} were sent`)
  }
  // `times` prints the shell's times, then its children's: "0m0.103s 0m0.792s".
  const lines = out.trim().split("\n")
  const seconds = (text: string | undefined) => {
    const match = /^(\d+)m([\d.]+)s$/.exec(text ?? "")
    return match ? Number(match[1]) * 60 + Number(match[2]) : NaN
  }
  const [user, system] = (lines[lines.length - 1] ?? "").trim().split(/\s+/).map(seconds)
  const cpuKnown = Number.isFinite(user) && Number.isFinite(system)
  return {
    messages: p.messages,
    elapsedMs: round1(elapsedMs),
    messagesPerSecond: Math.round((p.messages * 1000) / elapsedMs),
    cpuMicrosPerMessage: cpuKnown ? round1(((user! + system!) * 1e6) / p.messages) : null,
    cpuUserMs: cpuKnown ? Math.round(user! * 1000) : null,
    cpuSystemMs: cpuKnown ? Math.round(system! * 1000) : null,
    peakRssMiB: null,
    sinkCounted: counted
  }
}

export const transport: Scenario = {
  name: "transport",
  description:
    "The transport alone: 20,000 messages of 1 KiB over 20 pooled sessions, 20 in flight, to one sink; " +
    "Sluice's SmtpPool against Nodemailer's pooled transport (`pool: true`) in the same run, on the same sinks. " +
    "Target: Sluice ≥ 1.2 × Nodemailer's pool.",
  // A safety net over the round budget (--budget, 420 s by default): the scenario plans its rounds to
  // end well within it.
  timeLimitMs: 15 * 60_000,
  run: async (context) => {
    const p = parameters(context)
    const message = makeMessage(p.size)
    const directory = mkdtempSync(join(tmpdir(), "sluice-bench-"))
    // smtp-source appends CRLF to each line of the file: give it LF line ends.
    const messageFile = join(directory, "message.eml")
    writeFileSync(messageFile, message.toString("latin1").replace(/\r\n/g, "\n"))

    const unitsPerRun = (subject: Subject) => subject === "smtp-source" ? p.messages : p.warmup + p.messages
    const unitsPerRound = p.subjects.reduce((sum, subject) => sum + unitsPerRun(subject), 0)
    context.progress.start(unitsPerRound * p.maxRounds * p.sinks.length)
    const started = Date.now()
    const budgetEnd = Math.min(started + p.budgetMs, context.deadline - 30_000)

    const bySink: Array<{ sink: SinkKind; label: string; rounds: number; subjects: Array<SubjectFigures> }> = []
    try {
      for (let s = 0; s < p.sinks.length; s++) {
        const kind = p.sinks[s]!
        checkAborted(context.signal)
        const sink = await startSink(kind)
        const figures = p.subjects.map((subject): SubjectFigures => ({ subject, label: subjectLabel[subject], runs: [] }))
        let rounds = 0
        try {
          const sinkStarted = Date.now()
          for (let round = 1; round <= p.maxRounds; round++) {
            // Later rounds only when they fit in this sink's share of what is left of the budget.
            if (round > 1) {
              const perRound = (Date.now() - sinkStarted) / (round - 1)
              const share = (budgetEnd - sinkStarted) / (p.sinks.length - s)
              if (Date.now() - sinkStarted + perRound > share) {
                context.progress.grow(-unitsPerRound * (p.maxRounds - round + 1))
                context.progress.log(`transport: ${kind}: ${round - 1} round(s), the budget leaves no time for more`)
                break
              }
            }
            // Rotate the order each round, so that no subject always runs first or last.
            const order = p.subjects.map((_, i) => figures[(i + round - 1) % figures.length]!)
            for (let position = 0; position < order.length; position++) {
              const entry = order[position]!
              checkAborted(context.signal)
              context.progress.step(`${kind} · round ${round}/${p.maxRounds} · ${entry.label}`)
              const base = unitsPerRound * (p.maxRounds * s + round - 1) +
                order.slice(0, position).reduce((sum, e) => sum + unitsPerRun(e.subject), 0)
              const onProgress = (counted: number) => context.progress.set(base + counted)
              const measurement = entry.subject === "smtp-source"
                ? await runSmtpSource(sink, messageFile, p, context, onProgress)
                : await runNodeClient(entry.subject, sink, p, context, onProgress)
              entry.runs.push({ round, order: position + 1, ...measurement })
              context.progress.set(base + unitsPerRun(entry.subject))
              context.progress.log(
                `transport: ${kind} round ${round}: ${entry.label}: ${measurement.messagesPerSecond} msg/s` +
                  (measurement.cpuMicrosPerMessage === null ? "" : `, ${measurement.cpuMicrosPerMessage} µs CPU/msg`)
              )
            }
            rounds = round
          }
        } finally {
          await sink.close()
        }
        for (const entry of figures) {
          entry.median = {
            messagesPerSecond: Math.round(median(entry.runs.map((run) => run.messagesPerSecond))),
            cpuMicrosPerMessage: medianOrNull(entry.runs.map((run) => run.cpuMicrosPerMessage)),
            peakRssMiB: medianOrNull(entry.runs.map((run) => run.peakRssMiB))
          }
        }
        bySink.push({ sink: kind, label: sink.label, rounds, subjects: figures })
      }
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }

    // Ratios of medians, Sluice over each peer, on the same sink.
    const rows: Array<Row> = []
    const ratios: Array<Record<string, unknown>> = []
    const summary: Array<string> = []
    for (const entry of bySink) {
      const sluice = entry.subjects.find((figure) => figure.subject === "sluice")
      const sluiceRate = sluice?.median?.messagesPerSecond
      const ratioTo = (subject: Subject): number | null => {
        const peer = entry.subjects.find((figure) => figure.subject === subject)?.median?.messagesPerSecond
        return sluiceRate === undefined || peer === undefined ? null : round2(sluiceRate / peer)
      }
      // Paired per round (same round, same sink): less sensitive to drift over the run.
      const pairedToNodemailer = sluice === undefined ? [] : sluice.runs.flatMap((run) => {
        const peer = entry.subjects.find((figure) => figure.subject === "nodemailer")?.runs.find((r) => r.round === run.round)
        return peer === undefined ? [] : [round2(run.messagesPerSecond / peer.messagesPerSecond)]
      })
      ratios.push({
        sink: entry.sink,
        sluiceOverNodemailer: ratioTo("nodemailer"),
        sluiceOverNodemailerPerRound: pairedToNodemailer,
        sluiceOverNodemailerNoDelay: ratioTo("nodemailer-nodelay"),
        sluiceOverSmtpSource: ratioTo("smtp-source")
      })
      for (const figure of entry.subjects) {
        const rates = figure.runs.map((run) => run.messagesPerSecond)
        rows.push({
          Sink: entry.label,
          Client: figure.label,
          "msg/s (median)": figure.median?.messagesPerSecond ?? null,
          "min–max": rates.length === 0 ? null : `${Math.min(...rates)}–${Math.max(...rates)}`,
          "CPU µs/msg": figure.median?.cpuMicrosPerMessage ?? null,
          "peak RSS MiB": figure.median?.peakRssMiB ?? null,
          "Sluice ÷ this": figure.subject === "sluice" ? "1.00" : (ratioTo(figure.subject)?.toFixed(2) ?? null)
        })
      }
      const target = ratioTo("nodemailer")
      const parts = [
        `${entry.label}: Sluice ${sluiceRate ?? "–"} msg/s; Sluice ÷ Nodemailer pool = ${target?.toFixed(2) ?? "–"}×` +
          (target === null ? "" : target >= 1.2 ? " (target ≥ 1.2×: met)" : " (target ≥ 1.2×: NOT met)"),
        ratioTo("nodemailer-nodelay") === null ? undefined : `÷ Nodemailer with TCP_NODELAY = ${ratioTo("nodemailer-nodelay")!.toFixed(2)}×`,
        ratioTo("smtp-source") === null ? undefined : `÷ smtp-source = ${ratioTo("smtp-source")!.toFixed(2)}×`
      ].filter((part) => part !== undefined)
      summary.push(`${parts.join("; ")} (median of ${entry.rounds} round${entry.rounds === 1 ? "" : "s"})`)
    }

    return {
      parameters: {
        messages: p.messages,
        messageBytes: p.size,
        warmupMessages: p.warmup,
        connections: p.connections,
        inFlight: p.concurrency,
        maxRounds: p.maxRounds,
        budgetSeconds: p.budgetMs / 1000,
        figure: "median over rounds of messages per second; ratios are of medians on the same sink",
        timed: "from creating the pooled transport to the last message's final reply (warm-up and close not timed)",
        process: "each client run in a fresh child process after its own warm-up; sinks in their own processes",
        sluice: { maxConnections: p.connections, maxMessagesPerConnection: "Infinity", tls: "none" },
        nodemailer: { pool: true, maxConnections: p.connections, maxMessages: "Infinity", secure: false, ignoreTLS: true }
      },
      figures: { ratios, sinks: bySink },
      table: { columns: ["Sink", "Client", "msg/s (median)", "min–max", "CPU µs/msg", "peak RSS MiB", "Sluice ÷ this"], rows },
      summary
    }
  }
}
