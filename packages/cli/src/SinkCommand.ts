import { Command, Options } from "@effect/cli"
import { Effect, Schema } from "effect"
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

/** The parsed flags of `sluice sink`. */
export type Flags = Command.Command.ParseConfig<typeof options>

export const command = Command.make("sink", options, (flags) =>
  Effect.promise(() => import("./internal/sink.js")).pipe(Effect.flatMap((sink) => sink.run(flags)))).pipe(
  Command.withDescription(
    "A local SMTP sink that accepts (or refuses, when told) and counts mail, for demos and benchmarks. One JSON log line per message on stdout."
  )
)
