import { Config } from "@sluice/engine"
import * as nodePath from "node:path"
import type { Effect } from "effect"
import { Schema } from "effect"
import * as RecipientsConfig from "@sluice/content/RecipientsConfig"
import * as HttpConfig from "@sluice/http/HttpConfig"
import * as WebhookConfig from "@sluice/http/WebhookConfig"
import * as CacheLayer from "./CacheLayer.js"
import * as Logging from "./Logging.js"
import * as QueueLayer from "./QueueLayer.js"

/**
 * The whole configuration file (see CONTRACT.md), composed from the sections of the packages that
 * own them: the engine's, `http` and `webhook` (@sluice/http's), `queue` (the spool's, @sluice/amqp's
 * or the engine's memory queue), `recipients` (@sluice/content's), `cache` (in this process, or
 * @sluice/redis's) and `log`.
 * Every field but `upstreams` has a default.
 */
export const SluiceConfig = Schema.Struct({
  http: Config.withDefault(HttpConfig.Config, () => Schema.decodeSync(HttpConfig.Config)({})),
  queue: Config.withDefault(QueueLayer.Config, QueueLayer.defaultConfig),
  ...Config.SluiceConfig.fields,
  recipients: Schema.optional(RecipientsConfig.Config),
  cache: Schema.optional(CacheLayer.Config),
  webhook: Schema.optional(WebhookConfig.Config),
  log: Config.withDefault(Logging.Config, () => ({ level: "info" as const }))
})
export type SluiceConfig = Schema.Schema.Type<typeof SluiceConfig>
export type SluiceConfigInput = Schema.Schema.Encoded<typeof SluiceConfig>

/** Decodes and checks a configuration file (JSON already parsed), naming every bad field by its path. */
export const decode: (input: unknown) => Effect.Effect<SluiceConfig, Config.ConfigError> = Config.decodeWith(SluiceConfig)

/**
 * The configuration with its relative paths (`queue.path`, given or by default) made absolute from
 * `directory`: a config file's own directory, so that the same file means the same spool whatever
 * directory it is used from.
 */
export const resolvePaths = (config: SluiceConfig, directory: string): SluiceConfig =>
  config.queue.kind === "embedded"
    ? { ...config, queue: { ...config.queue, path: nodePath.resolve(directory, config.queue.path) } }
    : config
