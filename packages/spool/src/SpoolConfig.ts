import { Config as Config_ } from "@sluice/engine"
import { Schema } from "effect"

/**
 * The configuration file's `queue` section when `kind` is "embedded": the durable spool on this
 * machine. Its own module, so the file decodes without loading LMDB.
 */
export const Config = Schema.Struct({
  kind: Schema.Literal("embedded"),
  path: Config_.withDefault(Schema.NonEmptyString, () => "./.sluice/spool"),
  maxDepth: Config_.withDefault(Config_.Positive, () => 1_000_000),
  /** Bytes of the spool's file its memory map may keep resident before it is reopened (the spool's default when absent). */
  maxMappedBytes: Schema.optional(Config_.Positive)
})
export type Config = Schema.Schema.Type<typeof Config>
