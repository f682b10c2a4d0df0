import { Schema } from "effect"

/**
 * The configuration file's `cache` section when it names Redis. Its own module, without ioredis, so
 * that the file can be decoded without loading the client.
 */
export const Config = Schema.Struct({
  kind: Schema.Literal("redis"),
  url: Schema.NonEmptyString,
  /** Prefix of the keys, so several clusters share one Redis (default "sluice"). */
  prefix: Schema.optional(Schema.NonEmptyTrimmedString)
})
export type Config = Schema.Schema.Type<typeof Config>
