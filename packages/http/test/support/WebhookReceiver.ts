import type { Scope } from "effect"
import { Effect } from "effect"
import * as http from "node:http"

export interface Received {
  readonly status: number
  readonly events: ReadonlyArray<{ readonly id?: string; readonly _tag: string }>
  readonly headers: http.IncomingHttpHeaders
}

export interface WebhookReceiver {
  readonly url: string
  /** Every request in arrival order, with the status it was answered. */
  readonly requests: ReadonlyArray<Received>
  /** The events of the requests answered 2xx, in order. */
  readonly accepted: () => ReadonlyArray<{ readonly id?: string; readonly _tag: string }>
  /** Changes the answer from now on. */
  setAnswer: (answer: (index: number) => number) => void
}

/** A node:http server on 127.0.0.1 (port from 0) answering each POST with `answer(index)`. */
export const make = (answer: (index: number) => number): Effect.Effect<WebhookReceiver, never, Scope.Scope> =>
  Effect.gen(function*() {
    const requests: Array<Received> = []
    let current = answer
    const server = yield* Effect.acquireRelease(
      Effect.async<http.Server>((resume) => {
        const server = http.createServer((req, res) => {
          const chunks: Array<Buffer> = []
          req.on("data", (chunk: Buffer) => chunks.push(chunk))
          req.on("end", () => {
            const status = current(requests.length)
            const body = JSON.parse(Buffer.concat(chunks).toString()) as { events: Received["events"] }
            requests.push({ status, events: body.events, headers: req.headers })
            res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "not now")
          })
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const { port } = server.address() as { port: number }
    return {
      url: `http://127.0.0.1:${port}/hooks/sluice`,
      requests,
      accepted: () => requests.filter((r) => r.status < 300).flatMap((r) => r.events),
      setAnswer: (next) => {
        current = next
      }
    }
  })
