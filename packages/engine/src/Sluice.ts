import type { Duration, Queue, Scope } from "effect"
import { Clock, Context, Effect, Either, Layer, Metric, Option, PubSub, Schedule, Stream } from "effect"
import * as Bounce from "./Bounce.js"
import type { SluiceConfig } from "./Config.js"
import { upstreamName } from "./Config.js"
import type { DeliveryEvent } from "./DeliveryEvent.js"
import type { QueueAction, QueueActionUnsupported, QueueError, QueueFull } from "./DeliveryQueue.js"
import { DeliveryQueue } from "./DeliveryQueue.js"
import * as EngineMetrics from "./EngineMetrics.js"
import * as Feedback from "./Feedback.js"
import * as Inspection from "./Inspection.js"
import { IdempotencyConflict } from "./Idempotency.js"
import type { MessageRecord, NewMessage } from "./Message.js"
import { isFinal, messageId } from "./Message.js"
import * as Report from "./internal/Report.js"
import * as Scheduler from "./internal/Scheduler.js"
import { Recipients } from "./Recipients.js"
import type { Refusal, SubmitMessage } from "./Submission.js"
import { prepareEach, resolveEach } from "./Submission.js"
import { Suppressions } from "./Suppressions.js"
import type { SuspensionsShape } from "./Suspensions.js"
import { Suspensions } from "./Suspensions.js"
import { Templates } from "./Templates.js"

export interface Submitted {
  readonly id: string
  readonly status: "queued"
  /** The idempotency key was seen before; `id` is the first message's. */
  readonly duplicate: boolean
}

export type SubmitError = Refusal | IdempotencyConflict | QueueFull | QueueError

export interface SluiceShape {
  /**
   * Renders one message's template (with the Templates service), checks its recipients (with the
   * Recipients service), composes it and durably queues it. The message is decoded with
   * `SubmitMessage` already, at the caller's edge (`decodeMessage`): it is trusted, not decoded again.
   */
  readonly submit: (message: SubmitMessage) => Effect.Effect<Submitted, SubmitError>
  /**
   * The same for many: each judged alone, the recipients of all looked up at once, the valid ones
   * queued together (one commit).
   */
  readonly submitBatch: (
    messages: ReadonlyArray<SubmitMessage>
  ) => Effect.Effect<ReadonlyArray<Either.Either<Submitted, SubmitError>>, QueueFull | QueueError>
  readonly status: (id: string) => Effect.Effect<Option.Option<MessageRecord>, QueueError>
  /** The configured streams and upstreams by name, which filters and suspensions name. */
  readonly targets: { readonly streams: ReadonlyArray<string>; readonly upstreams: ReadonlyArray<string> }
  /** The last outcomes that were not a delivery (deferred, bounced, partial, failed), newest first. */
  readonly failures: () => ReadonlyArray<Inspection.Failure>
  /** Counts of what is queued, by status, stream, upstream and recipient domain; the oldest; the next retry. */
  readonly inspect: Effect.Effect<Inspection.Summary, QueueError>
  /**
   * An operator's action on every queued message matching `filter` (retry now, bounce, delete); with
   * `dryRun`, only how many it would touch.
   */
  readonly act: (
    filter: Inspection.Filter,
    action: QueueAction,
    options?: { readonly dryRun?: boolean | undefined }
  ) => Effect.Effect<Inspection.Acted, QueueError | QueueActionUnsupported>
  /** Queued messages matching `filter`, page by page (`page.cursor` from the page before). */
  readonly list: (
    filter: Inspection.Filter,
    page: { readonly cursor?: string | undefined; readonly limit: number }
  ) => Effect.Effect<Inspection.Page, QueueError>
  /** Every delivery event from the moment the stream is run. */
  readonly events: Stream.Stream<DeliveryEvent>
  /** A subscription taken now: every event from this moment, until the scope closes. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<DeliveryEvent>, never, Scope.Scope>
  /** The queue is open and at least one upstream can take mail. */
  readonly ready: Effect.Effect<boolean>
  /**
   * SMTP transactions on the wire now: written to an upstream connection, not yet answered (a message
   * waiting for a connection or a rate limit is not among them).
   */
  readonly onWire: () => number
  /** Applies a raw delivery status notification (RFC 3464) or abuse report (RFC 5965) to the message it is about. */
  readonly feedback: (raw: Uint8Array) => Effect.Effect<Feedback.FeedbackResult, Feedback.InvalidReport | QueueError>
  /** Records a complaint against message `id` by `address` (else its only recipient); none when there is no such message. */
  readonly complain: (id: string, address?: string) => Effect.Effect<Option.Option<Feedback.ComplaintResult>, QueueError>
}

export interface Options {
  /** How long shutdown waits for in-flight deliveries before handing them back to the queue. */
  readonly drainTimeout?: Duration.DurationInput
}

const make = (config: SluiceConfig, options: Options): Effect.Effect<SluiceShape, never, DeliveryQueue | Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* DeliveryQueue
    const clock = yield* Effect.clock
    // Sliding: a subscriber that falls far behind loses the oldest events instead of slowing delivery.
    const events = yield* PubSub.sliding<DeliveryEvent>(65_536)
    // Last to close: subscribers see every event of the drain, then their streams end.
    yield* Effect.addFinalizer(() => PubSub.shutdown(events))
    // Events are built only while someone listens: a subscription counts itself in and out.
    let listeners = 0
    const subscribe = Effect.acquireRelease(Effect.sync(() => listeners++), () => Effect.sync(() => listeners--)).pipe(
      Effect.zipRight(PubSub.subscribe(events))
    )
    const classify = Bounce.make(config.bounces.rules)
    // Both optional: without them a template is refused and recipients are checked for syntax only.
    const templates = Option.getOrUndefined(yield* Effect.serviceOption(Templates))
    const recipients = Option.getOrUndefined(yield* Effect.serviceOption(Recipients))
    const suppressions = config.suppressions.auto ? Option.getOrUndefined(yield* Effect.serviceOption(Suppressions)) : undefined
    const reporter = yield* Report.make({ config, events, listening: () => listeners > 0, suppressions })
    const suspensions = Option.getOrUndefined(yield* Effect.serviceOption(Suspensions))
    const scheduler = yield* Scheduler.make({ config, queue, classify, reporter, suspensions })
    const feedback = Feedback.make({
      queue,
      classify,
      suppressions: Option.fromNullable(suppressions),
      config: config.suppressions,
      publish: (event) => Effect.asVoid(PubSub.publish(events, event))
    })
    yield* Effect.addFinalizer(() =>
      Effect.logInfo("draining").pipe(Effect.zipRight(scheduler.drain(options.drainTimeout ?? "30 seconds")))
    )
    yield* queue.depth.pipe(
      Effect.flatMap((depth) => Metric.set(EngineMetrics.queueDepth, depth)),
      Effect.repeat(Schedule.spaced("1 second")),
      Effect.forkScoped
    )
    const oldest = Inspection.oldestReader(queue)
    yield* oldest.pipe(
      Effect.flatMap((at) => Effect.map(Clock.currentTimeMillis, (now) => at === undefined ? 0 : Math.max(0, now - at) / 1000)),
      Effect.flatMap((age) => Metric.set(EngineMetrics.queueOldestAge, age)),
      Effect.catchAll((error) => Effect.logWarning("reading the oldest queued message failed", error)),
      // A summary where the queue has no order: each one reads it all, so less often.
      Effect.repeat(Schedule.spaced(queue.scanOrder === "id" ? "5 seconds" : "1 minute")),
      Effect.forkScoped
    )

    /** A record as the outside sees it: the queue knows the last settled state, the scheduler what is on the wire. */
    const present = (record: MessageRecord): MessageRecord => {
      if (isFinal(record.status)) return record
      const upstream = scheduler.delivering.get(record.id)
      if (upstream !== undefined) return { ...record, status: "delivering" as const, upstream }
      const suspended = suspensions === undefined ? undefined : waitingOn(suspensions, record, clock.unsafeCurrentTimeMillis())
      return suspended === undefined ? record : { ...record, suspended }
    }

    const streams = new Set(Object.keys(config.streams))
    const defaultStream = streams.has("default") ? "default" : Object.keys(config.streams)[0]!

    /** The prepared messages queued together (one commit); a refused one keeps its error in its place. */
    const enqueuePrepared = (prepared: ReadonlyArray<Either.Either<NewMessage, Refusal>>) =>
      Effect.gen(function*() {
        const valid = prepared.flatMap((p) => Either.isRight(p) ? [p.right] : [])
        const enqueued = valid.length === 0 ? [] : yield* queue.enqueue(valid)
        const now = clock.unsafeCurrentTimeMillis()
        let next = 0
        return prepared.map((p): Either.Either<Submitted, SubmitError> => {
          if (Either.isLeft(p)) return Either.left(p.left)
          const result = enqueued[next++]!
          if (result.conflict === true) {
            return Either.left(new IdempotencyConflict({ idempotencyKey: p.right.idempotencyKey!, firstId: result.id }))
          }
          if (!result.duplicate) reporter.accepted(result.id, p.right.stream, p.right.to.length, now)
          return Either.right({ id: result.id, status: "queued", duplicate: result.duplicate })
        })
      })

    const prepare = (messages: ReadonlyArray<Either.Either<SubmitMessage, Refusal>>) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => prepareEach(messages, streams, defaultStream, () => messageId(now))),
        Effect.flatMap(enqueuePrepared)
      )

    // render → check → compose → enqueue. Plain messages on an engine without recipient checks (the
    // measured hot path) go straight to composing: no Effect per message.
    const submitBatch: SluiceShape["submitBatch"] = (messages) =>
      recipients === undefined && !messages.some((m) => m.template !== undefined)
        ? prepare(messages.map((m) => Either.right(m)))
        : Effect.flatMap(resolveEach(messages, templates, recipients), prepare)

    return {
      submit: (message) => submitBatch([message]).pipe(Effect.flatMap(([result]) => result!)),
      submitBatch,
      status: (id) => queue.status(id).pipe(Effect.map(Option.map(present))),
      targets: { streams: Object.keys(config.streams), upstreams: config.upstreams.map(upstreamName) },
      failures: reporter.failures,
      inspect: Inspection.summarize(queue, present),
      act: (filter, action, options = {}) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Inspection.act(queue, present, scheduler.giveBack, filter, action, { dryRun: options.dryRun === true, now })),
      list: (filter, page) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => Inspection.list(queue, present, filter, page.cursor, page.limit, now)),
      events: Stream.unwrapScoped(Effect.map(subscribe, (subscription) => Stream.fromQueue(subscription))),
      subscribe,
      ready: Effect.map(queue.isOpen, (open) => open && scheduler.canDeliver()),
      onWire: scheduler.onWire,
      feedback: feedback.apply,
      complain: feedback.complain
    }
  })

/** The suspension a message that is not final waits on: its stream's, else a waiting recipient's domain's. */
const waitingOn = (suspensions: SuspensionsShape, record: MessageRecord, now: number) => {
  const stream = suspensions.holding("stream", record.stream, now)
  if (stream !== undefined) return stream
  for (const domain of Inspection.waitingDomains(record)) {
    const held = suspensions.holding("domain", domain, now)
    if (held !== undefined) return held
  }
  return undefined
}

/** The engine as an Effect service. Closing the layer's scope drains it gracefully. */
export class Sluice extends Context.Tag("@sluice/engine/Sluice")<Sluice, SluiceShape>() {
  static readonly layer = (config: SluiceConfig, options: Options = {}): Layer.Layer<Sluice, never, DeliveryQueue> =>
    Layer.scoped(Sluice, make(config, options))
}
