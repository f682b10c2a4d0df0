/**
 * Suspensions: an operator's "hold this" on a stream, an upstream or a recipient domain, for a while
 * or until lifted. Suspended work stays queued — it is neither attempted nor failed — and moves again
 * when the suspension ends. They live in a KeyValueStore (beside the spool, or Redis for a cluster:
 * every node reads the list again each second), so they survive restarts and apply everywhere.
 */
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { randomUUID } from "node:crypto"
import type { Scope } from "effect"
import { Context, Data, Duration, Effect, Layer, Metric, Option, Schedule, Schema } from "effect"
import * as Config from "./Config.js"
import { Signal } from "./Signal.js"

export const scopes = ["stream", "upstream", "domain"] as const
export type SuspensionScope = typeof scopes[number]

export const Suspension = Schema.Struct({
  id: Schema.String,
  scope: Schema.Literal(...scopes),
  /** The stream's or upstream's name, or the domain (lower case). */
  target: Schema.String,
  reason: Schema.optional(Schema.String),
  /** Epoch ms. */
  createdAt: Schema.Number,
  /** When it ends by itself (epoch ms); absent: when it is lifted. */
  until: Schema.optional(Schema.Number)
}).annotations({ identifier: "Suspension" })
export type Suspension = typeof Suspension.Type

export interface NewSuspension {
  readonly scope: SuspensionScope
  readonly target: string
  readonly reason?: string | undefined
  /** How long it lasts; without it, until lifted. */
  readonly duration?: Duration.Duration | undefined
}

/** A suspension that cannot be made as asked: `field` names what is wrong. */
export class InvalidSuspension extends Data.TaggedError("InvalidSuspension")<{
  readonly field: string
  readonly reason: string
}> {
  override get message() {
    return `${this.field}: ${this.reason}`
  }
}

export interface SuspensionsShape {
  readonly add: (input: NewSuspension) => Effect.Effect<Suspension, InvalidSuspension>
  /** False when there is no active suspension with this id. */
  readonly remove: (id: string) => Effect.Effect<boolean>
  /** The active ones, oldest first. */
  readonly list: Effect.Effect<ReadonlyArray<Suspension>>
  /** The active suspension holding `target` of `scope` at `now`, if any: synchronous, for the scheduler. */
  readonly holding: (scope: SuspensionScope, target: string, now: number) => Suspension | undefined
  /** Notified whenever the active set changes: added, lifted, ended, or changed by another node. */
  readonly changed: Signal
}

export class Suspensions extends Context.Tag("@sluice/engine/Suspensions")<Suspensions, SuspensionsShape>() {}

/** Active suspensions by scope, for Prometheus. */
export const active = Metric.gauge("sluice_suspensions", { description: "Active suspensions (stream, upstream, domain)" })

const key = "suspensions"
const Stored = Schema.parseJson(Schema.Array(Suspension))

/** What the layer checks a target against: the configured streams and upstreams. */
export interface Targets {
  readonly streams: Readonly<Record<string, unknown>>
  readonly upstreams: ReadonlyArray<Pick<Config.Upstream, "name" | "host" | "port">>
}

const normalize = (scope: SuspensionScope, target: string) => scope === "domain" ? target.trim().toLowerCase() : target

const check = (targets: Targets, input: NewSuspension): Effect.Effect<void, InvalidSuspension> => {
  const fail = (field: string, reason: string) => Effect.fail(new InvalidSuspension({ field, reason }))
  if (!(scopes as ReadonlyArray<string>).includes(input.scope)) return fail("scope", `"${input.scope}" is not one of ${scopes.join(", ")}`)
  if (input.target.trim() === "") return fail("target", "is empty")
  if (input.scope === "stream" && !Object.hasOwn(targets.streams, input.target)) {
    return fail("target", `"${input.target}" is not a configured stream (${Object.keys(targets.streams).join(", ")})`)
  }
  const upstreams = targets.upstreams.map(Config.upstreamName)
  if (input.scope === "upstream" && !upstreams.includes(input.target)) {
    return fail("target", `"${input.target}" is not a configured upstream (${upstreams.join(", ")})`)
  }
  if (input.scope === "domain" && !/^[a-z0-9.-]+\.[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/i.test(input.target.trim())) {
    return fail("target", `"${input.target}" is not a domain`)
  }
  if (input.duration !== undefined && !(Duration.toMillis(input.duration) > 0)) return fail("duration", "must be more than zero")
  return Effect.void
}

const make = (targets: Targets): Effect.Effect<SuspensionsShape, never, KeyValueStore.KeyValueStore | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* KeyValueStore.KeyValueStore
    const clock = yield* Effect.clock
    const changed = new Signal()
    let all: ReadonlyArray<Suspension> = []
    let stored: string | undefined
    let activeIds = ""

    const current = (now: number) => all.filter((s) => s.until === undefined || s.until > now)
    // Wakes the scheduler when the active set differs from what it last saw (an end included).
    const look = Effect.gen(function*() {
      const now = clock.unsafeCurrentTimeMillis()
      const ids = current(now).map((s) => s.id).join(",")
      if (ids === activeIds) return
      activeIds = ids
      for (const scope of scopes) {
        yield* Metric.set(active.pipe(Metric.tagged("scope", scope)), current(now).filter((s) => s.scope === scope).length)
      }
      changed.notify()
    })
    // A store that cannot be read keeps the list as it was: the suspensions stay in force.
    const load = store.get(key).pipe(
      Effect.flatMap((text) => {
        const value = Option.getOrUndefined(text)
        if (value === stored) return Effect.void
        return Schema.decode(Stored)(value ?? "[]").pipe(Effect.map((list) => {
          all = list
          stored = value
        }))
      }),
      Effect.catchAll((error) => Effect.logWarning("reading the suspensions failed; keeping the last list", error)),
      Effect.zipRight(look)
    )
    const save = (list: ReadonlyArray<Suspension>) =>
      Effect.gen(function*() {
        const text = yield* Schema.encode(Stored)(list).pipe(Effect.orDie)
        yield* store.set(key, text).pipe(Effect.orDie)
        all = list
        stored = text
        yield* look
      })
    // One change at a time: read, change, write, so two at once do not lose one.
    const lock = yield* Effect.makeSemaphore(1)

    yield* load
    yield* load.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)

    return {
      add: (input) =>
        check(targets, input).pipe(
          Effect.zipRight(lock.withPermits(1)(Effect.gen(function*() {
            yield* load
            const now = clock.unsafeCurrentTimeMillis()
            const suspension: Suspension = {
              id: randomUUID(),
              scope: input.scope,
              target: normalize(input.scope, input.target),
              createdAt: now,
              ...(input.reason === undefined ? {} : { reason: input.reason }),
              ...(input.duration === undefined ? {} : { until: now + Duration.toMillis(input.duration) })
            }
            yield* save([...current(now), suspension])
            return suspension
          })))
        ),
      remove: (id) =>
        lock.withPermits(1)(Effect.gen(function*() {
          yield* load
          const now = clock.unsafeCurrentTimeMillis()
          const before = current(now)
          if (!before.some((s) => s.id === id)) return false
          yield* save(before.filter((s) => s.id !== id))
          return true
        })),
      list: Effect.sync(() => current(clock.unsafeCurrentTimeMillis())),
      holding: (scope, target, now) => {
        for (const s of all) {
          if (s.scope === scope && s.target === target && (s.until === undefined || s.until > now)) return s
        }
        return undefined
      },
      changed
    }
  })

/** Suspensions kept in the KeyValueStore of the context, checked against the configured streams and upstreams. */
export const layer = (targets: Targets): Layer.Layer<Suspensions, never, KeyValueStore.KeyValueStore> =>
  Layer.scoped(Suspensions, make(targets))

/** Suspensions in this process only (nothing survives a restart): for tests and throw-away runs. */
export const layerMemory = (targets: Targets): Layer.Layer<Suspensions> =>
  layer(targets).pipe(Layer.provide(KeyValueStore.layerMemory))
