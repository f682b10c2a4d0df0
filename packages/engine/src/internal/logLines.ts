import type { Clock } from "effect"
import { Cause, Effect, FiberRef, HashMap, HashSet, LogLevel } from "effect"

/** A log line gathered by synchronous code, for its owner's next flush. */
export interface Line {
  readonly level: "info" | "warn"
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/**
 * Writes `lines` to the fiber's loggers, each with its annotations over the fiber's own, as
 * `Effect.logInfo(message).pipe(Effect.annotateLogs(annotations))` would — minimum level, spans and
 * loggers included — in one step: an Effect and an annotations update per line cost more than the
 * line itself, and the engine writes one per message delivered.
 */
export const logLines = (lines: ReadonlyArray<Line>, clock: Clock.Clock): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const loggers = fiber.getFiberRef(FiberRef.currentLoggers)
    if (lines.length === 0 || HashSet.size(loggers) === 0) return Effect.void
    const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel)
    const base = fiber.getFiberRef(FiberRef.currentLogAnnotations)
    const spans = fiber.getFiberRef(FiberRef.currentLogSpan)
    const context = fiber.getFiberRefs()
    const fiberId = fiber.id()
    const date = new Date(clock.unsafeCurrentTimeMillis())
    for (const line of lines) {
      const logLevel = line.level === "warn" ? LogLevel.Warning : LogLevel.Info
      if (LogLevel.greaterThan(minimum, logLevel)) continue
      const annotations = HashMap.mutate(base, (map) => {
        for (const key in line.annotations) HashMap.set(map, key, line.annotations[key])
      })
      const message = [line.message]
      for (const logger of loggers) logger.log({ fiberId, logLevel, message, cause: Cause.empty, context, spans, annotations, date })
    }
    return Effect.void
  })
