import type { Clock, Logger } from "effect"
import { Cause, Effect, FiberRef, HashMap, HashSet, LogLevel } from "effect"
import type { Line } from "../LineLogger.js"
import { isLineLogger, TypeId } from "../LineLogger.js"

export type { Line } from "../LineLogger.js"

/**
 * Writes `lines` to the fiber's loggers, each with its annotations over the fiber's own, as
 * `Effect.logInfo(message).pipe(Effect.annotateLogs(annotations))` would — minimum level, spans and
 * loggers included — in one step: an Effect and an annotations update per line cost more than the
 * line itself, and the engine writes one per message delivered. A LineLogger takes the whole batch
 * at once, its annotations as they are.
 */
export const logLines = (lines: ReadonlyArray<Line>, clock: Clock.Clock): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const loggers = fiber.getFiberRef(FiberRef.currentLoggers)
    if (lines.length === 0 || HashSet.size(loggers) === 0) return Effect.void
    const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel)
    const shown = lines.filter((line) => !LogLevel.greaterThan(minimum, levelOf(line)))
    if (shown.length === 0) return Effect.void
    const base = fiber.getFiberRef(FiberRef.currentLogAnnotations)
    const spans = fiber.getFiberRef(FiberRef.currentLogSpan)
    const date = new Date(clock.unsafeCurrentTimeMillis())
    let others: Array<Logger.Logger<unknown, unknown>> | undefined
    for (const logger of loggers) {
      if (isLineLogger(logger)) logger[TypeId]({ date, annotations: base, spans, lines: shown })
      else (others ??= []).push(logger)
    }
    if (others === undefined) return Effect.void
    const context = fiber.getFiberRefs()
    const fiberId = fiber.id()
    for (const line of shown) {
      const annotations = HashMap.mutate(base, (map) => {
        for (const key in line.annotations) HashMap.set(map, key, line.annotations[key])
      })
      const message = [line.message]
      const logLevel = levelOf(line)
      for (const logger of others) logger.log({ fiberId, logLevel, message, cause: Cause.empty, context, spans, annotations, date })
    }
    return Effect.void
  })

const levelOf = (line: Line): LogLevel.LogLevel => line.level === "warn" ? LogLevel.Warning : LogLevel.Info
