import { Chunk, Clock, Duration, Effect, Schedule } from "effect"

export interface Policy {
  /** Delivery attempts in all, the first one included. */
  readonly maxAttempts: number
  readonly initialDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  /** A message whose next try would fall past submittedAt + maxAge is given up on. */
  readonly maxAge: Duration.Duration
}

export const defaults: Policy = {
  maxAttempts: 8,
  initialDelay: Duration.seconds(30),
  maxDelay: Duration.hours(1),
  maxAge: Duration.days(3)
}

/** Schedule.jittered's own bounds, spelled out because stepsToCap depends on the lower one. */
const jitter = { min: 0.8, max: 1.2 } as const

/**
 * Built from Effect's Schedule: exponential(initialDelay, 2) jittered (× 0.8–1.2), each delay capped
 * at maxDelay. The output is the delay itself, jitter and cap included, not exponential's nominal one.
 *
 * The cap applies after the jitter so maxDelay is a hard ceiling; at the cap retries lose their jitter,
 * but by then the jitter of the earlier delays has already spread a burst of deferrals apart. Delays
 * are whole milliseconds so due times stay integers in the stores.
 */
export const schedule = (policy: Policy): Schedule.Schedule<Duration.Duration> =>
  Schedule.exponential(policy.initialDelay, 2).pipe(
    Schedule.jitteredWith(jitter),
    Schedule.modifyDelay((_, delay) =>
      Duration.millis(Math.round(Duration.toMillis(Duration.min(delay, policy.maxDelay))))
    ),
    Schedule.delays
  )

/**
 * From this step on even the lowest jitter reaches maxDelay, so every delay is maxDelay: running
 * further would only cost steps, and past ~1,000 steps 2^n overflows.
 */
const stepsToCap = (policy: Policy): number => {
  const initial = Duration.toMillis(policy.initialDelay)
  if (initial <= 0) return 1
  return Math.max(1, Math.ceil(Math.log2(Duration.toMillis(policy.maxDelay) / (initial * jitter.min))) + 1)
}

/**
 * The delay before attempt `attempt + 1`, after `attempt` attempts so far (attempt >= 1; less counts
 * as 1). Deferred messages are persisted with a due time rather than waited for in a fiber, so instead
 * of driving `schedule` we run its first `attempt` steps from the Clock's now and keep the last delay;
 * the jitter comes from Effect's Random service, which tests replace.
 */
export const delayAfter = (policy: Policy, attempt: number): Effect.Effect<Duration.Duration> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.map(
      Schedule.run(
        schedule(policy),
        now,
        Array.from({ length: Math.min(Math.max(1, Math.floor(attempt)), stepsToCap(policy)) }, () => undefined)
      ),
      (delays) => Chunk.unsafeLast(delays)
    ))

export type Decision =
  | { readonly _tag: "RetryAt"; readonly at: number /* epoch ms */ }
  | { readonly _tag: "GiveUp"; readonly reason: "attempts" | "age" }

/**
 * After a deferral: retry at now + delay, or give up when attempts >= maxAttempts, or when the next
 * try would be past submittedAt + maxAge (a retry due later than that would only deliver mail the
 * sender has stopped expecting).
 */
export const decide = (policy: Policy, attempts: number, submittedAt: number): Effect.Effect<Decision> =>
  Effect.gen(function*() {
    if (attempts >= policy.maxAttempts) return { _tag: "GiveUp", reason: "attempts" } as const
    const now = yield* Clock.currentTimeMillis
    const at = now + Duration.toMillis(yield* delayAfter(policy, attempts))
    if (at > submittedAt + Duration.toMillis(policy.maxAge)) return { _tag: "GiveUp", reason: "age" } as const
    return { _tag: "RetryAt", at } as const
  })
