import { Config as Config_ } from "@sluice/engine"
import { Duration, Schema } from "effect"

/**
 * The configuration file's `http` section: the listener, its keys and limits. Its own module, so the
 * file decodes without loading the server.
 */
export const Config = Schema.Struct({
  host: Config_.withDefault(Schema.NonEmptyTrimmedString, () => "127.0.0.1"),
  port: Config_.withDefault(Config_.Port, () => 8025),
  maxBodyBytes: Config_.withDefault(Config_.Positive, () => 10 * 1024 * 1024),
  /** The keys of /v1/: each a string, or `{"name", "key"}` so the log says who did what by name. */
  apiKeys: Schema.optional(Schema.Array(Schema.Union(
    Schema.NonEmptyString,
    Schema.Struct({ name: Schema.NonEmptyString, key: Schema.NonEmptyString })
  ))),
  /**
   * /metrics, /openapi.json and /docs stay open with `apiKeys` set (CONTRACT.md: a Prometheus scrapes
   * without a key); false puts them behind the keys too.
   */
  publicMetrics: Config_.withDefault(Schema.Boolean, () => true),
  /** How long a request's body may take to arrive; a slower one is answered 408 and its connection closed. */
  bodyTimeout: Config_.withDefault(Config_.DurationFromInput, () => Duration.seconds(30)),
  /** UTF-8 bytes of a template's sources together (PUT /v1/templates/{id}); more is refused with 413. */
  maxTemplateBytes: Config_.withDefault(Config_.Positive, () => 256 * 1024),
  /** How long compiling a template (at PUT), or rendering one message from it, may take; longer is refused. */
  templateTimeout: Config_.withDefault(Config_.DurationFromInput, () => Duration.seconds(10))
})
export type Config = Schema.Schema.Type<typeof Config>

/** One of `apiKeys` as given: the key alone, or named. */
export type ApiKey = NonNullable<Config["apiKeys"]>[number]
