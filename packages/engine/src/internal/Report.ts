import type { Scope } from "effect"
import { Duration, Effect, FiberRef, LogLevel, Metric, PubSub } from "effect"
import type { SmtpError } from "@sluice/smtp"
import { Counters } from "@sluice/smtp"
import * as Bounce from "../Bounce.js"
import type { Category } from "../Bounce.js"
import type { State } from "./CircuitBreaker.js"
import { stateCode } from "./CircuitBreaker.js"
import type * as Config from "../Config.js"
import type { DeliveryEvent } from "../DeliveryEvent.js"
import type { Settlement } from "../DeliveryQueue.js"
import * as EngineMetrics from "../EngineMetrics.js"
import type { Failure } from "../Inspection.js"
import type { QueuedMessage, RecipientStatus } from "../Message.js"
import * as Outcome from "./Outcome.js"
import * as Batcher from "./batcher.js"
import type { Line } from "./logLines.js"
import { logLines } from "./logLines.js"
import type { SuppressionsShape } from "../Suppressions.js"
import type { Job } from "./UpstreamActor.js"

/**
 * What the engine tells the world about deliveries: metrics, events, log lines, suppressions. Called
 * synchronously where things happen (per message); what must go through Effect (the event stream, the
 * logger, the suppression store) is gathered and done in batches by one fiber. Events are built only
 * while someone listens.
 */
export interface Reporter {
  readonly accepted: (id: string, stream: string, recipients: number, at: number) => void
  readonly attempt: (job: Job, upstream: string, at: number) => void
  readonly failover: (job: Job, upstream: string, error: SmtpError) => void
  readonly circuit: (upstream: string, state: State) => void
  /** `repliedAt`: when the final reply came (epoch ms): a delivery's duration ends there, not at its settlement. */
  readonly outcome: (message: QueuedMessage, settlement: Settlement, category: Category | undefined, reason: string, repliedAt: number) => void
  /** Publishes, logs and suppresses what has gathered (also done by the reporter's own fiber). */
  readonly flush: Effect.Effect<void>
  /** The last outcomes that were not a delivery, newest first (at most `recentFailures`). */
  readonly failures: () => ReadonlyArray<Failure>
}

const recentFailures = 50

// One plain counter per series for the whole process, made the first time the series is counted.
const counters = new Map<string, Counters.Counter>()
const count = (key: string, metric: () => Metric.Metric.Counter<number>) => {
  let counter = counters.get(key)
  if (counter === undefined) counters.set(key, counter = Counters.counter(metric()))
  counter.inc()
}

// Per stream, its recipients' counters by state: found without a key built per recipient.
const recipientCounters = new Map<string, Map<string, Counters.Counter>>()
const recipientCounter = (state: "delivered" | "deferred" | "bounced" | "failed", stream: string) => {
  let byState = recipientCounters.get(stream)
  if (byState === undefined) recipientCounters.set(stream, byState = new Map())
  let counter = byState.get(state)
  if (counter === undefined) byState.set(state, counter = Counters.counter(EngineMetrics.recipients(state, stream)))
  return counter
}

const noTags: ReadonlyArray<never> = []

/** A recipient as a log line shows it: flat fields a log store can index. */
const logged = (r: RecipientStatus) => ({
  address: r.address,
  status: r.status,
  code: r.reply?.code,
  enhanced: r.reply?.enhanced,
  category: r.category
})

export const make = (settings: {
  readonly config: Config.SluiceConfig
  readonly events: PubSub.PubSub<DeliveryEvent>
  /** True while a subscriber is listening to the events. */
  readonly listening: () => boolean
  readonly suppressions: SuppressionsShape | undefined
}): Effect.Effect<Reporter, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { config, events, listening, suppressions } = settings
    const clock = yield* Effect.clock
    // Lines below the level in force where the engine was built are not even put together.
    const minimum = yield* FiberRef.get(FiberRef.currentMinimumLogLevel)
    const logsInfo = LogLevel.greaterThanEqual(LogLevel.Info, minimum)
    const suppressFor = config.suppressions.expireAfter === undefined ? undefined : Duration.toMillis(config.suppressions.expireAfter)
    let published: Array<DeliveryEvent> = []
    let lines: Array<Line> = []
    let suppressed: Array<{ readonly address: string; readonly reason: string; readonly until: number | undefined }> = []
    let circuits: Array<{ readonly upstream: string; readonly state: State }> = []

    const publish = (event: DeliveryEvent) => {
      published.push(event)
      batcher.schedule()
    }
    const log = (line: Line) => {
      lines.push(line)
      batcher.schedule()
    }

    const failures: Array<Failure> = []
    const outcome: Reporter["outcome"] = (message, settlement, category, reason, repliedAt) => {
      const { attempts, lastReply: reply, recipients, status } = settlement
      const upstream = settlement.upstream!
      const stream = message.stream
      const now = clock.unsafeCurrentTimeMillis()
      const durationMs = repliedAt - message.submittedAt
      count(status, () => EngineMetrics.outcome[status])
      if (status !== "delivered") {
        failures.push({ id: message.id, status, at: now, upstream, stream, attempt: attempts, reply, reason, recipients })
        if (failures.length > recentFailures) failures.shift()
      }
      // Straight into the histogram: an Effect per message would cost more than the update.
      if (status !== "deferred") EngineMetrics.deliveryDuration.unsafeUpdate(durationMs / 1000, noTags)
      for (let i = 0; i < recipients.length; i++) {
        if (!Outcome.changed(message.recipients, recipients, i)) continue
        const r = recipients[i]!
        const state = r.status as "delivered" | "deferred" | "bounced" | "failed"
        recipientCounter(state, stream).inc()
        if ((r.status === "bounced" || r.status === "deferred") && r.category !== undefined) {
          const kind = r.status === "bounced" ? "bounce" : "deferral"
          count(`b/${r.category}/${upstream}/${kind}`, () => EngineMetrics.bounces(r.category!, upstream, kind))
        }
        if (r.status === "bounced" && r.category !== undefined && suppressions !== undefined && Bounce.suppresses(r.category)) {
          suppressed.push({ address: r.address, reason: Bounce.suppressionReason(r), until: suppressFor === undefined ? undefined : now + suppressFor })
          batcher.schedule()
        }
      }
      if (listening()) {
        // Each event written out in full: a spread of a shared base costs an object more per message.
        const id = message.id
        switch (status) {
          case "delivered":
          case "bounced":
          case "partial": {
            const _tag = status === "delivered" ? "Delivered" : status === "bounced" ? "Bounced" : "Partial"
            publish({ _tag, id, at: now, upstream, stream, attempt: attempts, reply, category, recipients, durationMs })
            break
          }
          case "failed":
            publish({ _tag: "Failed", id, at: now, upstream, stream, attempt: attempts, reply, category, recipients, reason, durationMs })
            break
          case "deferred":
            publish({
              _tag: "Deferred",
              id,
              at: now,
              upstream,
              stream,
              attempt: attempts,
              reply,
              category,
              recipients,
              retryAt: settlement.retryAt!,
              reason
            })
            break
        }
      }
      if (status !== "failed" && !logsInfo) return
      log({
        level: status === "failed" ? "warn" : "info",
        message: status === "failed" || status === "deferred" ? `${status}: ${reason}` : status,
        annotations: {
          messageId: message.id,
          upstream,
          stream,
          attempt: attempts,
          code: reply?.code,
          enhanced: reply?.enhanced,
          category,
          durationMs,
          recipients: recipients.map(logged)
        }
      })
    }

    const flush = Effect.suspend(() => {
      const batch = { published, lines, suppressed, circuits }
      if (published.length + lines.length + suppressed.length + circuits.length === 0) return Effect.void
      published = []
      lines = []
      suppressed = []
      circuits = []
      return Effect.all([
        batch.published.length === 0 ? Effect.void : PubSub.publishAll(events, batch.published),
        Effect.forEach(batch.circuits, ({ state, upstream }) =>
          Metric.set(EngineMetrics.forUpstream(upstream).circuitState, stateCode(state)), { discard: true }),
        logLines(batch.lines, clock),
        suppressions === undefined
          ? Effect.void
          : Effect.forEach(batch.suppressed, ({ address, reason, until }) => suppressions.add(address, reason, until), { discard: true })
      ], { discard: true })
    })

    const batcher = yield* Batcher.make(
      flush.pipe(Effect.catchAllCause((cause) => Effect.logError("reporting failed", cause))),
      () => published.length + lines.length + suppressed.length + circuits.length > 0
    )
    // What gathered during the last moments (a drain) is reported before the scope ends.
    yield* Effect.addFinalizer(() => flush)

    return {
      accepted: (id, stream, recipients, at) => {
        count("accepted", () => EngineMetrics.outcome.accepted)
        if (listening()) publish({ _tag: "Accepted", id, at, stream, recipients })
      },
      attempt: (job, upstream, at) => {
        if (listening()) publish({ _tag: "Attempt", id: job.message.id, at, upstream, attempt: job.message.attempts + 1 })
      },
      failover: (job, upstream, error) => {
        if (listening()) {
          const at = clock.unsafeCurrentTimeMillis()
          publish({ _tag: "Failover", id: job.message.id, at, upstream, attempt: job.message.attempts + 1, reason: error.message })
        }
        log({ level: "warn", message: "upstream failed; failing over", annotations: { messageId: job.message.id, upstream, error: error.message } })
      },
      circuit: (upstream, state) => {
        circuits.push({ upstream, state })
        batcher.schedule()
        if (listening()) publish({ _tag: "CircuitChanged", upstream, state, at: clock.unsafeCurrentTimeMillis() })
        log({ level: "info", message: `circuit ${state}`, annotations: { upstream } })
      },
      outcome,
      failures: () => failures.slice().reverse(),
      flush
    }
  })
