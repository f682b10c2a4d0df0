import type { Server, Socket } from "node:net"
import { connect, createServer } from "node:net"
import type { Scope } from "effect"
import { Effect } from "effect"

/** A TCP relay to the broker that a test can take down (as if the broker went away) and bring back. */
export interface Proxy {
  readonly port: number
  /** Stops listening and cuts every relayed connection. */
  readonly down: Effect.Effect<void>
  /** Listens again on the same port. */
  readonly up: Effect.Effect<void>
}

export const make = (target = 5672): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const sockets = new Set<Socket>()
    let server: Server | undefined
    const listen = (port: number) =>
      Effect.async<number>((resume) => {
        const s = createServer((client) => {
          const broker = connect(target, "127.0.0.1")
          for (const socket of [client, broker]) {
            sockets.add(socket)
            socket.on("close", () => sockets.delete(socket))
            socket.on("error", () => (client.destroy(), broker.destroy()))
          }
          client.pipe(broker).pipe(client)
        })
        server = s
        s.listen(port, "127.0.0.1", () => resume(Effect.succeed((s.address() as { port: number }).port)))
      })
    const down = Effect.sync(() => {
      server?.close()
      server = undefined
      for (const socket of sockets) socket.destroy(new Error("proxy down"))
    })
    const port = yield* listen(0)
    yield* Effect.addFinalizer(() => down)
    return { port, down, up: Effect.asVoid(listen(port)) }
  })
