import { Balancer } from "./Balancer.js"
import { Deque } from "./internal/deque.js"
import type { Job, UpstreamActor } from "./UpstreamActor.js"

export interface Assignment {
  readonly actor: UpstreamActor
  readonly job: Job
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

interface Waiting {
  readonly job: Job
  readonly since: number
}

/**
 * Chooses the upstream of each job: smooth weighted round-robin among the active upstreams whose
 * circuit lets mail through, or among the standbys while no active one does.
 *
 * An upstream that is busy when its turn comes gets the job in its own short line rather than losing
 * the turn, so equally fast upstreams keep their weights even when saturated (skipping the busy one
 * would hand the work to whoever frees a slot first: 50/50 instead of 40/60). A line never holds a
 * job hostage, though: an upstream with nothing to do takes a waiting job once it has waited longer
 * than twice that upstream's own typical transaction time. A slow upstream's jobs therefore go to the
 * fast ones, and a slow upstream never stalls a fast one.
 *
 * Synchronous and owned by the scheduler's dispatch fiber, which passes in which circuits are
 * available on each round.
 */
export class Router {
  private readonly actives: Balancer
  private readonly standbys: Balancer
  private readonly byName: ReadonlyMap<string, UpstreamActor>
  private readonly lines = new Map<string, Deque<Waiting>>()
  private waiting = 0
  /** Jobs the lines may hold in all: as many as the upstreams have connections. */
  readonly capacity: number

  constructor(private readonly actors: ReadonlyArray<UpstreamActor>, connections: number) {
    this.byName = new Map(actors.map((a) => [a.name, a]))
    this.actives = new Balancer(actors.filter((a) => a.role === "active").map((a) => ({ name: a.name, weight: a.weight })))
    // Standbys have no share to keep among the actives; among themselves, weight 0 still means "use me".
    this.standbys = new Balancer(
      actors.filter((a) => a.role === "standby").map((a) => ({ name: a.name, weight: Math.max(1, a.weight) }))
    )
    for (const actor of actors) this.lines.set(actor.name, new Deque())
    this.capacity = connections
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
    return this.actors.some((a) =>
        a.role === "active" && a.weight > 0 && (circuits.available.has(a.name) || circuits.probing.has(a.name))
      )
      ? "active"
      : "standby"
  }

  /** Routes a new job: straight to an upstream with room, into a busy upstream's line, or nowhere. */
  route(job: Job, now: number, circuits: Circuits): Assignment | "queued" | Unroutable {
    const tier = this.tier(circuits)
    const candidates = this.actors.filter((a) => a.role === tier && circuits.available.has(a.name))
    if (candidates.length === 0) return "unavailable"
    if (candidates.every((a) => job.excluded.has(a.name))) return "excluded"
    const balancer = tier === "active" ? this.actives : this.standbys
    const name = balancer.pick((n) => circuits.available.has(n) && !job.excluded.has(n))
    if (name === undefined) return "excluded"
    const actor = this.byName.get(name)!
    if (actor.room > 0 && this.lines.get(name)!.length === 0) return { actor, job }
    this.lines.get(name)!.push({ job, since: now })
    this.waiting++
    return "queued"
  }

  /**
   * Jobs the lines can hand out now: each upstream with room takes from its own line first, then
   * (when its line is empty) the overdue jobs of the others in its tier. `room` is decremented as jobs
   * are handed out, since the actors' own counters move only when the offers run.
   */
  release(now: number, circuits: Circuits): Array<Assignment> {
    if (this.waiting === 0) return []
    const tier = this.tier(circuits)
    const takers = this.actors.filter((a) => a.role === tier && circuits.available.has(a.name))
    const room = new Map(takers.map((a) => [a.name, a.room]))
    const assignments: Array<Assignment> = []
    const give = (actor: UpstreamActor, line: Deque<Waiting>) => {
      assignments.push({ actor, job: this.take(line) })
      room.set(actor.name, room.get(actor.name)! - 1)
    }
    // Every upstream serves its own line before any takes from another's.
    for (const actor of takers) {
      const own = this.lines.get(actor.name)!
      while (room.get(actor.name)! > 0 && own.length > 0) give(actor, own)
    }
    for (const actor of takers) {
      for (const [owner, line] of this.lines) {
        if (owner === actor.name) continue
        const ownerActor = this.byName.get(owner)!
        while (room.get(actor.name)! > 0 && line.length > 0 && this.overdue(line, ownerActor, actor, now)) give(actor, line)
      }
    }
    return assignments
  }

  /** Empties the lines of upstreams that can no longer take mail, for the jobs to be routed again. */
  evict(circuits: Circuits): Array<Job> {
    const evicted: Array<Job> = []
    for (const [name, line] of this.lines) {
      if (circuits.available.has(name)) continue
      while (line.length > 0) evicted.push(this.take(line))
    }
    return evicted
  }

  /** Every waiting job, for a drain. */
  clear(): Array<Job> {
    return this.evict({ available: new Set(), probing: new Set() })
  }

  /** When the earliest waiting job could next be taken by an idle upstream. */
  nextOverdue(now: number): number | undefined {
    if (this.waiting === 0) return undefined
    const fastest = this.actors.reduce((a, b) => a.serviceMillis <= b.serviceMillis ? a : b)
    let earliest: number | undefined
    for (const [name, line] of this.lines) {
      const head = line.peek()
      if (head !== undefined) earliest = Math.min(earliest ?? Infinity, head.since + patience(this.byName.get(name)!, fastest))
    }
    return earliest === undefined ? undefined : Math.max(earliest, now + 1)
  }

  private overdue(line: Deque<Waiting>, owner: UpstreamActor, taker: UpstreamActor, now: number): boolean {
    const head = line.peek()!
    return !head.job.excluded.has(taker.name) && now - head.since > patience(owner, taker)
  }

  private take(line: Deque<Waiting>): Job {
    this.waiting--
    return line.shift()!.job
  }
}

/**
 * How long a job waits in its upstream's line before another may take it. From a clearly faster
 * upstream (under half the owner's transaction time), after twice the taker's own transaction time:
 * the owner is slow, and waiting for it would stall the taker. From a peer of about the same speed,
 * only when the owner has not taken it within four of its own transaction times: the owner is merely
 * busy, and taking its work would undo the weights.
 */
const patience = (owner: UpstreamActor, taker: UpstreamActor): number =>
  owner.serviceMillis > 2 * taker.serviceMillis ? 2 * taker.serviceMillis + 1 : 4 * owner.serviceMillis + 1
