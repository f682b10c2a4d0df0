import type { DeliveryEvent } from "@sluice/engine"
import { Data, Duration, Effect } from "effect"
import type { Dispatcher } from "undici"
import { request } from "undici"

/** A post the receiver did not accept; `retryable` unless it answered a 4xx other than 408 or 429. */
export class WebhookPostFailed extends Data.TaggedError("WebhookPostFailed")<{
  readonly url: string
  readonly events: number
  readonly status?: number
  readonly reason: string
  readonly retryable: boolean
}> {
  override get message() {
    return `POST ${this.url} (${this.events} events): ${this.reason}`
  }
}

const retryableStatus = (status: number) => status >= 500 || status === 408 || status === 429

export interface PostOptions {
  readonly url: string
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly dispatcher: Dispatcher
  readonly timeout: Duration.DurationInput
}

/** One POST of `{"events": [...]}`; 2xx is success, anything else a WebhookPostFailed. */
export const post = (options: PostOptions, events: ReadonlyArray<DeliveryEvent>) => {
  const timeout = Duration.toMillis(options.timeout)
  const failed = (fields: { status?: number; reason: string; retryable: boolean }) =>
    new WebhookPostFailed({ url: options.url, events: events.length, ...fields })
  return Effect.tryPromise({
    try: async (signal) => {
      const response = await request(options.url, {
        method: "POST",
        dispatcher: options.dispatcher,
        headers: { ...options.headers, "content-type": "application/json" },
        body: JSON.stringify({ events }),
        signal,
        headersTimeout: timeout,
        bodyTimeout: timeout
      })
      // The body is read (and dropped) so the connection can carry the next post.
      await response.body.dump()
      return response.statusCode
    },
    catch: (error) => failed({ reason: String((error as Error)?.message ?? error), retryable: true })
  }).pipe(
    Effect.flatMap((status) =>
      status >= 200 && status < 300
        ? Effect.void
        : Effect.fail(failed({ status, reason: `answered ${status}`, retryable: retryableStatus(status) }))
    )
  )
}
