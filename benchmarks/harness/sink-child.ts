/**
 * A child process that runs @sluice/sink (smtp-server) in counting mode, so the sink has its own event
 * loop and CPU and the clients measured in other processes are not charged for its work.
 * Listens on the port given as its argument, or a free one. IPC: sends {type: "listening", host, port}; answers {type: "count"} with {type: "count", received,
 * connections}; exits on {type: "stop"} or when the parent goes away.
 */
import { Effect, Exit, Scope } from "effect"
import { Sink } from "@sluice/sink"

const send = (message: unknown) => process.send?.(message)

const main = async () => {
  const scope = Effect.runSync(Scope.make())
  const sink = await Effect.runPromise(Sink.make({ host: "127.0.0.1", port: Number(process.argv[2] ?? 0), record: "count" }).pipe(Scope.extend(scope)))
  const stop = async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    process.exit(0)
  }
  process.on("message", (message: { type?: string }) => {
    if (message.type === "count") {
      send({ type: "count", received: sink.received, connections: { ...sink.connections } })
    } else if (message.type === "stop") {
      void stop()
    }
  })
  process.on("disconnect", () => process.exit(0))
  send({ type: "listening", host: sink.host, port: sink.port })
}

main().catch((error) => {
  console.error("sink child:", error)
  process.exit(1)
})
