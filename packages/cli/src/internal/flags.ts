import { HelpDoc, Options, ValidationError } from "@effect/cli"
import { Effect, ParseResult, Schema } from "effect"

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

export const port = (name = "port") => number(name, Schema.Int.pipe(Schema.between(0, 65535)), "PORT")
