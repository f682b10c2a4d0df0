import type { List, LogLevel } from "effect"
import { Cause, HashMap, Inspectable, Layer, Logger } from "effect"

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
  const errors: Array<string> = []
  for (const part of parts) {
    if (typeof part === "string") texts.push(part)
    else errors.push(describe(part))
  }
  const msg = texts.length === 1 ? texts[0]! : texts.join(" ")
  if (!Cause.isEmpty(options.cause)) errors.push(Cause.pretty(options.cause))
  const error = errors.length > 0 ? errors.join("\n") : undefined
  // Written out field by field (the engine writes a line per message delivered): ts, level and msg
  // first, readable in a terminal; an annotation never replaces them, nor an error.
  let line = `{"ts":"${options.date.toISOString()}","level":"${options.logLevel.label.toLowerCase()}","msg":${JSON.stringify(msg)}`
  HashMap.forEach(options.annotations, (value, key) => {
    if (key === "ts" || key === "level" || key === "msg" || (key === "error" && error !== undefined)) return
    const json = encode(value)
    if (json !== undefined) line += `,${JSON.stringify(key)}:${json}`
  })
  const now = options.date.getTime()
  for (const span of options.spans) line += `,${JSON.stringify(`${span.label}Ms`)}:${now - span.startTime}`
  if (error !== undefined) line += `,"error":${JSON.stringify(error)}`
  return line + "}"
}

/** A value as JSON, bigints as strings; undefined for what JSON leaves out (undefined, a function). */
const encode = (value: unknown): string | undefined => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "number":
      return Number.isFinite(value) ? String(value) : "null"
    case "boolean":
      return value ? "true" : "false"
    case "bigint":
      return `"${value}"`
    default:
      return JSON.stringify(value, replacer)
  }
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
