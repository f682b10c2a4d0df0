import { Config as Config_ } from "@sluice/engine"
import { Schema } from "effect"

/**
 * The configuration file's `queue` section when `kind` is "rabbitmq". Its own module, so the file
 * decodes without loading amqplib.
 */
export const Config = Schema.Struct({
  kind: Schema.Literal("rabbitmq"),
  url: Schema.NonEmptyString,
  /** Prefix of the queue names, so several clusters share one broker (default "sluice"). */
  prefix: Schema.optional(Schema.NonEmptyTrimmedString),
  maxDepth: Config_.withDefault(Config_.Positive, () => 1_000_000)
})
export type Config = Schema.Schema.Type<typeof Config>
