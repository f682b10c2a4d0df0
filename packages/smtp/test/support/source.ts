import type { SmtpError, SmtpSession } from "@sluice/smtp"
import { SmtpPool } from "@sluice/smtp"
import type { Either } from "effect"
import { Effect } from "effect"
import { eventually } from "./wait.js"

/** A delivery with an id, so outcomes can be told apart. */
export interface Tagged extends SmtpPool.Delivery {
  readonly id: number
}

export interface Ended {
  readonly outcome: Either.Either<SmtpSession.SendResult, SmtpError>
  readonly reused: boolean
}

/**
 * A Source over a list of deliveries, as the engine would be: `next` hands them out in order,
 * `done` records each outcome (and fails the test if a delivery ends twice).
 */
export const listSource = (deliveries: ReadonlyArray<Tagged>) => {
  const waiting = [...deliveries]
  const ended = new Map<number, Ended>()
  const order: Array<number> = []
  const source: SmtpPool.Source<Tagged> = {
    next: () => waiting.shift(),
    done: (delivery, outcome, info) => {
      if (ended.has(delivery.id)) throw new Error(`delivery ${delivery.id} ended twice`)
      ended.set(delivery.id, { outcome, reused: info.reused })
      order.push(delivery.id)
    }
  }
  return {
    source,
    ended,
    /** Ids in the order they ended. */
    order,
    /** Deliveries not pulled yet. */
    waiting,
    /** Adds a delivery to the source (wake the pool after). */
    add: (delivery: Tagged) => waiting.push(delivery),
    /** Waits (real time) until `n` deliveries have ended. */
    awaitEnded: (n: number, millis = 5_000) => eventually(() => ended.size >= n, millis)
  }
}

/** A delivery of `content` from a@example.org to the addresses given (default: `<id>@example.net`). */
export const delivery = (id: number, content: string | Uint8Array = `Subject: ${id}\r\n\r\nmessage ${id}\r\n`, to?: ReadonlyArray<string>): Tagged => ({
  id,
  from: "a@example.org",
  to: to ?? [`${id}@example.net`],
  content: typeof content === "string" ? Buffer.from(content, "latin1") : content
})

/** The verdicts of an outcome, or the error's tag, phase and reason/code, for compact assertions. */
export const summary = (ended: Ended | undefined): unknown => {
  if (ended === undefined) return "pending"
  const outcome = ended.outcome
  if (outcome._tag === "Right") return outcome.right.recipients.map((r) => `${r.address} ${r.verdict} ${r.phase} ${r.reply.code}`)
  const error = outcome.left
  switch (error._tag) {
    case "SmtpConnectionError":
      return `${error._tag} ${error.phase} ${error.reason}`
    case "SmtpTimeoutError":
      return `${error._tag} ${error.phase} ${error.timeoutMillis}`
    case "SmtpReplyError":
      return `${error._tag} ${error.phase} ${error.code}`
    default:
      return `${error._tag} ${error.phase}`
  }
}

/** Makes a pool in the current scope and wakes it once. */
export const started = (options: Parameters<typeof SmtpPool.make>[0], source: SmtpPool.Source<Tagged>) =>
  SmtpPool.make(options, source).pipe(Effect.tap((pool) => pool.wake()))
