export interface Peer {
  readonly name: string
  /** Relative share of picks; 0 (or less) means never picked. */
  readonly weight: number
}

interface Slot {
  readonly name: string
  readonly weight: number
  /** nginx's current_weight: credit earned by waiting, paid back by being picked. */
  current: number
}

/**
 * Smooth weighted round-robin, as nginx does it (ngx_http_upstream_get_peer): every pick, each
 * eligible peer earns its weight, the richest wins and pays back the total. Unlike undici's GCD form,
 * which sends a burst to the heaviest peer before the next, 2:3 interleaves B A B A B, so an upstream
 * never gets its whole share at once.
 *
 * Mutable and synchronous: owned by one fiber (the scheduler), which passes in who is eligible right
 * now (circuit closed, mailbox not full).
 */
export class Balancer {
  private readonly slots: ReadonlyArray<Slot>

  constructor(peers: ReadonlyArray<Peer>) {
    this.slots = peers.map((peer) => ({ name: peer.name, weight: Math.max(0, peer.weight), current: 0 }))
  }

  /**
   * Picks among the peers for which eligible(name) is true; undefined when none is. Ineligible peers
   * keep no credit.
   */
  pick(eligible: (name: string) => boolean): string | undefined {
    let total = 0
    let best: Slot | undefined
    for (const slot of this.slots) {
      if (slot.weight === 0) continue
      if (!eligible(slot.name)) {
        // A skipped peer earns nothing, and forfeits what it had: otherwise an upstream whose circuit
        // was open, or whose mailbox was full, would come back to a burst. It keeps a debt, though, so
        // flickering in and out of eligibility cannot buy it picks beyond its share.
        if (slot.current > 0) slot.current = 0
        continue
      }
      slot.current += slot.weight
      total += slot.weight
      // Strictly greater: ties go to the earlier peer, so sequences are deterministic (nginx does the same).
      if (best === undefined || slot.current > best.current) best = slot
    }
    if (best === undefined) return undefined
    best.current -= total
    return best.name
  }
}
