import { Command, Options } from "@effect/cli"
import { Sink } from "@sluice/sink"
import { Effect, Runtime, Schedule, Schema } from "effect"
import { invalid, number, port as portFlag } from "./internal/flags.js"

const port = portFlag().pipe(
  Options.withDescription("The port to listen on (0 picks a free one, shown in the first log line)."),
  Options.withDefault(2525)
)

const host = Options.text("host").pipe(Options.withPseudoName("HOST"), Options.withDescription("The address to listen on."), Options.withDefault("127.0.0.1"))

const smtpCode = (name: string, description: string) =>
  number(name, Schema.Int.pipe(Schema.between(400, 599)), "CODE").pipe(
    Options.withDescription(description),
    Options.optional
  )

const rate = (name: string, description: string) =>
  number(name, Schema.Number.pipe(Schema.between(0, 1)), "0..1").pipe(
    Options.withDescription(description),
    Options.withDefault(0)
  )

const options = {
  port,
  host,
  rejectRcpt: smtpCode(
    "reject-rcpt",
    "Refuse every recipient with this 4xx/5xx code. Without it, an address like bounce+550@example.com is refused with its code."
  ),
  rejectData: smtpCode("reject-data", "Refuse every message after DATA with this 4xx/5xx code."),
  deferRate: rate("defer-rate", "The share of messages answered 451 after DATA (a temporary failure)."),
  bounceRate: rate("bounce-rate", "The share of messages answered 550 after DATA (a permanent failure)."),
  delay: number("delay", Schema.Int.pipe(Schema.nonNegative()), "MS").pipe(
    Options.withDescription("Wait this many milliseconds before answering DATA: a slow upstream."),
    Options.withDefault(0)
  ),
  auth: Options.text("auth").pipe(
    Options.withPseudoName("user:pass"),
    Options.withDescription("Require AUTH PLAIN or LOGIN with these credentials."),
    Options.mapEffect((text) => {
      const colon = text.indexOf(":")
      return colon <= 0
        ? Effect.fail(invalid(`--auth "${text}" is not user:pass`))
        : Effect.succeed({ user: text.slice(0, colon), pass: text.slice(colon + 1) })
    }),
    Options.optional
  ),
  quiet: Options.boolean("quiet").pipe(
    Options.withDescription("No log line per message (for long benchmark runs); the totals are still logged at exit.")
  )
}

type Flags = Command.Command.ParseConfig<typeof options>

const refusal = (code: number) => ({ code, text: `refused as the sink was told (${code})` })

const run = (flags: Flags) =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const log = Runtime.runSync(runtime)
    let refused = 0
    const refuse = (code: number, fields: Record<string, unknown>) => {
      refused++
      if (!flags.quiet) log(Effect.logInfo("refused").pipe(Effect.annotateLogs({ code, ...fields })))
      return refusal(code)
    }
    const sink = yield* Sink.make({
      host: flags.host,
      port: flags.port,
      record: "count",
      ...(flags.delay > 0 ? { dataDelayMs: flags.delay } : {}),
      ...(flags.auth._tag === "Some" ? { auth: flags.auth.value } : {}),
      onRcptTo: (address) => {
        const code = flags.rejectRcpt._tag === "Some" ? flags.rejectRcpt.value : Sink.defaultRcpt(address)?.code
        return code === undefined ? undefined : refuse(code, { to: address })
      },
      onData: (message) => {
        const fields = { from: message.from, to: message.to, size: message.size }
        const roll = Math.random()
        const code = flags.rejectData._tag === "Some"
          ? flags.rejectData.value
          : roll < flags.deferRate
          ? 451
          : roll < flags.deferRate + flags.bounceRate
          ? 550
          : undefined
        if (code !== undefined) return refuse(code, fields)
        if (!flags.quiet) log(Effect.logInfo("received").pipe(Effect.annotateLogs(fields)))
        return undefined
      }
    })
    yield* Effect.logInfo("sink listening").pipe(Effect.annotateLogs({ host: sink.host, port: sink.port }))

    const totals = () => ({ received: sink.received, refused, connections: sink.connections.total })
    yield* Effect.addFinalizer(() => Effect.logInfo("sink closed").pipe(Effect.annotateLogs(totals())))
    // On one terminal, per-message lines on stdout would tear the rewritten line apart.
    if (process.stderr.isTTY && (flags.quiet || !process.stdout.isTTY)) yield* progress(() => sink.received, () => refused)
    return yield* Effect.never
  }).pipe(Effect.scoped)

/** A self-rewriting status line on a terminal: totals and the rate over the last second. */
const progress = (received: () => number, refused: () => number) =>
  Effect.gen(function*() {
    let last = 0
    yield* Effect.sync(() => {
      const now = received()
      process.stderr.write(`\r\x1b[K${now} received (${now - last}/s), ${refused()} refused`)
      last = now
    }).pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)
    yield* Effect.addFinalizer(() => Effect.sync(() => process.stderr.write("\n")))
  })

export const command = Command.make("sink", options, run).pipe(
  Command.withDescription(
    "A local SMTP sink that accepts (or refuses, when told) and counts mail, for demos and benchmarks. One JSON log line per message on stdout."
  )
)
