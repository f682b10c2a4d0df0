import { Clock, Effect, Either, Option } from "effect"
import type { DeliveryQueueShape, Enqueued, MessageRecord, QueuedMessage, Settlement } from "@sluice/engine"
import { amendRecord, bouncedRecipients, Idempotency, isFinal, QueueError, QueueFull, settledRecord, Signal } from "@sluice/engine"
import { fromCause } from "../SpoolError.js"
import { Recent } from "./recent.js"
import * as Record from "./record.js"
import type { DueKey, ExpiryKey, Store } from "./store.js"
import type { Databases } from "./store.js"
import { commit, countOf, empty, end, idempotencyKey, noteAccess, readPooled, transact, whenUsable } from "./store.js"

export interface Settings {
  readonly maxDepth: number
  readonly leaseMs: number
  readonly retentionMs: number
  /** Bytes of messages enqueued and not yet taken kept in memory too (see Recent); default 8 MiB. */
  readonly recentBytes?: number
}

export interface SpoolQueue extends DeliveryQueueShape {
  /** Drops the records of messages final for longer than the retention. */
  readonly compact: Effect.Effect<number, QueueError>
  /** Stops serving: later calls fail, waiting takers stay asleep until interrupted. */
  readonly close: Effect.Effect<void>
}

/** The record as `take` read it, and its content, to go back with it when it is deferred. */
interface Lease extends Record.Entry {
  readonly until: number
}

type Operation = QueueError["operation"]

/**
 * lmdb-js takes put options (MDB_APPEND) in place of a version, its typings only the version. Such a
 * put gets a promise of its own, which a failed commit rejects: the commit's promise reports that
 * failure (store.ts), so this one is only heard, lest it be an unhandled rejection.
 */
interface Appending {
  readonly put: (id: string, value: Buffer, options: { readonly append: true }) => Promise<boolean>
}
const unheard = () => {}

/** A message's content as a Buffer, without a copy. */
const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/**
 * The ids an expiry entry stands for: a list of a settlement's final messages, or (as spools written
 * before kept them) the one its key names.
 */
const expiring = (key: ExpiryKey, value: Buffer): ReadonlyArray<string> => {
  if (value.length === 0) return [key[1]]
  let ids: unknown
  try {
    ids = Record.unpack(value)
  } catch {
    ids = undefined
  }
  return Array.isArray(ids) && ids.every((id): id is string => typeof id === "string") ? ids : [key[1]]
}

/** What `status` and `amend` answer for a stored record. */
const toRecord = (r: Record.Stored): MessageRecord => ({
  id: r.id,
  status: r.status,
  attempts: r.attempts,
  stream: r.stream,
  submittedAt: r.submittedAt,
  updatedAt: r.updatedAt,
  upstream: r.upstream,
  lastReply: r.lastReply,
  recipients: r.recipients,
  nextAttemptAt: r.nextAttemptAt
})

/**
 * The queue on a store. Everything that must survive a crash is on disk; memory holds only the
 * leases this process gave out (bounded by what the scheduler asked for), idempotency keys of
 * batches still committing, and the depth counter.
 */
export const makeQueue = (store: Store, settings: Settings): Effect.Effect<SpoolQueue, QueueError> =>
  Effect.gen(function*() {
    const leased = new Map<string, Lease>()
    const committing = new Map<string, { readonly holder: Idempotency.Holder; readonly done: Promise<void> }>()
    const changed = new Signal()
    const recent = new Recent(settings.recentBytes ?? 8 * 2 ** 20)
    let open = true
    /** Messages accepted and not final: counted at open, then kept up to date. */
    let depth = 0

    const failure = (operation: Operation, what: string) => (cause: unknown) =>
      cause instanceof QueueError ? cause : new QueueError({ operation, reason: fromCause(store.path, what, cause).message, cause })
    /**
     * `f`'s reads, once the store is open. The check and the reads are one synchronous step: the
     * environment cannot close between them.
     */
    const guard = <A>(operation: Operation, what: string, f: () => A): Effect.Effect<A, QueueError> =>
      Effect.suspend(function attempt(): Effect.Effect<A, QueueError> {
        if (!open) return Effect.fail(new QueueError({ operation, reason: `spool ${store.path} is closed` }))
        const waiting = whenUsable(store)
        if (waiting !== undefined) {
          return Effect.zipRight(Effect.tryPromise({ try: () => waiting, catch: failure(operation, what) }), Effect.suspend(attempt))
        }
        try {
          return Effect.succeed(f())
        } catch (error) {
          return Effect.fail(failure(operation, what)(error))
        } finally {
          noteAccess(store)
        }
      })
    const write = (operation: Operation, what: string, f: () => void) =>
      Effect.tryPromise({ try: () => commit(store, f), catch: failure(operation, what) })
    /** `f`'s reads and writes as one write transaction (a read-modify-write), once the store is open. */
    const update = <A>(operation: Operation, what: string, f: (db: Databases) => A): Effect.Effect<A, QueueError> =>
      Effect.suspend(() =>
        open
          ? Effect.tryPromise({ try: () => transact(store, f), catch: failure(operation, what) })
          : Effect.fail(new QueueError({ operation, reason: `spool ${store.path} is closed` }))
      )

    /** A record that cannot be read goes aside (with its content) and the queue goes on without it. */
    const quarantine = (id: string, reason: string, bytes: Buffer | undefined, keys: () => void) =>
      Effect.gen(function*() {
        recent.take(id)
        const now = yield* Clock.currentTimeMillis
        const content = yield* guard("take", "reading a content", () => store.db.contents.get(id))
        // Only a record of `messages` counted in the depth: one of `finals` was final already.
        let queued = false
        yield* write("take", "quarantining a record", () => {
          store.db.quarantine.put(id, Record.pack({ reason, at: now, record: bytes, content }))
          queued = store.db.messages.get(id) !== undefined
          store.db.messages.remove(id)
          store.db.finals.remove(id)
          store.db.contents.remove(id)
          keys()
        })
        if (queued) depth--
        yield* Effect.logError("spool record quarantined: it cannot be read, the rest goes on").pipe(
          Effect.annotateLogs({ spool: store.path, messageId: id, reason })
        )
      })

    /** Decodes what `messages` holds for an id; undefined when it holds nothing. */
    const decodeAt = (bytes: Buffer | undefined) => bytes === undefined ? undefined : Record.decode(bytes)
    /** The record of `id`, queued or final (final ones of earlier spools are in `messages` too). */
    const recordAt = (db: Databases, id: string): Buffer | undefined => db.messages.get(id) ?? db.finals.get(id)

    /**
     * The record of `id` and where its content is: none if unknown; a record that cannot be read is
     * quarantined, with the index keys `keys` removes.
     */
    const read = (id: string, keys: () => void, operation: Operation = "take") =>
      guard(operation, "reading a record", () => recordAt(store.db, id)).pipe(
        Effect.flatMap((bytes) => {
          const decoded = decodeAt(bytes)
          if (decoded === undefined) return Effect.succeed(Option.none<Record.Entry>())
          if (Either.isRight(decoded)) return Effect.succeed(Option.some(decoded.right))
          return Effect.as(quarantine(id, decoded.left, bytes, keys), Option.none<Record.Entry>())
        })
      )

    const recover = Effect.gen(function*() {
      // This process holds the lock, so every lease on disk belongs to a process that died.
      const keys = yield* guard("open", "reading leases", () => [...store.db.leases.getKeys()])
      for (const key of keys) {
        const id = key[1]
        const record = yield* read(id, () => store.db.leases.remove(key), "open")
        yield* write("open", "returning leases", () => {
          store.db.leases.remove(key)
          if (Option.isSome(record)) store.db.due.put([record.value.record.stream, record.value.record.dueAt, id], empty)
        })
      }
      if (keys.length > 0) {
        yield* Effect.logWarning(`${keys.length} leased messages of a previous run are ready again`).pipe(
          Effect.annotateLogs({ spool: store.path })
        )
      }
    })
    yield* recover
    depth = yield* guard("open", "counting messages", () => countOf(store.db.due))

    // A record of ~1.3 KB leaves room for two in a 4 KiB page, and a B-tree that grows by plain puts
    // at its end splits each full page in two: one message a page, 4 KiB written and synced for each.
    // Put as an append (MDB_APPEND), a record fills the last page instead. An append must be beyond
    // every key, or LMDB refuses it (and lmdb-js answers it false, not an error): `lastId` is the
    // greatest key `messages` has held, which only new ids can pass (every other put rewrites a key
    // it holds), and an id that does not (a clock stepped back) is put the plain way.
    let lastId = yield* guard("open", "reading the last id", () => {
      for (const key of store.db.messages.getKeys({ reverse: true, limit: 1 })) return key
      return ""
    })
    const putNew = (id: string, bytes: Buffer): void => {
      if (id <= lastId) {
        store.db.messages.put(id, bytes)
        return
      }
      lastId = id
      const messages = store.db.messages as unknown as Appending
      messages.put(id, bytes, { append: true }).then(undefined, unheard)
    }

    /**
     * Where the next scan of a stream starts: every due key before it is leased or gone, so a scan
     * does not walk the keys of everything in flight again. Anything that puts a key before it (a
     * lease dropped, a deferral due at once, a batch committed out of order) rewinds it.
     */
    const cursors = new Map<string, DueKey>()
    const rewindIfBehind = (stream: string, dueAt: number, id: string) => {
      const cursor = cursors.get(stream)
      if (cursor !== undefined && (dueAt < cursor[1] || (dueAt === cursor[1] && id < cursor[2]))) cursors.delete(stream)
    }

    /**
     * Leases live in memory only: a leased message keeps its key in the due index (scans skip what
     * `leased` holds), so taking one writes nothing, and after a crash it is simply due again. A lease
     * that ran out (its delivery hung past `leaseMs`) is dropped: the message is ready again.
     */
    const expireLeases = (now: number) =>
      Effect.gen(function*() {
        // Every lease lasts as long, from the time it is given: the map's order (insertion) is the
        // order they run out in, so only the first ones are looked at, not all of them at each take.
        let next = Infinity
        const expired: Array<string> = []
        for (const [id, lease] of leased) {
          if (lease.until > now) {
            next = lease.until
            break
          }
          expired.push(id)
        }
        if (expired.length > 0) cursors.clear()
        for (const id of expired) {
          leased.delete(id)
          yield* Effect.logWarning("lease expired; the message is ready again").pipe(
            Effect.annotateLogs({ spool: store.path, messageId: id })
          )
        }
        return next
      })

    /** Up to `max` due messages of `stream` not leased already, and when the next one falls due. */
    const scan = (stream: string, now: number, max: number) =>
      guard("take", "reading the due index", () => {
        const found: Array<DueKey> = []
        let nextDue: number | undefined
        for (const key of store.db.due.getKeys({ start: cursors.get(stream) ?? [stream], end: [stream, end] })) {
          if (key[1] > now) {
            nextDue = key[1]
            break
          }
          if (leased.has(key[2])) continue
          found.push(key)
          if (found.length >= max) break
        }
        return { found, nextDue: nextDue ?? Infinity }
      })

    const lease = (keys: ReadonlyArray<DueKey>, now: number) =>
      Effect.gen(function*() {
        // Most messages are still in `recent`; one read for any other: this runs for every message
        // delivered. A record of the first layout keeps its content apart, read in the same step.
        const found = yield* guard("take", "reading records", () =>
          keys.map((key) => {
            const kept = recent.take(key[2])
            if (kept !== undefined && kept.record.dueAt === key[1]) {
              return { key, bytes: undefined, decoded: Either.right<Record.Entry>(kept), apart: undefined }
            }
            const bytes = readPooled(store.db.messages, key[2])
            const decoded = decodeAt(bytes)
            const apart = decoded !== undefined && Either.isRight(decoded) && decoded.right.content === "apart"
              ? store.db.contents.get(key[2])
              : undefined
            return { key, bytes, decoded, apart }
          }))
        const taken: Array<QueuedMessage> = []
        // Keys left behind by a write that failed half-way through the process's life.
        const stale: Array<DueKey> = []
        for (const { apart, bytes, decoded, key } of found) {
          const id = key[2]
          if (decoded === undefined) {
            stale.push(key)
            continue
          }
          if (Either.isLeft(decoded)) {
            yield* quarantine(id, decoded.left, bytes, () => store.db.due.remove(key))
            continue
          }
          const r = decoded.right.record
          if (isFinal(r.status) || r.dueAt !== key[1]) {
            stale.push(key)
            continue
          }
          const content = decoded.right.content === "apart" ? apart : decoded.right.content
          if (content === undefined) {
            yield* quarantine(id, "its content is missing", bytes, () => store.db.due.remove(key))
            continue
          }
          leased.set(id, { until: now + settings.leaseMs, record: r, content: decoded.right.content })
          taken.push({
            id,
            from: r.from,
            to: r.to,
            content,
            stream: r.stream,
            idempotencyKey: r.idempotencyKey,
            submittedAt: r.submittedAt,
            attempts: r.attempts,
            recipients: r.recipients,
            lastUpstream: r.upstream
          })
        }
        if (stale.length > 0) {
          yield* write("take", "dropping stale index keys", () => stale.forEach((key) => store.db.due.remove(key)))
        }
        return taken
      })

    const enqueue: DeliveryQueueShape["enqueue"] = (batch) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const results: Array<Enqueued> = []
        const fresh: Array<{ readonly record: Record.Stored; readonly content: Buffer; readonly bytes: Buffer }> = []
        const waitFor = new Set<Promise<void>>()
        const inBatch = new Map<string, Idempotency.Holder>()
        yield* guard("enqueue", "reading idempotency keys", () => {
          for (const message of batch) {
            const key = message.idempotencyKey
            const fingerprint = key === undefined ? undefined : Idempotency.fingerprintOf(message)
            if (key !== undefined) {
              const pending = committing.get(key)
              if (pending !== undefined) waitFor.add(pending.done)
              const stored = inBatch.get(key) ?? pending?.holder ?? store.db.idempotency.get(idempotencyKey(key))
              if (stored !== undefined) {
                const first = typeof stored === "string" ? Idempotency.decodeHolder(stored) : stored
                results.push(
                  Idempotency.sameMessage(first.fingerprint, fingerprint!)
                    ? { id: first.id, duplicate: true }
                    : { id: first.id, duplicate: true, conflict: true }
                )
                continue
              }
            }
            // The engine's id (it is in the message's headers already): sortable by acceptance time.
            const id = message.id
            if (key !== undefined) inBatch.set(key, { id, fingerprint })
            const record: Record.Complete = {
              id,
              status: "queued",
              attempts: 0,
              stream: message.stream,
              submittedAt: now,
              updatedAt: now,
              upstream: undefined,
              lastReply: undefined,
              recipients: message.to.map((address) => ({ address, status: "pending" as const })),
              nextAttemptAt: undefined,
              suspended: undefined,
              from: message.from,
              to: message.to,
              idempotencyKey: key,
              dueAt: now
            }
            // Encoded before the batch starts, so nothing can throw half-way through it.
            const content = asBuffer(message.content)
            fresh.push({ record, content, bytes: Record.encode(record, content) })
            results.push({ id, duplicate: false })
          }
        })
        if (depth + fresh.length > settings.maxDepth) {
          return yield* new QueueFull({ depth, maxDepth: settings.maxDepth })
        }
        if (fresh.length > 0) {
          depth += fresh.length
          const done = commit(store, () => {
            for (const { bytes, record } of fresh) {
              putNew(record.id, bytes)
              store.db.due.put([record.stream, now, record.id], empty)
            }
            // The key's holder with its fingerprint, so that the key repeated with another message is told apart.
            for (const [key, holder] of inBatch) store.db.idempotency.put(idempotencyKey(key), Idempotency.encodeHolder(holder))
          })
          for (const [key, holder] of inBatch) committing.set(key, { holder, done })
          // Kept before the commit lands: nothing takes a message before its due key is on disk.
          // The content as the record's bytes end with it (the same bytes, not a copy): the caller's
          // buffer is then garbage at once, and only one buffer per message lives on until it is taken.
          for (const { bytes, content, record } of fresh) recent.add({ record, content: bytes.subarray(bytes.length - content.byteLength) })
          yield* Effect.tryPromise({ try: () => done, catch: failure("enqueue", "writing messages") }).pipe(
            Effect.tapError(() =>
              Effect.sync(() => {
                depth -= fresh.length
                for (const { record } of fresh) recent.take(record.id)
              })
            ),
            Effect.ensuring(Effect.sync(() => {
              for (const [key, { id }] of inBatch) if (committing.get(key)?.holder.id === id) committing.delete(key)
            }))
          )
          // Checked once the keys are visible: a scan that ran before then may have passed them.
          for (const { record } of fresh) rewindIfBehind(record.stream, now, record.id)
          changed.notify()
        }
        // A duplicate of a message still being written is accepted only once that one is on disk.
        for (const done of waitFor) {
          yield* Effect.tryPromise({ try: () => done, catch: failure("enqueue", "writing messages") })
        }
        return results
      })

    const take: DeliveryQueueShape["take"] = (stream, max) =>
      Effect.gen(function*() {
        for (;;) {
          const woken = changed.next()
          const now = yield* Clock.currentTimeMillis
          const nextExpiry = yield* expireLeases(now)
          const { found, nextDue } = yield* scan(stream, now, Math.max(1, max))
          const wakeAt = Math.min(nextDue, nextExpiry)
          if (found.length > 0) {
            const taken = yield* lease(found, now)
            cursors.set(stream, found[found.length - 1]!)
            if (taken.length > 0) return taken
            continue
          }
          // Nothing after the cursor. What comes back before it rewinds it, so it stays: starting over
          // would walk every key leased and not yet settled at each take while the queue runs dry. Once
          // nothing is leased, a scan looks from the start again: what lies before the cursor is gone.
          if (leased.size === 0) cursors.delete(stream)
          yield* wakeAt === Infinity ? woken : Effect.race(woken, Effect.sleep(Math.max(1, wakeAt - now)))
        }
      })

    /**
     * Outcomes in one write transaction. A leased record is the one `take` decoded (this process wrote
     * it and nothing else writes while it holds the lease): it is not read and checked again.
     */
    const settleAll: DeliveryQueueShape["settleAll"] = (entries) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const writes: Array<{ readonly before: Record.Stored; readonly after: Record.Stored; readonly bytes: Buffer; readonly apart: boolean }> = []
        const final: Array<string> = []
        for (const { id, settlement } of entries) {
          recent.take(id)
          let entry: Record.Entry | undefined = leased.get(id)
          if (entry === undefined) {
            const stored = yield* read(id, () => {}, "settle")
            if (Option.isNone(stored)) continue
            entry = stored.value
          }
          const before = entry.record
          if (isFinal(before.status)) continue
          const deferred = settlement.status === "deferred"
          const after: Record.Stored = {
            ...settledRecord(before, settlement, now),
            dueAt: deferred ? Math.ceil(settlement.retryAt ?? now) : before.dueAt
          }
          // A final record keeps no content.
          const content = deferred ? entry.content : undefined
          writes.push({ before, after, bytes: Record.encode(after, content), apart: entry.content === "apart" })
          if (!deferred) final.push(id)
        }
        if (writes.length === 0) return
        yield* write("settle", "writing outcomes", () => {
          for (const { after, apart, before, bytes } of writes) {
            const id = after.id
            store.db.due.remove([before.stream, before.dueAt, id])
            if (after.status === "deferred") {
              store.db.messages.put(id, bytes)
              store.db.due.put([after.stream, after.dueAt, id], empty)
            } else {
              store.db.messages.remove(id)
              store.db.finals.put(id, bytes)
              if (apart) store.db.contents.remove(id)
            }
          }
          // One entry for the batch's final messages, not one each: they all expire together.
          if (final.length > 0) store.db.expiries.put([now + settings.retentionMs, final[0]!], Record.pack(final))
        })
        // Only now: until the commit lands, the message's key is still in the due index, and the lease
        // is what keeps a scan from taking it again.
        let deferred = 0
        for (const { after } of writes) {
          leased.delete(after.id)
          if (after.status === "deferred") {
            deferred++
            rewindIfBehind(after.stream, after.dueAt, after.id)
          }
        }
        depth -= writes.length - deferred
        if (deferred > 0) changed.notify()
      })

    const settle: DeliveryQueueShape["settle"] = (id, settlement: Settlement) => settleAll([{ id, settlement }])

    // An operator's action on waiting messages: a retry or a bounce is a settlement like any other
    // (one transaction); a delete drops the record, its content and its due key.
    const act: NonNullable<DeliveryQueueShape["act"]> = (ids, action) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const waiting: Array<Record.Stored> = []
        for (const id of ids) {
          if (leased.has(id)) continue
          const stored = yield* read(id, () => {}, "settle")
          if (Option.isNone(stored) || isFinal(stored.value.record.status)) continue
          if (action._tag === "retry" && stored.value.record.status !== "deferred") continue
          waiting.push(stored.value.record)
        }
        if (action._tag === "delete") {
          yield* write("settle", "deleting messages", () => {
            for (const r of waiting) {
              recent.take(r.id)
              store.db.due.remove([r.stream, r.dueAt, r.id])
              store.db.messages.remove(r.id)
              store.db.contents.remove(r.id)
              // Its idempotency key goes with it: the key submitted again makes a new message.
              const key = r.idempotencyKey === undefined ? undefined : idempotencyKey(r.idempotencyKey)
              const holder = key === undefined ? undefined : store.db.idempotency.get(key)
              if (holder !== undefined && Idempotency.decodeHolder(holder).id === r.id) store.db.idempotency.remove(key!)
            }
          })
          depth -= waiting.length
        } else {
          yield* settleAll(waiting.map((r) => ({
            id: r.id,
            settlement: action._tag === "retry"
              ? { status: "deferred", attempts: r.attempts, upstream: r.upstream, lastReply: r.lastReply, recipients: r.recipients, retryAt: now }
              : { status: "bounced", attempts: r.attempts, upstream: r.upstream, lastReply: r.lastReply, recipients: bouncedRecipients(r.recipients, action.reason) }
          })))
        }
        return waiting.map((r) => r.id)
      })

    // A released message's key never left the due index: forgetting the lease makes it ready again.
    const release: DeliveryQueueShape["release"] = (ids) =>
      Effect.sync(() => {
        let back = 0
        for (const id of ids) if (leased.delete(id)) back++
        if (back > 0) {
          cursors.clear()
          changed.notify()
        }
      })

    const status: DeliveryQueueShape["status"] = (id) =>
      read(id, () => {}, "status").pipe(Effect.map(Option.map((entry) => toRecord(entry.record))))

    // Inspection reads `limit` keys at most per page, final records among them skipped: a page may
    // hold fewer records than that, and its cursor says where the next one starts.
    const scanRecords: DeliveryQueueShape["scan"] = (cursor, limit) =>
      guard("status", "scanning records", () => {
        const records: Array<MessageRecord> = []
        let last: string | undefined
        let read = 0
        // A lazy range: leaving the loop ends the read.
        for (const { key, value } of store.db.messages.getRange(cursor === undefined ? {} : { start: cursor })) {
          if (key === cursor) continue
          if (read++ === limit) return { records, cursor: last }
          last = key
          const decoded = Record.decode(value)
          if (Either.isRight(decoded) && !isFinal(decoded.right.record.status)) records.push(toRecord(decoded.right.record))
        }
        return { records, cursor: undefined }
      })

    const amend: DeliveryQueueShape["amend"] = (id, change) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        recent.take(id)
        // Read and rewritten in one transaction: two reports on one message at once both land.
        const outcome = yield* update("amend", "amending a record", (db) => {
          // Written back where it was read: `finals`, or `messages` (not final, or an earlier spool's).
          const queued = db.messages.get(id)
          const home = queued === undefined ? db.finals : db.messages
          const bytes = queued ?? db.finals.get(id)
          const decoded = decodeAt(bytes)
          if (decoded === undefined) return undefined
          if (Either.isLeft(decoded)) return { _tag: "Unreadable", reason: decoded.left, bytes } as const
          const amended = amendRecord(decoded.right.record, change, now)
          if (amended !== undefined) home.put(id, Record.encode(amended, decoded.right.content))
          return { _tag: "Read", amended } as const
        })
        if (outcome === undefined) return Option.none()
        if (outcome._tag === "Unreadable") {
          yield* quarantine(id, outcome.reason, outcome.bytes, () => {})
          return Option.none()
        }
        return Option.map(Option.fromNullable(outcome.amended), toRecord)
      })

    const compact = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      let dropped = 0
      for (;;) {
        const { expired, keys } = yield* guard("status", "reading expiries", () => {
          const expired: Array<ExpiryKey> = []
          const keys: Array<{ readonly id: string; readonly key: string | undefined }> = []
          for (const { key, value } of store.db.expiries.getRange({ end: [now + 1, ""], limit: 100 })) {
            expired.push(key)
            for (const id of expiring(key, value)) {
              const bytes = recordAt(store.db, id)
              const decoded = bytes === undefined ? undefined : Record.decode(bytes)
              const kept = decoded !== undefined && Either.isRight(decoded) ? decoded.right.record.idempotencyKey : undefined
              keys.push({ id, key: kept === undefined ? undefined : idempotencyKey(kept) })
            }
          }
          return { expired, keys }
        })
        if (expired.length === 0) return dropped
        yield* write("status", "dropping expired records", () => {
          for (const key of expired) store.db.expiries.remove(key)
          for (const { id, key } of keys) {
            store.db.finals.remove(id)
            store.db.messages.remove(id)
            const holder = key === undefined ? undefined : store.db.idempotency.get(key)
            if (holder !== undefined && Idempotency.decodeHolder(holder).id === id) store.db.idempotency.remove(key!)
          }
        })
        dropped += keys.length
      }
    })

    return {
      enqueue,
      take,
      settle,
      settleAll,
      release,
      status,
      amend,
      scan: scanRecords,
      scanOrder: "id",
      act,
      depth: Effect.sync(() => depth),
      isOpen: Effect.sync(() => open),
      compact,
      close: Effect.sync(() => {
        open = false
      })
    }
  })
