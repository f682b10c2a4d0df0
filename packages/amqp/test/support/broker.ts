import { randomBytes } from "node:crypto"
import type { Socket } from "node:net"
import * as amqp from "amqplib"
import type { Scope } from "effect"
import { Effect } from "effect"

export const url = "amqp://guest:guest@127.0.0.1:5672"

/**
 * A queue-name prefix of its own, and when the scope closes every queue under it deleted (the
 * broker's queues outlive processes: a test run must not leave any).
 */
export const freshPrefix: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => `sluice-test-${randomBytes(5).toString("hex")}`),
  (prefix) => deleteQueues(prefix)
)

/** Deletes the queues whose names start with `prefix.`, found through the management-free route: rabbitmqctl. */
export const deleteQueues = (prefix: string) =>
  Effect.promise(async () => {
    const { execFileSync } = await import("node:child_process")
    const names = execFileSync("rabbitmqctl", ["list_queues", "-q", "--no-table-headers", "name"], { encoding: "utf8" })
      .split("\n")
      .map((line) => line.trim())
      .filter((name) => name.startsWith(`${prefix}.`))
    if (names.length === 0) return
    const connection = await amqp.connect(url)
    const channel = await connection.createChannel()
    for (const name of names) await channel.deleteQueue(name)
    await connection.close()
  }).pipe(Effect.orDie)

/** Ready messages in one queue, as the broker counts them. */
export const readyIn = (queue: string) =>
  Effect.promise(async () => {
    const connection = await amqp.connect(url)
    const channel = await connection.createChannel()
    const { messageCount } = await channel.checkQueue(queue)
    await connection.close()
    return messageCount
  })

/**
 * Cuts every connection this process has to the broker from the client side, as a reset would: the
 * socket goes with an error, and no AMQP close handshake.
 */
export const cutConnections = Effect.sync(() => {
  const handles = (process as unknown as { _getActiveHandles: () => Array<unknown> })._getActiveHandles()
  let cut = 0
  for (const handle of handles) {
    const socket = handle as Partial<Socket>
    if (typeof socket.destroy === "function" && socket.remotePort === 5672) {
      socket.destroy(new Error("connection cut by the test"))
      cut++
    }
  }
  return cut
})

/** Runs rabbitmqctl (the tests run as root on this machine kind, next to the broker). */
export const rabbitmqctl = (...args: Array<string>) =>
  Effect.promise(async () => {
    const { execFileSync } = await import("node:child_process")
    return execFileSync("rabbitmqctl", args, { encoding: "utf8" })
  })
