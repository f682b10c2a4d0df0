import { Deque } from "./deque.js"

interface ActiveStream<A> {
  readonly name: string
  readonly weight: number
  items: Deque<A>
  /** The virtual time at which the stream joined; its k-th item since then starts at joined + k / weight. */
  readonly joined: number
  /** Items served since it joined. */
  served: number
}

/**
 * Weighted fair queuing across streams with virtual finish times: each item costs 1/weight of virtual
 * time, and the item that would finish first is served first. Backlogged streams are served in
 * proportion to their weights (8:1 → 8 items to 1), and each stream is FIFO.
 *
 * virtualTime is the finish tag of the last item served. Items are served in order of finish tags,
 * and a newly queued item never finishes before virtualTime, so virtualTime only moves forward and
 * every tag a stream left behind is at or below it. Hence a stream that joins (or rejoins) starts at
 * virtualTime: the textbook start, max(virtualTime, lastFinish), is always virtualTime here. That is
 * what stops an idle stream hoarding credit — it cannot claim the virtual time that passed while it
 * had nothing to send — and a stream that drains and refills at once loses nothing either. It also means an empty stream needs no
 * state at all, so streams (tenants, campaigns) can come and go without the map growing.
 *
 * Mutable and synchronous: owned by one fiber (the scheduler).
 */
export class FairQueue<A> {
  private readonly weights: ReadonlyMap<string, number>
  /** Only the non-empty streams: pop scans these and nothing else. */
  private readonly active = new Map<string, ActiveStream<A>>()
  private virtualTime = 0
  private total = 0

  /** Stream name → weight (> 0); streams not in the map get weight 1. */
  constructor(weights: ReadonlyMap<string, number>) {
    for (const [stream, weight] of weights) {
      // Weight 0 would be an infinite cost: the stream would starve while any other has work.
      if (!(weight > 0 && Number.isFinite(weight))) {
        throw new RangeError(`FairQueue: weight of stream "${stream}" must be a positive number, got ${weight}`)
      }
    }
    this.weights = weights
  }

  push(stream: string, item: A): void {
    let active = this.active.get(stream)
    if (active === undefined) {
      const weight = this.weights.get(stream) ?? 1
      active = { name: stream, weight, items: new Deque(), joined: this.virtualTime, served: 0 }
      this.active.set(stream, active)
    }
    active.items.push(item)
    this.total++
  }

  /** The item with the smallest virtual finish time among non-empty streams, or undefined when all are empty. */
  pop(): { readonly stream: string; readonly item: A } | undefined {
    let next: ActiveStream<A> | undefined
    let nextFinish = Infinity
    for (const active of this.active.values()) {
      // Computed from the join rather than summed item by item: adding 1/3 or 1/100 again and again
      // drifts, and the drift lets a heavy stream slip an extra item in ahead of a light one.
      const finish = active.joined + (active.served + 1) / active.weight
      // Ties go to the smaller stream name, so the order does not depend on when streams were first seen.
      if (finish < nextFinish || (finish === nextFinish && next !== undefined && active.name < next.name)) {
        next = active
        nextFinish = finish
      }
    }
    if (next === undefined) return undefined
    const item = next.items.shift() as A
    this.total--
    this.virtualTime = nextFinish
    if (next.items.length === 0) this.active.delete(next.name)
    else next.served++
    // With nothing queued every stream would start at virtualTime anyway, so rebase to keep the tags
    // small: float precision never degrades in a long-running process that goes idle now and then.
    if (this.total === 0) this.virtualTime = 0
    return { stream: next.name, item }
  }

  /** Removes and returns every item queued in `stream` (a suspended stream's, handed back). */
  takeAll(stream: string): Array<A> {
    const active = this.active.get(stream)
    if (active === undefined) return []
    this.active.delete(stream)
    const items: Array<A> = []
    for (let item = active.items.shift(); item !== undefined; item = active.items.shift()) items.push(item)
    this.total -= items.length
    if (this.total === 0) this.virtualTime = 0
    return items
  }

  /** Removes and returns the items `pick` accepts, from every stream; the others keep their order. */
  takeWhere(pick: (item: A) => boolean): Array<A> {
    const taken: Array<A> = []
    for (const [name, active] of [...this.active]) {
      const kept = new Deque<A>()
      for (let item = active.items.shift(); item !== undefined; item = active.items.shift()) {
        if (pick(item)) taken.push(item)
        else kept.push(item)
      }
      if (kept.length === 0) this.active.delete(name)
      else active.items = kept
    }
    this.total -= taken.length
    if (this.total === 0) this.virtualTime = 0
    return taken
  }

  /** Items queued in one stream, or in all of them. */
  size(stream?: string): number {
    if (stream === undefined) return this.total
    return this.active.get(stream)?.items.length ?? 0
  }

  get isEmpty(): boolean {
    return this.total === 0
  }
}
