import type { Reply } from "./Message.js"

interface Base {
  readonly id: string
  /** Epoch milliseconds. */
  readonly at: number
}

/** What happens to messages, in order, as a Stream (`Sluice.events`) or an async iterable (`events()`). */
export type DeliveryEvent =
  | { readonly _tag: "CircuitChanged"; readonly upstream: string; readonly state: "closed" | "open" | "half-open"; readonly at: number }
  | Base & { readonly _tag: "Accepted"; readonly stream: string; readonly recipients: number }
  | Base & { readonly _tag: "Attempt"; readonly upstream: string; readonly attempt: number }
  | Base & { readonly _tag: "Delivered"; readonly upstream: string; readonly attempt: number; readonly reply: Reply | undefined; readonly durationMs: number }
  | Base & { readonly _tag: "Deferred"; readonly upstream: string; readonly attempt: number; readonly reply: Reply | undefined; readonly retryAt: number; readonly reason: string }
  | Base & { readonly _tag: "Bounced"; readonly upstream: string; readonly attempt: number; readonly reply: Reply | undefined; readonly durationMs: number }
  | Base & { readonly _tag: "Failed"; readonly upstream: string | undefined; readonly attempt: number; readonly reply: Reply | undefined; readonly reason: string; readonly durationMs: number }
