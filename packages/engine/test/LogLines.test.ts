import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, List, Logger, LogLevel } from "effect"
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
})
