import type { List, Logger, LogSpan } from "effect"
import { HashMap } from "effect"

/**
 * A logger that takes the engine's per-message lines (one per message delivered, deferred, bounced
 * or failed) a batch at a time, each line's annotations a plain record: no HashMap of annotations
 * and no logger call per line. `sluice serve`'s JSON lines take them so, in one write per batch. Any
 * other logger is handed each line as `Effect.logInfo(…).pipe(Effect.annotateLogs(…))` would hand it.
 */
export const TypeId: unique symbol = Symbol.for("@sluice/engine/LineLogger")
export type TypeId = typeof TypeId

/** A line the engine writes: its level, its text, and the facts of it. */
export interface Line {
  readonly level: "info" | "warn"
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

export interface Batch {
  /** When the batch was written: every line of it carries this time. */
  readonly date: Date
  /** The writing fiber's annotations, under each line's own: a line's annotation of the same key wins. */
  readonly annotations: HashMap.HashMap<string, unknown>
  readonly spans: List.List<LogSpan.LogSpan>
  /** The lines at or above the fiber's minimum level, in order. */
  readonly lines: ReadonlyArray<Line>
}

export interface LineLogger<Message, Output> extends Logger.Logger<Message, Output> {
  readonly [TypeId]: (batch: Batch) => void
}

/** `logger`, which takes the engine's lines through `logLines` instead of one `log` call each. */
export const make = <Message, Output>(
  logger: Logger.Logger<Message, Output>,
  logLines: (batch: Batch) => void
): LineLogger<Message, Output> => ({ ...logger, [TypeId]: logLines })

export const isLineLogger = <Message, Output>(logger: Logger.Logger<Message, Output>): logger is LineLogger<Message, Output> =>
  TypeId in logger

/**
 * `f` for each annotation of `line` within `batch`, each key once: the fiber's that the line does not
 * set, then the line's own, in its order (undefined values included, for the caller to leave out).
 */
export const forEachAnnotation = (batch: Batch, line: Line, f: (value: unknown, key: string) => void): void => {
  HashMap.forEach(batch.annotations, (value, key) => {
    if (!(key in line.annotations)) f(value, key)
  })
  for (const key in line.annotations) f(line.annotations[key], key)
}
