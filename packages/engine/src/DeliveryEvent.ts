import type { Category } from "./Bounce.js"
import type { RecipientStatus, Reply, Status } from "./Message.js"

interface Base {
  readonly id: string
  /** Epoch milliseconds. */
  readonly at: number
}

/** One attempt's outcome: where, which attempt, the last reply, and every recipient's own result. */
interface Outcome extends Base {
  readonly upstream: string
  readonly stream: string
  readonly attempt: number
  readonly reply: Reply | undefined
  /** Of the last reply that was not a delivery (absent when every recipient was delivered). */
  readonly category?: Category | undefined
  readonly recipients: ReadonlyArray<RecipientStatus>
}

/** What happens to messages, in order, as a Stream (`Sluice.events`) or an async iterable (`events()`). */
export type DeliveryEvent =
  | { readonly _tag: "CircuitChanged"; readonly upstream: string; readonly state: "closed" | "open" | "half-open"; readonly at: number }
  | Base & { readonly _tag: "Accepted"; readonly stream: string; readonly recipients: number }
  | Base & { readonly _tag: "Attempt"; readonly upstream: string; readonly attempt: number }
  /** An upstream failed before it replied for the recipients; the message goes to the next one. */
  | Base & { readonly _tag: "Failover"; readonly upstream: string; readonly attempt: number; readonly reason: string }
  | Outcome & { readonly _tag: "Delivered"; readonly durationMs: number }
  | Outcome & { readonly _tag: "Deferred"; readonly retryAt: number; readonly reason: string }
  | Outcome & { readonly _tag: "Bounced"; readonly durationMs: number }
  | Outcome & { readonly _tag: "Partial"; readonly durationMs: number }
  | Omit<Outcome, "upstream"> & {
    readonly _tag: "Failed"
    readonly upstream: string | undefined
    readonly reason: string
    readonly durationMs: number
  }
  /** A recipient the upstream accepted bounced later (a delivery status notification, RFC 3464). */
  | Base & {
    readonly _tag: "LateBounce"
    readonly recipient: RecipientStatus
    /** The message's status now. */
    readonly status: Status
  }
  /** A recipient complained (an abuse report, RFC 5965, or `POST /v1/complaints`). */
  | Base & { readonly _tag: "Complained"; readonly address: string | undefined; readonly source: "arf" | "api" }
