import { Balancer } from "./Balancer.js"
import { Deque } from "./deque.js"

/** What the router needs to know of an upstream actor. */
export interface Target {
  readonly name: string
  readonly role: "active" | "standby"
  readonly weight: number
  /** What it cannot take right now goes to the others (config `spill`), instead of waiting for it. */
  readonly spill: boolean
  /** How many more jobs it takes now. */
  readonly room: number
}

export interface Assignment<J, T extends Target = Target> {
  readonly target: T
  readonly job: J
}

/** Why a job could not be routed. */
export type Unroutable =
  /** Every upstream that can take mail already failed this job during its lease. */
  | "excluded"
  /** No upstream can take mail at all (every circuit open). */
  | "unavailable"

/** Which upstreams' circuits let mail through now, and which are half-open with their probe out. */
export interface Circuits {
  readonly available: Set<string>
  readonly probing: Set<string>
}

/** What routing needs to know of a job. */
export interface Routable {
  /** Upstreams that already failed it during its lease: routing skips them. */
  readonly excluded: ReadonlySet<string> | undefined
  /** The upstream that deferred its last attempt: another is chosen when one can take it. */
  readonly avoid: string | undefined
}

const none: ReadonlyArray<never> = []

/**
 * Chooses the upstream of each job: smooth weighted round-robin among the active upstreams whose
 * circuit lets mail through, or among the standbys while no active one does.
 *
 * Weights hold at every load (CONTRACT.md): an upstream that is busy when its turn comes gets the job
 * in its own line, and the job waits there for it. Handing it to whoever has a free connection instead
 * would make the shares follow capacity (2:3 became 49:51 under a backlog). Only an open circuit moves
 * a share (the line is evicted and re-routed), or `spill` on that upstream: then a turn that finds it
 * full is skipped, like undici's BalancedPool skips a pool that needs to drain.
 *
 * Synchronous and owned by the scheduler's dispatch fiber, which passes in which circuits are
 * available on each round.
 */
export class Router<J extends Routable, T extends Target = Target> {
  private readonly actives: Balancer
  private readonly standbys: Balancer
  private readonly byName: ReadonlyMap<string, T>
  private readonly lines = new Map<string, Deque<J>>()
  private waiting = 0

  /** `capacity`: jobs the lines may hold in all (as many as the upstreams have connections). */
  constructor(private readonly targets: ReadonlyArray<T>, readonly capacity: number) {
    this.byName = new Map(targets.map((t) => [t.name, t]))
    this.actives = new Balancer(targets.filter((t) => t.role === "active").map((t) => ({ name: t.name, weight: t.weight })))
    // Standbys have no share to keep among the actives; among themselves, weight 0 still means "use me".
    this.standbys = new Balancer(
      targets.filter((t) => t.role === "standby").map((t) => ({ name: t.name, weight: Math.max(1, t.weight) }))
    )
    for (const target of targets) this.lines.set(target.name, new Deque())
  }

  /** Jobs waiting in lines. */
  get queued(): number {
    return this.waiting
  }

  get isFull(): boolean {
    return this.waiting >= this.capacity
  }

  /**
   * The actives while any of them can take mail or is being probed (its circuit half-open): a probe
   * settles in one transaction, and handing traffic to a standby meanwhile would not give it back.
   */
  private tier(circuits: Circuits): "active" | "standby" {
    return this.targets.some((t) =>
        t.role === "active" && t.weight > 0 && (circuits.available.has(t.name) || circuits.probing.has(t.name))
      )
      ? "active"
      : "standby"
  }

  private busy(target: T): boolean {
    return target.room <= 0 || this.lines.get(target.name)!.length > 0
  }

  /** Routes a new job: straight to an upstream with room, into a busy upstream's line, or nowhere. */
  route(job: J, circuits: Circuits): Assignment<J, T> | "queued" | Unroutable {
    const tier = this.tier(circuits)
    const excluded = job.excluded
    let candidates = 0
    let allExcluded = true
    let elsewhere = false
    for (const target of this.targets) {
      if (target.role !== tier || !circuits.available.has(target.name)) continue
      candidates++
      if (excluded?.has(target.name) === true) continue
      allExcluded = false
      if (target.name !== job.avoid) elsewhere = true
    }
    if (candidates === 0) return "unavailable"
    if (allExcluded) return "excluded"
    const balancer = tier === "active" ? this.actives : this.standbys
    this.circuits = circuits
    this.excluded = excluded
    this.avoid = elsewhere ? job.avoid : undefined
    // A spilling upstream that is busy sits this turn out; if every candidate is one, the turn goes on
    // as usual and the job waits in a line after all.
    const name = balancer.pick(this.openAndNotSpilling) ?? balancer.pick(this.open)
    if (name === undefined) return "excluded"
    const target = this.byName.get(name)!
    if (!this.busy(target)) return { target, job }
    this.lines.get(name)!.push(job)
    this.waiting++
    return "queued"
  }

  // The balancer's eligibility tests for the job being routed, made once rather than per route.
  private circuits: Circuits | undefined
  private excluded: ReadonlySet<string> | undefined
  private avoid: string | undefined
  private readonly open = (name: string): boolean =>
    this.circuits!.available.has(name) && this.excluded?.has(name) !== true && name !== this.avoid
  private readonly openAndNotSpilling = (name: string): boolean => {
    if (!this.open(name)) return false
    const target = this.byName.get(name)!
    return !(target.spill && this.busy(target))
  }

  /**
   * Jobs the lines can hand out now: each available upstream with room takes from its own line, in
   * order. `room` is counted down as jobs are handed out, since the targets' own counters move only
   * when the offers run.
   */
  release(circuits: Circuits): ReadonlyArray<Assignment<J, T>> {
    if (this.waiting === 0) return none
    const assignments: Array<Assignment<J, T>> = []
    for (const target of this.targets) {
      if (!circuits.available.has(target.name)) continue
      const line = this.lines.get(target.name)!
      for (let room = target.room; room > 0 && line.length > 0; room--) assignments.push({ target, job: this.take(line) })
    }
    return assignments
  }

  /** Empties the lines of upstreams that can no longer take mail, for the jobs to be routed again. */
  evict(circuits: Circuits): ReadonlyArray<J> {
    // Nothing waits in most rounds: no array for them.
    if (this.waiting === 0) return none
    const evicted: Array<J> = []
    for (const [name, line] of this.lines) {
      if (circuits.available.has(name)) continue
      while (line.length > 0) evicted.push(this.take(line))
    }
    return evicted
  }

  /** Every waiting job, for a drain. */
  clear(): ReadonlyArray<J> {
    return this.evict({ available: new Set(), probing: new Set() })
  }

  private take(line: Deque<J>): J {
    this.waiting--
    return line.shift()!
  }
}
