import { Config as EngineConfig, LineLogger } from "@sluice/engine"
import type { Layer } from "effect"
import { Cause, Inspectable, Logger, LogLevel, Schema } from "effect"

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

/** One record of Sluice's log, as `createEngine`'s `logger` option receives it. */
export interface Line {
  readonly level: "trace" | "debug" | "info" | "warn" | "error" | "fatal"
  /** The text of the record (`"delivered"`, `"deferred: 451 …"`, `"circuit open"`, …). */
  readonly message: string
  /** The facts of the record, as `sluice serve`'s JSON lines carry them: `messageId`, `upstream`, `code`, `attempt`, … */
  readonly annotations: Readonly<Record<string, unknown>>
  readonly at: Date
  /** What went wrong, when the record carries an error or a failure's cause. */
  readonly error?: string
}

const describe = (value: unknown): string =>
  value instanceof Error ? value.message : typeof value === "object" && value !== null ? Inspectable.format(value) : String(value)

/** Effect's log record as a `Line`: the strings are the message, anything else is the error. */
export const toLine = (options: Logger.Logger.Options<unknown>): Line => {
  const parts = Array.isArray(options.message) ? options.message : [options.message]
  const texts: Array<string> = []
  const errors: Array<string> = []
  for (const part of parts) {
    if (typeof part === "string") texts.push(part)
    else errors.push(describe(part))
  }
  if (!Cause.isEmpty(options.cause)) errors.push(Cause.pretty(options.cause))
  const annotations: Record<string, unknown> = {}
  for (const [key, value] of options.annotations) {
    if (value !== undefined) annotations[key] = value
  }
  return {
    level: options.logLevel.label.toLowerCase() as Line["level"],
    message: texts.join(" "),
    annotations,
    at: options.date,
    ...(errors.length === 0 ? {} : { error: errors.join("\n") })
  }
}

/**
 * Where an embedded engine's log goes: to the host's function, or nowhere. Effect's default logger
 * would print logfmt lines on the host's stdout, which is the host's, not a library's, to write.
 */
export const embedded = (write: ((line: Line) => void) | undefined): Layer.Layer<never> => {
  if (write === undefined) return Logger.remove(Logger.defaultLogger)
  // A host's logger that throws must not stop a delivery: the line is lost, not the message.
  const handOver = (line: Line) => {
    try {
      write(line)
    } catch {
      // nothing to do: there is nowhere else to say it
    }
  }
  return Logger.replace(
    Logger.defaultLogger,
    LineLogger.make(Logger.make((options) => handOver(toLine(options))), (batch) => {
      for (const line of batch.lines) {
        const annotations: Record<string, unknown> = {}
        LineLogger.forEachAnnotation(batch, line, (value, key) => {
          if (value !== undefined) annotations[key] = value
        })
        handOver({ level: line.level, message: line.message, annotations, at: batch.date })
      }
    })
  )
}
