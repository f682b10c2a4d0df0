import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options as AmqpOptions } from "amqplib"
import * as amqp from "amqplib"
import type { DeliveryQueueShape, Enqueued, MessageRecord, QueuedMessage, StatusStore } from "@sluice/engine"
import { amendRecord, Idempotency, isFinal, QueueError, QueueFull, settledRecord, Signal } from "@sluice/engine"
import type { Scope } from "effect"
import { Clock, Deferred, Duration, Effect, Either, Exit, Option, Schedule } from "effect"
import * as Codec from "./codec.js"
import * as Topology from "./topology.js"

export interface Settings {
  readonly url: string
  readonly prefix: string
  readonly streams: ReadonlyArray<string>
  readonly maxDepth: number
  readonly prefetch: number
  readonly tiers: ReadonlyArray<number>
  readonly reconnect: Schedule.Schedule<unknown, unknown>
  readonly openTimeout: Duration.Duration
  readonly store: StatusStore.StatusStoreShape
}

/** A message the broker handed to one of this node's consumer channels. */
interface Delivery {
  readonly msg: ConsumeMessage
  readonly channel: Channel
  /** The connection it came on; a tag from an older connection is never acked. */
  readonly generation: number
}

interface Lease extends Delivery {
  readonly message: QueuedMessage
}

/** One live connection: a confirm channel to publish on, and a consumer channel per stream taken. */
interface Session {
  readonly generation: number
  readonly connection: ChannelModel
  readonly publisher: ConfirmChannel
  readonly consumers: Map<string, Channel | undefined>
  readonly lost: Deferred.Deferred<string>
}

interface Publication {
  readonly queue: string
  readonly body: Buffer
  readonly options: AmqpOptions.Publish
}

/** The header that carries a deferred message's due time (epoch ms) through the delay queues. */
const dueHeader = "x-sluice-due"
/** A message due within this is sent to its work queue rather than to another delay. */
const toleranceMs = 25

const redact = (url: string) => url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@")
const describe = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)
// 403 access refused, 406 a queue declared before with other arguments, 530 no such vhost: retrying
// will not help. amqplib gives the code of a refused handshake only in the message.
const permanent = (error: QueueError) => {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined
  return cause?.code === 403 || cause?.code === 406 || /\b(403|406|530) \(/.test(String(cause?.message))
}

// A connection that dies silently (no FIN, no RST) is noticed after two missed heartbeats; amqplib
// otherwise takes the broker's suggestion of 60 seconds.
const withHeartbeat = (url: string) => {
  const parsed = new URL(url)
  if (!parsed.searchParams.has("heartbeat")) parsed.searchParams.set("heartbeat", "5")
  return parsed.toString()
}

/**
 * The DeliveryQueue on RabbitMQ. The broker holds the messages; this node holds only what it leased
 * (unacked deliveries, bounded by the prefetch) and the connection. Status records and idempotency
 * keys are in the StatusStore, shared by all nodes when it is Redis.
 */
export const make = (settings: Settings): Effect.Effect<DeliveryQueueShape, QueueError, Scope.Scope> =>
  Effect.gen(function*() {
    const { store } = settings
    const topology = Topology.make(settings.prefix, settings.streams, settings.tiers)
    const log = Effect.annotateLogs({ queue: "rabbitmq", broker: redact(settings.url) })
    const buffers = new Map(settings.streams.map((stream) => [stream, [] as Array<Delivery>]))
    const leased = new Map<string, Lease>()
    /** Streams someone takes from: their consumers are started again after a reconnect. */
    const wanted = new Set<string>()
    const changed = new Signal() // a delivery arrived, or a session opened
    let session: Session | undefined
    let generation = 0
    let stopping = false
    /** Ready messages in the broker at the last count, and what this node published since. */
    let counted = 0
    let sinceCount = 0
    /** Accepted and not final, as far as this node can tell: others' unacked messages are not counted. */
    const depthNow = () => counted + sinceCount + leased.size

    const bufferOf = (stream: string) => {
      let buffer = buffers.get(stream)
      if (buffer === undefined) buffers.set(stream, buffer = [])
      return buffer
    }
    const lose = (s: Session, reason: string) => {
      if (!stopping) Deferred.unsafeDone(s.lost, Exit.succeed(reason))
    }

    // An ack or nack only on the channel the delivery came on, and only while it lives: a tag from a
    // dead channel means nothing to the broker (the message comes back by itself), and acking it on a
    // new channel would ack some other message or close the channel.
    const live = (delivery: Delivery) => session !== undefined && session.generation === delivery.generation
    const ack = (delivery: Delivery) => {
      if (!live(delivery)) return
      try {
        delivery.channel.ack(delivery.msg)
      } catch {
        // the channel closed under us: the broker redelivers the message
      }
    }
    const requeue = (delivery: Delivery) => {
      if (!live(delivery)) return
      try {
        delivery.channel.nack(delivery.msg, false, true)
      } catch {
        // as above
      }
    }

    const connect = Effect.tryPromise({
      try: async () => {
        const connection = await amqp.connect(withHeartbeat(settings.url))
        try {
          connection.on("error", () => {}) // a "close" event follows, and is what counts
          const setup = await connection.createChannel()
          setup.on("error", () => {})
          await Topology.declare(setup, topology, settings.streams)
          await setup.close()
          const publisher = await connection.createConfirmChannel()
          publisher.on("error", () => {})
          return { connection, publisher }
        } catch (error) {
          connection.close().catch(() => {})
          throw error
        }
      },
      catch: (cause) =>
        new QueueError({ operation: "open", reason: `cannot open ${redact(settings.url)}: ${describe(cause)}`, cause })
    })

    const startConsumer = (s: Session, stream: string) =>
      Effect.tryPromise(async () => {
        s.consumers.set(stream, undefined) // taken: a second take does not start another
        const channel = await s.connection.createChannel()
        channel.on("error", () => {})
        channel.on("close", () => lose(s, `the consumer channel of ${stream} closed`))
        // The broker sends no more than this unacked: what this node buffers, holds in the scheduler
        // and delivers is bounded, and the rest stays in the broker for other nodes.
        await channel.prefetch(settings.prefetch)
        await channel.consume(topology.work(stream), (msg) => {
          if (msg === null) return lose(s, `the broker cancelled the consumer of ${stream}`)
          if (session !== s) return // a late delivery of a lost session: it comes back by itself
          bufferOf(stream).push({ msg, channel, generation: s.generation })
          changed.notify()
        })
        s.consumers.set(stream, channel)
      }).pipe(Effect.catchAll((cause) => Effect.sync(() => lose(s, `cannot consume ${stream}: ${describe(cause)}`))))

    /** Makes a new connection the current one, its consumers started for every stream taken from. */
    const install = (opened: { connection: ChannelModel; publisher: ConfirmChannel }) =>
      Effect.gen(function*() {
        const s: Session = { ...opened, generation: ++generation, consumers: new Map(), lost: yield* Deferred.make<string>() }
        s.connection.on("close", (error?: Error) => lose(s, error?.message ?? "the connection closed"))
        s.publisher.on("close", () => lose(s, "the publishing channel closed"))
        session = s
        changed.notify()
        yield* Effect.logInfo("connected to the broker").pipe(log)
        for (const stream of wanted) yield* startConsumer(s, stream)
        return s
      })

    /** Waits until the current connection is lost, then forgets what came on it. */
    const watch = (s: Session) =>
      Effect.gen(function*() {
        const reason = yield* Deferred.await(s.lost)
        session = undefined
        // Deliveries not yet taken went back to the broker with the channel; leases stay until
        // settled, and will not be acked (their generation is gone).
        for (const buffer of buffers.values()) buffer.length = 0
        s.connection.close().catch(() => {})
        yield* Effect.logWarning("broker connection lost; reconnecting").pipe(Effect.annotateLogs({ reason }), log)
      })

    const reconnecting = connect.pipe(
      Effect.tapError((error) => Effect.logWarning("cannot reach the broker; retrying", error.message).pipe(log)),
      Effect.retry(settings.reconnect)
    )

    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        stopping = true
        const s = session
        session = undefined
        if (s === undefined) return
        // Hand back what is unacked (the engine has settled or released what it could), then close.
        for (const channel of s.consumers.values()) {
          try {
            channel?.nackAll(true)
            await channel?.close()
          } catch {
            // closing anyway
          }
        }
        await s.connection.close().catch(() => {})
      }).pipe(Effect.timeout("5 seconds"), Effect.ignore, Effect.zipRight(Effect.logInfo("broker connection closed").pipe(log)))
    )

    let lastError: QueueError | undefined
    const first = yield* connect.pipe(
      Effect.tapError((error) => Effect.sync(() => lastError = error)),
      Effect.retry({ schedule: settings.reconnect, while: (error) => !permanent(error) }),
      Effect.timeoutFail({
        duration: settings.openTimeout,
        onTimeout: () =>
          new QueueError({
            operation: "open",
            reason: `no connection to ${redact(settings.url)} within ${Duration.format(settings.openTimeout)}` +
              (lastError === undefined ? "" : ` (last: ${describe(lastError.cause)})`),
            cause: lastError
          })
      })
    )
    yield* watch(yield* install(first)).pipe(
      Effect.zipRight(Effect.forever(reconnecting.pipe(Effect.flatMap(install), Effect.flatMap(watch)))),
      Effect.forkScoped
    )

    const current = (operation: QueueError["operation"]) =>
      Effect.gen(function*() {
        for (;;) {
          const woken = changed.next()
          if (session !== undefined) return session
          yield* woken
        }
      }).pipe(
        Effect.timeoutFail({
          duration: settings.openTimeout,
          onTimeout: () => new QueueError({ operation, reason: `not connected to the broker ${redact(settings.url)}` })
        })
      )

    /** Publishes and waits for the broker's confirms: only then are the messages the broker's. */
    const publish = (operation: QueueError["operation"], publications: ReadonlyArray<Publication>) =>
      Effect.flatMap(current(operation), (s) =>
        Effect.tryPromise({
          try: async () => {
            const confirms: Array<Promise<void>> = []
            for (const { body, options, queue } of publications) {
              let flowing = true
              confirms.push(
                new Promise<void>((resolve, reject) => {
                  flowing = s.publisher.sendToQueue(queue, body, { persistent: true, ...options }, (error) =>
                    error ? reject(error instanceof Error ? error : new Error(`the broker refused it (${queue})`)) : resolve())
                })
              )
              // The socket's buffer is full: wait for it to drain rather than buffer without bound.
              if (!flowing) await new Promise((resolve) => (s.publisher.once("drain", resolve), s.publisher.once("close", resolve)))
            }
            await Promise.all(confirms)
          },
          catch: (cause) => new QueueError({ operation, reason: `publishing to the broker failed: ${describe(cause)}`, cause })
        }))

    /** Where a deferred message goes now: a delay queue, or its work queue when it is (nearly) due. */
    const toDue = (message: QueuedMessage, due: number, now: number): Publication => {
      const remaining = due - now
      return {
        queue: remaining <= toleranceMs
          ? topology.work(message.stream)
          : topology.delay(message.stream, Topology.tierFor(topology, remaining)),
        body: Codec.encode(message),
        options: { messageId: message.id, headers: { [dueHeader]: due } }
      }
    }

    const deadLetter = (body: Buffer, id: string | undefined, reason: string) => ({
      queue: topology.dead,
      body,
      options: { ...(id === undefined ? {} : { messageId: id }), headers: { "x-sluice-reason": reason } }
    })

    /**
     * Turns deliveries into leases. On the way: a copy that cannot be read goes to the dead-letter
     * queue; a deferred message that came out of a delay tier before its time rides another one; a
     * redelivered copy whose attempt was already recorded (a node died between settling and acking)
     * is acked without a second delivery.
     */
    const admit = (deliveries: ReadonlyArray<Delivery>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const early: Array<[Delivery, Publication]> = []
        const poison: Array<[Delivery, Publication]> = []
        const ready: Array<Lease> = []
        for (const delivery of deliveries) {
          const decoded = Codec.decode(delivery.msg.content)
          if (Either.isLeft(decoded)) {
            const id = delivery.msg.properties.messageId as string | undefined
            poison.push([delivery, deadLetter(delivery.msg.content, id, decoded.left)])
            yield* Effect.logError("a broker message cannot be read; dead-lettered").pipe(
              Effect.annotateLogs({ messageId: id, reason: decoded.left }),
              log
            )
            continue
          }
          const due = delivery.msg.properties.headers?.[dueHeader]
          if (typeof due === "number" && due - now > toleranceMs) {
            early.push([delivery, toDue(decoded.right, due, now)])
          } else {
            ready.push({ ...delivery, message: decoded.right })
          }
        }
        for (const [moves, label] of [[early, "delaying a message again"], [poison, "dead-lettering"]] as const) {
          if (moves.length === 0) continue
          // If this fails the deliveries stay unacked and come back with the next connection.
          const moved = yield* publish("take", moves.map(([, publication]) => publication)).pipe(
            Effect.as(true),
            Effect.catchAll((error) => Effect.logWarning(`${label} failed`, error.message).pipe(log, Effect.as(false)))
          )
          if (moved) for (const [delivery] of moves) ack(delivery)
        }
        const redelivered = ready.filter((lease) => lease.msg.fields.redelivered)
        const recorded = redelivered.length === 0 ? [] : yield* store.get(redelivered.map((lease) => lease.message.id))
        const stale = new Set(
          redelivered.filter((lease, i) => (recorded[i]?.attempts ?? 0) > lease.message.attempts).map((lease) => lease)
        )
        const taken: Array<QueuedMessage> = []
        for (const lease of ready) {
          if (stale.has(lease)) {
            ack(lease)
            continue
          }
          leased.set(lease.message.id, lease)
          taken.push(lease.message)
        }
        return taken
      })

    const queue: DeliveryQueueShape = {
      // The broker cannot be read without taking: the status records say what is queued where.
      scan: (cursor, limit) =>
        Effect.map(store.scan(cursor, limit), ({ cursor, records }) => ({ records: records.filter((r) => !isFinal(r.status)), cursor })),
      enqueue: (batch) =>
        Effect.gen(function*() {
          // A message for a queue the broker does not have would be confirmed and dropped.
          const unknown = batch.find((m) => !settings.streams.includes(m.stream))
          if (unknown !== undefined) {
            return yield* new QueueError({ operation: "enqueue", reason: `no queue for stream "${unknown.stream}"` })
          }
          const depth = depthNow()
          if (depth + batch.length > settings.maxDepth) return yield* new QueueFull({ depth, maxDepth: settings.maxDepth })
          yield* current("enqueue")
          const now = yield* Clock.currentTimeMillis
          // Under the id the engine gave each message (its headers carry it already). The fingerprint
          // stays with the key in the store; the broker's copy has no use for it.
          const fresh = batch.map(({ fingerprint: _, ...message }): QueuedMessage => ({
            ...message,
            submittedAt: now,
            attempts: 0,
            recipients: message.to.map((address) => ({ address, status: "pending" as const }))
          }))
          const claims = batch.flatMap((m): Array<StatusStore.Claim> =>
            m.idempotencyKey === undefined ? [] : [{ key: m.idempotencyKey, id: m.id, fingerprint: Idempotency.fingerprintOf(m) }]
          )
          const firsts = new Map<string, { readonly claimed: StatusStore.Claimed; readonly conflict: boolean }>()
          for (const [i, first] of (yield* store.claim(claims)).entries()) {
            const claim = claims[i]!
            if (first !== undefined) {
              firsts.set(claim.id, { claimed: first, conflict: !Idempotency.sameMessage(first.fingerprint, claim.fingerprint!) })
            }
          }
          const results: Array<Enqueued> = []
          const accepted: Array<QueuedMessage> = []
          for (const message of fresh) {
            const first = firsts.get(message.id)
            if (first !== undefined) {
              results.push(first.conflict ? { id: first.claimed.id, duplicate: true, conflict: true } : { id: first.claimed.id, duplicate: true })
            } else {
              results.push({ id: message.id, duplicate: false })
              accepted.push(message)
            }
          }
          // The record first: a node that delivers the message at once must not have its status
          // overwritten by "queued" afterwards.
          yield* store.put(accepted.map((m): MessageRecord => ({
            id: m.id,
            status: "queued",
            attempts: 0,
            stream: m.stream,
            submittedAt: now,
            updatedAt: now,
            recipients: m.recipients
          })))
          yield* publish(
            "enqueue",
            accepted.map((m) => ({ queue: topology.work(m.stream), body: Codec.encode(m), options: { messageId: m.id } }))
          ).pipe(
            Effect.tapError(() =>
              store.unclaim(accepted.flatMap((m) => m.idempotencyKey === undefined ? [] : [{ key: m.idempotencyKey, id: m.id }]))
            )
          )
          sinceCount += accepted.length
          return results
        }),

      take: (stream, max) =>
        Effect.gen(function*() {
          wanted.add(stream)
          for (;;) {
            const woken = changed.next()
            const s = session
            if (s !== undefined && !s.consumers.has(stream)) yield* startConsumer(s, stream)
            const buffer = bufferOf(stream)
            if (buffer.length > 0) {
              const taken = yield* admit(buffer.splice(0, Math.max(1, max)))
              if (taken.length > 0) return taken
              continue
            }
            yield* woken
          }
        }),

      // Each settlement is its own ack or publish; the broker batches nothing across them.
      settleAll: (entries) => Effect.forEach(entries, ({ id, settlement }) => queue.settle(id, settlement), { discard: true }),

      settle: (id, settlement) =>
        Effect.gen(function*() {
          const lease = leased.get(id)
          if (lease === undefined) return // settled or released already
          const now = yield* Clock.currentTimeMillis
          const message: QueuedMessage = {
            ...lease.message,
            attempts: settlement.attempts,
            recipients: settlement.recipients,
            lastUpstream: settlement.upstream
          }
          if (settlement.status === "deferred") {
            yield* publish("settle", [toDue(message, settlement.retryAt ?? now, now)])
          } else if (settlement.status === "failed") {
            const reason = settlement.lastReply === undefined ? "failed" : `failed: ${settlement.lastReply.code} ${settlement.lastReply.text}`
            yield* publish("settle", [deadLetter(Codec.encode(message), id, reason)])
          }
          const before: MessageRecord = {
            id,
            status: "queued",
            attempts: message.attempts,
            stream: message.stream,
            submittedAt: message.submittedAt,
            updatedAt: now,
            recipients: message.recipients
          }
          yield* store.put([settledRecord(before, settlement, now)])
          leased.delete(id)
          ack(lease)
        }),

      release: (ids) =>
        Effect.sync(() => {
          for (const id of ids) {
            const lease = leased.get(id)
            if (lease === undefined) continue
            leased.delete(id)
            requeue(lease)
          }
        }),

      status: (id) => Effect.map(store.get([id]), ([record]) => Option.fromNullable(record)),

      // The record lives in the StatusStore (a final message is no longer in the broker). Read and
      // written in two steps: two reports on one message landing at once on two nodes may race.
      amend: (id, update) =>
        Effect.gen(function*() {
          const [record] = yield* store.get([id])
          const now = yield* Clock.currentTimeMillis
          const amended = record === undefined ? undefined : amendRecord(record, update, now)
          if (amended !== undefined) yield* store.put([amended])
          return Option.fromNullable(amended)
        }),
      depth: Effect.sync(depthNow),
      isOpen: Effect.sync(() => session !== undefined)
    }

    // The broker's own count of ready messages (work and delay queues), refreshed every second: what
    // maxDepth is checked against, with what this node published since. What is published while the
    // broker counts stays in `sinceCount` (it may be counted twice for a second: too many, never too few).
    const countReady = Effect.gen(function*() {
      const s = session
      if (s === undefined) return
      const before = sinceCount
      const counts = yield* Effect.tryPromise(() =>
        Promise.all(topology.all.filter((q) => q !== topology.dead).map((q) => s.publisher.checkQueue(q)))
      )
      counted = counts.reduce((sum, c) => sum + c.messageCount, 0)
      sinceCount -= before
    }).pipe(Effect.ignore)
    yield* countReady.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)

    return queue
  })
