import type { Channel } from "amqplib"

/**
 * The broker's queues, all durable quorum queues (replicated, fsync'd before a publish is confirmed):
 * - `<prefix>.work.<stream>`: ready messages, one queue per stream, so the scheduler's weighted fair
 *   queuing across streams keeps working when many nodes consume;
 * - `<prefix>.delay.<stream>.<ms>`: deferred messages wait there for a fixed time-to-live, then are
 *   dead-lettered back to their work queue. A fixed TTL per queue keeps expiry in queue order (a quorum
 *   queue expires only at its head); a message due between two tiers rides the lower one and is
 *   delayed again for the rest when it comes out. Nothing polls: the broker's clock moves them;
 * - `<prefix>.dead`: failed messages (out of attempts or age) and deliveries that cannot be read.
 */
export interface Topology {
  readonly work: (stream: string) => string
  readonly delay: (stream: string, tierMs: number) => string
  readonly dead: string
  /** Delay tiers in milliseconds, ascending. */
  readonly tiers: ReadonlyArray<number>
  /** Every queue, for declaring and for counting the depth. */
  readonly all: ReadonlyArray<string>
}

export const make = (prefix: string, streams: ReadonlyArray<string>, tiers: ReadonlyArray<number>): Topology => {
  const sorted = [...new Set(tiers)].sort((a, b) => a - b)
  const work = (stream: string) => `${prefix}.work.${stream}`
  const delay = (stream: string, tierMs: number) => `${prefix}.delay.${stream}.${tierMs}`
  const dead = `${prefix}.dead`
  return {
    work,
    delay,
    dead,
    tiers: sorted,
    all: [...streams.flatMap((stream) => [work(stream), ...sorted.map((tier) => delay(stream, tier))]), dead]
  }
}

/** The queue a message due in `remainingMs` goes to now: the largest tier that does not overshoot. */
export const tierFor = (topology: Topology, remainingMs: number): number => {
  let chosen = topology.tiers[0]!
  for (const tier of topology.tiers) if (tier <= remainingMs) chosen = tier
  return chosen
}

const quorum = { "x-queue-type": "quorum" }

/** Declares every queue (idempotent; a queue declared before with other arguments fails with 406). */
export const declare = async (channel: Channel, topology: Topology, streams: ReadonlyArray<string>) => {
  for (const stream of streams) {
    await channel.assertQueue(topology.work(stream), { durable: true, arguments: quorum })
    for (const tier of topology.tiers) {
      await channel.assertQueue(topology.delay(stream, tier), {
        durable: true,
        arguments: {
          ...quorum,
          "x-message-ttl": tier,
          "x-dead-letter-exchange": "",
          "x-dead-letter-routing-key": topology.work(stream),
          // Moved on only once the work queue has confirmed the message, so none is lost on the way;
          // this strategy needs reject-publish overflow.
          "x-dead-letter-strategy": "at-least-once",
          "x-overflow": "reject-publish"
        }
      })
    }
  }
  await channel.assertQueue(topology.dead, { durable: true, arguments: quorum })
}
