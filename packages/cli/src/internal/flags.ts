import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Duration, Effect, ParseResult, Schema } from "effect"

/** A command-line error in @effect/cli's own type, so it is printed and exits like a parse error. */
export const invalid = (text: string): ValidationError.ValidationError => ValidationError.invalidValue(HelpDoc.p(text))

/**
 * A numeric flag checked by a schema, whose error names the flag (@effect/cli's own integer and
 * float options say only "'x' is not a integer").
 */
export const number = (name: string, schema: Schema.Schema<number>, pseudoName: string) =>
  Options.text(name).pipe(
    Options.withPseudoName(pseudoName),
    Options.mapEffect((text) => {
      const value = text.trim() === "" ? Number.NaN : Number(text)
      if (Number.isNaN(value)) return Effect.fail(invalid(`--${name} "${text}" is not a number`))
      return Schema.decode(schema)(value).pipe(
        Effect.mapError((error) =>
          invalid(`--${name} ${text}: ${ParseResult.ArrayFormatter.formatErrorSync(error)[0]?.message ?? "not allowed"}`)
        )
      )
    })
  )

/** A flag that takes one of `values`; its error names the flag (@effect/cli's own choice does not). */
export const choice = <A extends string>(name: string, values: ReadonlyArray<A>, pseudoName: string) =>
  Options.text(name).pipe(
    Options.withPseudoName(pseudoName),
    Options.mapEffect((text) =>
      values.includes(text as A)
        ? Effect.succeed(text as A)
        : Effect.fail(invalid(`--${name} "${text}" is not one of ${values.join(", ")}`))
    )
  )

export const port = (name = "port") => number(name, Schema.Int.pipe(Schema.between(0, 65535)), "PORT")

/** An `--upstream host:port[,weight]` flag, parsed. */
export interface UpstreamFlag {
  readonly host: string
  readonly port: number
  readonly weight?: number
}

// "[::1]:2525" for IPv6, since the address itself holds colons.
const upstreamPattern = /^(?:\[([^\]\s]+)\]|([^\s:,[\]]+)):(\d{1,5})(?:,(\d+(?:\.\d+)?))?$/

/** Parses `host:port[,weight]`; the error says what was expected. */
export const parseUpstream = (text: string): Effect.Effect<UpstreamFlag, string> => {
  const match = upstreamPattern.exec(text.trim())
  if (match === null) return Effect.fail(`--upstream "${text}" is not host:port[,weight] (e.g. 127.0.0.1:2525,2)`)
  const port = Number(match[3])
  if (port > 65535) return Effect.fail(`--upstream "${text}": port ${port} is above 65535`)
  const host = match[1] ?? match[2]!
  return Effect.succeed(match[4] === undefined ? { host, port } : { host, port, weight: Number(match[4]) })
}

/** A duration flag: an Effect duration string ("30 seconds") or a number of milliseconds. */
export const duration = (name: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("DURATION"),
    Options.mapEffect((text) => {
      const parsed = Duration.decodeUnknown(/^\d+$/.test(text) ? Number(text) : text)
      return parsed._tag === "Some"
        ? Effect.succeed(parsed.value)
        : Effect.fail(invalid(`--${name} "${text}" is not a duration (try "30 seconds" or 30000)`))
    })
  )
