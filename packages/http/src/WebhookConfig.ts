import { Config as Config_ } from "@sluice/engine"
import { Duration, Schema } from "effect"

const HttpUrl = Schema.String.pipe(
  Schema.filter((url) => {
    try {
      const protocol = new URL(url).protocol
      return protocol === "http:" || protocol === "https:" || `"${url}" is not an http(s) URL`
    } catch {
      return `"${url}" is not a URL`
    }
  }, { identifier: "HttpUrl" })
)

/**
 * The configuration file's `webhook` section: delivery events posted in JSON batches to `url`
 * (optional, off by default). Its own module, so the file decodes without loading the HTTP server.
 */
export const Config = Schema.Struct({
  url: HttpUrl,
  batchSize: Config_.withDefault(Config_.Positive, () => 100),
  flushInterval: Config_.withDefault(Config_.DurationFromInput, () => Duration.seconds(1)),
  /** Events waiting to be posted; beyond it the oldest are dropped, delivery never waits. */
  bufferSize: Config_.withDefault(Config_.Positive, () => 10_000),
  /** Sent with every post, e.g. an Authorization header. */
  headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})
export type Config = Schema.Schema.Type<typeof Config>
