import { Config as EngineConfig } from "@sluice/engine"
import type { Layer } from "effect"
import { Logger, LogLevel, Schema } from "effect"

/** The configuration file's `log` section: the lowest level written (`--log-level` wins in `serve`). */
export const Config = Schema.Struct({
  level: EngineConfig.withDefault(Schema.Literal("debug", "info", "warn", "error"), () => "info" as const)
})
export type Config = Schema.Schema.Type<typeof Config>
export type Level = Config["level"]

const levels: Record<Level, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error
}

/** Logs from the section's level up. */
export const layer = (section: Config): Layer.Layer<never> => Logger.minimumLogLevel(levels[section.level])
