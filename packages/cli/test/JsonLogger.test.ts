import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, List, Logger, LogSpan } from "effect"
import { QueueError } from "@sluice/engine"
import { JsonLogger } from "../src/index.js"

/** Logs through the JSON logger into an array instead of stdout. */
const capture = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const lines: Array<Record<string, unknown>> = []
    const logger = Logger.make<unknown, void>((options) => void lines.push(JSON.parse(JsonLogger.format(options))))
    yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return lines
  })

describe("JsonLogger", () => {
  it.effect("puts the engine's annotations at the top level next to ts, level and msg", () =>
    Effect.gen(function*() {
      const [line] = yield* capture(
        Effect.logWarning("deferred: 451 try later").pipe(Effect.annotateLogs({
          messageId: "m1",
          upstream: "relay-a",
          attempt: 2,
          code: 451,
          enhanced: "4.3.0",
          durationMs: 12,
          absent: undefined
        }))
      )
      expect(Object.keys(line!).slice(0, 3)).toEqual(["ts", "level", "msg"])
      expect(line).toEqual({
        ts: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        level: "warn",
        msg: "deferred: 451 try later",
        messageId: "m1",
        upstream: "relay-a",
        attempt: 2,
        code: 451,
        enhanced: "4.3.0",
        durationMs: 12
      })
    }))

  it.effect("writes every kind of annotation value as JSON: quotes and line breaks escaped, bigints as strings, lists and objects whole, spans in ms", () =>
    Effect.gen(function*() {
      const [line] = yield* capture(
        Effect.logInfo("delivered").pipe(
          Effect.annotateLogs({
            text: "a \"quoted\"\nline",
            big: 12345678901234567890n,
            none: null,
            nan: Number.NaN,
            ok: true,
            recipients: [{ address: "a@example.net", code: 250, enhanced: undefined }],
            fn: () => 1
          }),
          Effect.withLogSpan("flush")
        )
      )
      expect(line).toEqual({
        ts: expect.any(String),
        level: "info",
        msg: "delivered",
        text: "a \"quoted\"\nline",
        big: "12345678901234567890",
        none: null,
        nan: null,
        ok: true,
        recipients: [{ address: "a@example.net", code: 250 }],
        flushMs: expect.any(Number)
      })
    }))

  it.effect("gives errors and causes an error field, and never lets an annotation replace msg", () =>
    Effect.gen(function*() {
      const lines = yield* capture(Effect.all([
        Effect.logError("queue take failed", new QueueError({ operation: "take", reason: "disk gone" })),
        Effect.logError("failed").pipe(Effect.annotateLogs({ msg: "not this" })),
        Effect.fail("boom").pipe(Effect.tapErrorCause((cause) => Effect.logFatal("stopped", cause)), Effect.ignore)
      ]))
      expect(lines[0]).toMatchObject({ level: "error", msg: "queue take failed", error: "QueueError: queue take: disk gone" })
      expect(lines[1]).toMatchObject({ msg: "failed" })
      expect(lines[2]).toMatchObject({ level: "fatal", msg: "stopped", error: expect.stringContaining("boom") })
    }))

  it.effect("writes the engine's batch of lines as it writes each line logged alone: one string, a line each", () =>
    Effect.gen(function*() {
      const lines = [
        { level: "info" as const, message: "delivered", annotations: { messageId: "m1", node: "mine", msg: "not this", recipients: [{ address: "a@example.net", code: 250 }] } },
        { level: "warn" as const, message: "upstream failed; failing over", annotations: { messageId: "m2", error: "timeout", region: undefined } }
      ]
      const around = <A>(effect: Effect.Effect<A>) =>
        effect.pipe(Effect.annotateLogs({ node: "n1", region: "eu" }), Effect.withLogSpan("flush"))
      const alone = yield* capture(around(Effect.forEach(lines, ({ annotations, level, message }) =>
        (level === "warn" ? Effect.logWarning(message) : Effect.logInfo(message)).pipe(Effect.annotateLogs(annotations)))))
      const now = Date.now()
      const written = JsonLogger.formatLines({
        date: new Date(now),
        annotations: HashMap.make(["node", "n1"], ["region", "eu"]),
        spans: List.make(LogSpan.make("flush", now - 3)),
        lines
      })
      expect(written.endsWith("}\n")).toBe(true)
      const parsed = written.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
      expect(parsed.map((line) => Object.keys(line).slice(0, 3))).toEqual([["ts", "level", "msg"], ["ts", "level", "msg"]])
      expect(parsed).toEqual(alone.map((line) => ({ ...line, ts: expect.any(String), flushMs: 3 })))
      expect(parsed[1]).toMatchObject({ level: "warn", node: "n1", error: "timeout" })
      expect(parsed[1]).not.toHaveProperty("region")
    }))
})
