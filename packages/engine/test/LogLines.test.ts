import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, List, Logger, LogLevel } from "effect"
import { LineLogger } from "../src/index.js"
import { logLines } from "../src/internal/logLines.js"

/** What a logger is handed, in plain values. */
const capture = <A>(effect: Effect.Effect<A>) =>
  Effect.gen(function*() {
    const seen: Array<unknown> = []
    const logger = Logger.make<unknown, void>((options) =>
      void seen.push({
        level: options.logLevel.label,
        message: options.message,
        annotations: Object.fromEntries(HashMap.toEntries(options.annotations)),
        spans: List.toArray(options.spans).map((span) => span.label)
      })
    )
    yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return seen
  })

describe("logLines", () => {
  it.effect("hands the loggers what logInfo/logWarning with annotateLogs would, under the same minimum level", () =>
    Effect.gen(function*() {
      const clock = yield* Effect.clock
      const lines = [
        { level: "info" as const, message: "delivered", annotations: { messageId: "m1", code: 250, absent: undefined } },
        { level: "warn" as const, message: "deferred: 451", annotations: { messageId: "m2", upstream: "relay" } }
      ]
      // Inside a span and with an annotation of the caller's, which every line keeps.
      const around = <A>(effect: Effect.Effect<A>) =>
        effect.pipe(Effect.annotateLogs({ node: "n1", messageId: "outer" }), Effect.withLogSpan("flush"))
      const plain = yield* capture(around(logLines(lines, clock)))
      const effect = yield* capture(around(Effect.forEach(lines, ({ annotations, level, message }) =>
        (level === "warn" ? Effect.logWarning(message) : Effect.logInfo(message)).pipe(Effect.annotateLogs(annotations)))))
      expect(plain).toEqual(effect)
      expect(plain).toHaveLength(2)
      expect(plain[0]).toMatchObject({ level: "INFO", message: ["delivered"], annotations: { node: "n1", messageId: "m1", code: 250 } })

      const warnOnly = yield* capture(logLines(lines, clock).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
      expect(warnOnly).toEqual([expect.objectContaining({ level: "WARN", message: ["deferred: 451"] })])
    }))

  it.effect("hands a LineLogger the lines at or above the minimum level in one batch, and every other logger each line", () =>
    Effect.gen(function*() {
      const clock = yield* Effect.clock
      const lines = [
        { level: "info" as const, message: "delivered", annotations: { messageId: "m1", node: "mine", absent: undefined } },
        { level: "warn" as const, message: "deferred: 451", annotations: { messageId: "m2" } }
      ]
      const batches: Array<LineLogger.Batch> = []
      const perLine: Array<string> = []
      const lineLogger = LineLogger.make(Logger.make(() => perLine.push("line logger's own log")), (batch) => void batches.push(batch))
      const other = Logger.make<unknown, void>(({ message }) => void perLine.push(String(message)))
      yield* logLines(lines, clock).pipe(
        Effect.annotateLogs({ node: "n1", region: "eu" }),
        Effect.withLogSpan("flush"),
        Effect.provide(Logger.replace(Logger.defaultLogger, lineLogger)),
        Effect.provide(Logger.add(other))
      )
      expect(batches).toHaveLength(1)
      expect(batches[0]!.lines).toEqual(lines)
      expect(Object.fromEntries(HashMap.toEntries(batches[0]!.annotations))).toEqual({ node: "n1", region: "eu" })
      expect(List.toArray(batches[0]!.spans).map((span) => span.label)).toEqual(["flush"])
      expect(perLine).toEqual(["delivered", "deferred: 451"])

      batches.length = 0
      yield* logLines(lines, clock).pipe(
        Logger.withMinimumLogLevel(LogLevel.Warning),
        Effect.provide(Logger.replace(Logger.defaultLogger, lineLogger))
      )
      expect(batches.map((batch) => batch.lines.map((line) => line.message))).toEqual([["deferred: 451"]])
      yield* logLines(lines, clock).pipe(
        Logger.withMinimumLogLevel(LogLevel.Error),
        Effect.provide(Logger.replace(Logger.defaultLogger, lineLogger))
      )
      expect(batches).toHaveLength(1)
    }))
})
