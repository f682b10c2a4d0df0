import { Sink } from "@sluice/sink"
import { Effect, Runtime, Schedule } from "effect"
import type { Flags } from "../SinkCommand.js"

const refusal = (code: number) => ({ code, text: `refused as the sink was told (${code})` })

export const run = (flags: Flags) =>
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
