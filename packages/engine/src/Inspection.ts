/**
 * What an operator sees of the queue: counts by status, stream, upstream and recipient domain, and
 * the messages that match a filter, page by page. Both read the queue's `scan`, a page at a time, so
 * a deep queue is never held in memory.
 */
import { Effect } from "effect"
import { domainOf } from "./Address.js"
import type { DeliveryQueueShape, QueueAction, QueueError } from "./DeliveryQueue.js"
import { QueueActionUnsupported } from "./DeliveryQueue.js"
import type { MessageRecord, RecipientStatus, Reply } from "./Message.js"

/** The statuses a message in the queue can have (final ones are not in the queue). */
export const queuedStatuses = ["queued", "deferred", "delivering"] as const
export type QueuedStatus = typeof queuedStatuses[number]

export interface Filter {
  readonly status?: QueuedStatus | undefined
  readonly stream?: string | undefined
  /** A recipient domain: a message matches while one of its recipients there is still waiting. */
  readonly domain?: string | undefined
  /** The upstream it is with, or was last tried on. */
  readonly upstream?: string | undefined
  /** Submitted at least this many ms ago. */
  readonly olderThan?: number | undefined
}

export interface Summary {
  readonly total: number
  readonly byStatus: Readonly<Record<string, number>>
  readonly byStream: Readonly<Record<string, number>>
  /** By the upstream a message is with or was last tried on; never-tried messages are in none. */
  readonly byUpstream: Readonly<Record<string, number>>
  /** By the domains of the recipients still waiting (a message counts once per domain). */
  readonly byDomain: Readonly<Record<string, number>>
  /** When the oldest message in the queue was accepted (epoch ms). */
  readonly oldestSubmittedAt: number | undefined
  /** The soonest retry of a deferred message (epoch ms). */
  readonly nextAttemptAt: number | undefined
}

/** An outcome that was not a delivery, as an operator looks it up later (the engine keeps the last 50). */
export interface Failure {
  readonly id: string
  readonly status: "deferred" | "bounced" | "partial" | "failed"
  readonly at: number
  readonly upstream: string
  readonly stream: string
  readonly attempt: number
  readonly reply: Reply | undefined
  readonly reason: string
  readonly recipients: ReadonlyArray<RecipientStatus>
}

export interface Page {
  readonly messages: ReadonlyArray<MessageRecord>
  /** Give it back for the next page; absent: there is none. */
  readonly cursor: string | undefined
}


/** The distinct domains of a record's recipients that are still waiting. */
export const waitingDomains = (record: MessageRecord): ReadonlySet<string> => {
  const domains = new Set<string>()
  for (const r of record.recipients) if (r.status === "pending" || r.status === "deferred") domains.add(domainOf(r.address))
  return domains
}

export const matches = (filter: Filter, record: MessageRecord, now: number): boolean =>
  (filter.status === undefined || record.status === filter.status) &&
  (filter.stream === undefined || record.stream === filter.stream) &&
  (filter.upstream === undefined || record.upstream === filter.upstream) &&
  (filter.olderThan === undefined || record.submittedAt <= now - filter.olderThan) &&
  (filter.domain === undefined || waitingDomains(record).has(filter.domain.toLowerCase()))

const scanPage = 1000

const bump = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1
}

/** Counts over the whole queue, as `present` shows each record (the scheduler knows what is on the wire). */
export const summarize = (
  queue: DeliveryQueueShape,
  present: (record: MessageRecord) => MessageRecord
): Effect.Effect<Summary, QueueError> =>
  Effect.gen(function*() {
    let total = 0
    const byStatus: Record<string, number> = { queued: 0, deferred: 0, delivering: 0 }
    const byStream: Record<string, number> = {}
    const byUpstream: Record<string, number> = {}
    const byDomain: Record<string, number> = {}
    let oldestSubmittedAt: number | undefined
    let nextAttemptAt: number | undefined
    let cursor: string | undefined
    do {
      const page = yield* queue.scan(cursor, scanPage)
      cursor = page.cursor
      for (const stored of page.records) {
        const record = present(stored)
        total++
        bump(byStatus, record.status)
        bump(byStream, record.stream)
        if (record.upstream !== undefined) bump(byUpstream, record.upstream)
        for (const domain of waitingDomains(record)) bump(byDomain, domain)
        oldestSubmittedAt = Math.min(oldestSubmittedAt ?? Infinity, record.submittedAt)
        if (record.status === "deferred" && record.nextAttemptAt !== undefined) {
          nextAttemptAt = Math.min(nextAttemptAt ?? Infinity, record.nextAttemptAt)
        }
      }
    } while (cursor !== undefined)
    return { total, byStatus, byStream, byUpstream, byDomain, oldestSubmittedAt, nextAttemptAt }
  })

/**
 * Up to `limit` messages matching `filter` from `cursor` on. It reads at most ten pages of the queue
 * per call, so a rare match costs bounded work per call: the page may then be short, with a cursor.
 */
export const list = (
  queue: DeliveryQueueShape,
  present: (record: MessageRecord) => MessageRecord,
  filter: Filter,
  from: string | undefined,
  limit: number,
  now: number
): Effect.Effect<Page, QueueError> =>
  Effect.gen(function*() {
    const messages: Array<MessageRecord> = []
    let cursor = from
    for (let pages = 0; pages < 10 && messages.length < limit; pages++) {
      const page = yield* queue.scan(cursor, limit - messages.length)
      cursor = page.cursor
      for (const stored of page.records) {
        const record = present(stored)
        if (matches(filter, record, now)) messages.push(record)
      }
      if (cursor === undefined) break
    }
    return { messages, cursor }
  })

// The oldest is the first record a page finds, so its pages are small: a page reads (and decodes)
// every record it covers, content and all, and a queue holding mostly what is not final yet (the
// spool keeps final records apart) has it at its very start.
const oldestPage = 16

/**
 * A reader of when the oldest message in the queue was accepted, to be called again and again (a
 * gauge). On a queue scanned in id order, the oldest is the first record found, and it never moves
 * back: each call reads on from where the last oldest was, at most `budget` pages. Otherwise every
 * call is a whole summary.
 */
export const oldestReader = (queue: DeliveryQueueShape, budget = 1000): Effect.Effect<number | undefined, QueueError> => {
  if (queue.scanOrder !== "id") return Effect.map(summarize(queue, (record) => record), (s) => s.oldestSubmittedAt)
  // The cursor of the page the oldest was last found in: what lies before it is final for good.
  let from: string | undefined
  let last: number | undefined
  return Effect.gen(function*() {
    let cursor = from
    for (let pages = 0; pages < budget; pages++) {
      const page = yield* queue.scan(cursor, oldestPage)
      const first = page.records[0]
      if (first !== undefined) {
        from = cursor
        return last = first.submittedAt
      }
      if (page.cursor === undefined) {
        from = cursor
        return last = undefined
      }
      cursor = page.cursor
    }
    // Not reached within the budget: go on from there next time, and say what was known.
    from = cursor
    return last
  })
}

export interface Acted {
  /** Messages that matched the filter (and, for a retry, were deferred). */
  readonly matched: number
  /** Of those, the ones the action was done to (none with `dryRun`). */
  readonly acted: number
  /** Matched but on a connection right now: left to end as they will. */
  readonly delivering: number
}

/**
 * Does `action` to every queued message matching `filter`, a page at a time: what the scheduler holds
 * of them is taken back from it first (`giveBack`, then released), so a suspended upstream's buffer is
 * reached too; a message on a connection is left alone. With `dryRun`, only counts.
 */
export const act = (
  queue: DeliveryQueueShape,
  present: (record: MessageRecord) => MessageRecord,
  giveBack: (ids: ReadonlySet<string>) => ReadonlyArray<string>,
  filter: Filter,
  action: QueueAction,
  options: { readonly dryRun: boolean; readonly now: number }
): Effect.Effect<Acted, QueueError | QueueActionUnsupported> =>
  Effect.gen(function*() {
    const perform = queue.act
    if (perform === undefined && !options.dryRun) {
      return yield* new QueueActionUnsupported({
        action: action._tag,
        reason: "this queue keeps its waiting messages where they cannot be reached one by one (RabbitMQ's delay queues); use the embedded spool"
      })
    }
    let matched = 0
    let acted = 0
    let delivering = 0
    let cursor: string | undefined
    do {
      const page = yield* list(queue, present, filter, cursor, scanPage, options.now)
      cursor = page.cursor
      const ids: Array<string> = []
      for (const record of page.messages) {
        if (record.status === "delivering") delivering++
        else if (action._tag !== "retry" || record.status === "deferred") ids.push(record.id)
      }
      matched += ids.length
      if (options.dryRun || ids.length === 0) continue
      if (action._tag !== "retry") {
        const back = giveBack(new Set(ids))
        if (back.length > 0) yield* queue.release(back)
      }
      acted += (yield* perform!(ids, action)).length
    } while (cursor !== undefined)
    return { matched, acted, delivering }
  })
