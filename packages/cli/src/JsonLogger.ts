import type { HashMap, List, LogLevel } from "effect"
import { Cause, Inspectable, Layer, Logger } from "effect"

/**
 * One JSON object per line with stable top-level field names, so a log shipper (ELK) can index them
 * without a parsing stage: `ts`, `level`, `msg`, then the annotations the engine adds
 * (`messageId`, `upstream`, `code`, `enhanced`, `attempt`, `durationMs`, ...), then `error`.
 */
export const format = (options: {
  readonly date: Date
  readonly logLevel: LogLevel.LogLevel
  readonly message: unknown
  readonly annotations: HashMap.HashMap<string, unknown>
  readonly cause: Cause.Cause<unknown>
  readonly spans: List.List<{ readonly label: string; readonly startTime: number }>
}): string => {
  const parts = Array.isArray(options.message) ? options.message : [options.message]
  const texts: Array<string> = []
  const details: Array<unknown> = []
  for (const part of parts) {
    if (typeof part === "string") texts.push(part)
    else details.push(part)
  }
  const line: Record<string, unknown> = {}
  for (const [key, value] of options.annotations) {
    if (value !== undefined) line[key] = value
  }
  const now = options.date.getTime()
  for (const span of options.spans) line[`${span.label}Ms`] = now - span.startTime
  line.ts = options.date.toISOString()
  line.level = options.logLevel.label.toLowerCase()
  line.msg = texts.join(" ")
  const errors = details.map(describe)
  if (!Cause.isEmpty(options.cause)) errors.push(Cause.pretty(options.cause))
  if (errors.length > 0) line.error = errors.join("\n")
  // Field order is cosmetic; putting ts/level/msg first makes the lines readable in a terminal.
  const { ts, level, msg, ...rest } = line
  return JSON.stringify({ ts, level, msg, ...rest }, replacer)
}

const describe = (value: unknown): string => {
  if (value instanceof Error) {
    const tag = (value as { _tag?: unknown })._tag
    return typeof tag === "string" && !value.message.startsWith(tag) ? `${tag}: ${value.message}` : value.message
  }
  return typeof value === "object" && value !== null ? Inspectable.format(value) : String(value)
}

const replacer = (_key: string, value: unknown) => typeof value === "bigint" ? value.toString() : value

export const logger: Logger.Logger<unknown, void> = Logger.make((options) => {
  process.stdout.write(format(options) + "\n")
})

/** Replaces Effect's default logger with the JSON-lines one, on stdout. */
export const layer: Layer.Layer<never> = Logger.replace(Logger.defaultLogger, logger)
