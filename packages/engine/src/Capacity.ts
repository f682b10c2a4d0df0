/**
 * How much leased work the engine holds, in one place: the scheduler and its actors size themselves
 * by these, and a broker queue sizes its prefetch by them (more would only keep messages from other
 * nodes; less would leave connections idle).
 */

/** Leased messages the scheduler holds per stream, not yet handed to an actor: two per connection. */
export const schedulerBuffer = (connections: number): number => Math.max(8, 2 * connections)

/**
 * Jobs an upstream actor holds at most: two per connection (a pipelining connection has one awaiting
 * its final reply while the next one's commands ride with its body, RFC 2920), and a quarter of a
 * connection's share more waiting, so a connection finds its next at once. More would hide jobs in
 * the mailbox where the scheduler can no longer move them elsewhere.
 */
export const actorMailbox = (maxConnections: number): number => Math.ceil(maxConnections * 2.25)

/** Leased messages a node may hold per stream in all: the scheduler's buffer and its actors' mailboxes. */
export const leasedPerStream = (upstreams: ReadonlyArray<{ readonly maxConnections: number }>): number => {
  let connections = 0
  let mailboxes = 0
  for (const upstream of upstreams) {
    connections += upstream.maxConnections
    mailboxes += actorMailbox(upstream.maxConnections)
  }
  return schedulerBuffer(connections) + mailboxes
}
