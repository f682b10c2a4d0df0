import { describe, expect, it } from "@effect/vitest"
import { Counters, SmtpMetrics } from "@sluice/smtp"
import { Effect, Metric } from "effect"

describe("Counters", () => {
  it.effect("counts in a plain number and moves it into the metric at flush, once", () =>
    Effect.gen(function*() {
      const metric = Metric.counter("sluice_test_counter_total", { incremental: true }).pipe(Metric.tagged("test", `${process.pid}-a`))
      const counter = Counters.counter(metric)
      counter.inc()
      counter.inc(4)
      expect((yield* Metric.value(metric)).count).toBe(0)
      yield* Counters.flush
      expect((yield* Metric.value(metric)).count).toBe(5)
      yield* Counters.flush
      expect((yield* Metric.value(metric)).count).toBe(5)
      counter.inc()
      yield* Counters.flush
      expect((yield* Metric.value(metric)).count).toBe(6)
    }))

  it.effect("an upstream's reply counters: each class, and other for codes that are no reply", () =>
    Effect.gen(function*() {
      const upstream = `counters-${process.pid}`
      const metrics = SmtpMetrics.forUpstream(upstream)
      expect(SmtpMetrics.forUpstream(upstream)).toBe(metrics)
      for (const code of [220, 250, 354, 421, 554, 0, 600, 199, Number.NaN]) metrics.countReply(code)
      yield* Counters.flush
      const count = (cls: string) =>
        Metric.value(SmtpMetrics.replies.pipe(Metric.tagged("upstream", upstream), Metric.tagged("class", cls))).pipe(
          Effect.map((state) => state.count)
        )
      expect(yield* Effect.all([count("2xx"), count("3xx"), count("4xx"), count("5xx"), count("other")])).toEqual([2, 1, 1, 1, 4])
    }))
})
