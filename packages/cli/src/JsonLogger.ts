import type { List, LogLevel } from "effect"
import { LineLogger } from "@sluice/engine"
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
  let line = head(options.date.toISOString(), options.logLevel.label.toLowerCase(), msg)
  HashMap.forEach(options.annotations, (value, key) => {
    if (key !== "error" || error === undefined) line += field(key, value)
  })
  line += spansOf(options.spans, options.date.getTime())
  if (error !== undefined) line += `,"error":${JSON.stringify(error)}`
  return line + "}"
}

/**
 * The engine's per-message lines (LineLogger), as `format` writes each: the fiber's annotations that
 * no line's own replaces, then the line's, in the order it gives them. One string for the batch.
 */
export const formatLines = (batch: LineLogger.Batch): string => {
  const ts = batch.date.toISOString()
  const spans = spansOf(batch.spans, batch.date.getTime())
  let out = ""
  for (const line of batch.lines) {
    let text = head(ts, line.level, line.message)
    LineLogger.forEachAnnotation(batch, line, (value, key) => {
      text += field(key, value)
    })
    out += text + spans + "}\n"
  }
  return out
}

// Written out field by field (the engine writes a line per message delivered): ts, level and msg
// first, readable in a terminal; an annotation never replaces them.
const head = (ts: string, level: string, msg: string): string => `{"ts":"${ts}","level":"${level}","msg":${JSON.stringify(msg)}`

const field = (key: string, value: unknown): string => {
  if (key === "ts" || key === "level" || key === "msg") return ""
  const json = encode(value)
  return json === undefined ? "" : `,${JSON.stringify(key)}:${json}`
}

const spansOf = (spans: List.List<{ readonly label: string; readonly startTime: number }>, now: number): string => {
  let text = ""
  for (const span of spans) text += `,${JSON.stringify(`${span.label}Ms`)}:${now - span.startTime}`
  return text
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
      // A replacer is called for every key and value: only a value that holds a bigint needs it.
      try {
        return JSON.stringify(value)
      } catch {
        return JSON.stringify(value, replacer)
      }
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

/** A line per record on stdout; the engine's per-message lines in one write per batch. */
export const logger: Logger.Logger<unknown, void> = LineLogger.make(
  Logger.make((options) => {
    process.stdout.write(format(options) + "\n")
  }),
  (batch) => {
    process.stdout.write(formatLines(batch))
  }
)

/** Replaces Effect's default logger with the JSON-lines one, on stdout. */
export const layer: Layer.Layer<never> = Logger.replace(Logger.defaultLogger, logger)
