import { execFile, spawn } from "node:child_process"
import { rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { DeliveryQueue, messageId, StatusStore } from "@sluice/engine"
import { Sink } from "@sluice/sink"
import type { Scope } from "effect"
import { Context, Effect, Layer } from "effect"
import { AmqpQueue } from "../../src/index.js"
import { url as brokerUrl } from "./broker.js"

const bin = fileURLToPath(new URL("../../../../node_modules/.bin/sluice", import.meta.url))
export const redisUrl = "redis://127.0.0.1:6379"

export const freePort = Effect.async<number>((resume) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Deletes the Redis keys under `prefix:` when the scope closes. */
export const cleanRedis = (prefix: string) =>
  Effect.addFinalizer(() =>
    Effect.async<void>((resume) => {
      execFile("sh", ["-c", `redis-cli --scan --pattern '${prefix}:*' | xargs -r redis-cli del`], () => resume(Effect.void))
    })
  )

/** A sink that counts, per recipient, how many times each message arrived, and when. */
export interface CountingSink {
  readonly port: number
  /** Recipients refused once with 451. */
  readonly deferred: ReadonlySet<string>
  readonly times: Map<string, number>
  readonly arrivals: Array<number>
  readonly unique: () => number
  readonly duplicates: () => number
}

/** With `deferFirst`, the first RCPT of the recipients it picks is answered 451 (they are retried). */
export const countingSink = (
  options: { readonly deferFirst?: (recipient: string) => boolean } = {}
): Effect.Effect<CountingSink, Error, Scope.Scope> => Effect.gen(function*() {
  const times = new Map<string, number>()
  const arrivals: Array<number> = []
  const deferred = new Set<string>()
  const sink = yield* Sink.make({
    record: "count",
    onRcptTo: (address) => {
      if (options.deferFirst === undefined || !options.deferFirst(address) || deferred.has(address)) return undefined
      deferred.add(address)
      return { code: 451, text: "4.7.1 try again later" }
    },
    onData: (message) => {
      arrivals.push(Date.now())
      for (const to of message.to) times.set(to, (times.get(to) ?? 0) + 1)
      return undefined
    }
  })
  return {
    port: sink.port,
    deferred,
    times,
    arrivals,
    unique: () => times.size,
    duplicates: () => [...times.values()].reduce((sum, n) => sum + n - 1, 0)
  }
})

export interface Node {
  readonly name: string
  readonly pid: number
  readonly port: number
  readonly stdout: () => string
  readonly kill: (signal: NodeJS.Signals) => void
  readonly exited: Promise<number | null>
  /** A counter's value from the node's /metrics. */
  readonly metric: (line: string) => Effect.Effect<number>
  readonly readyz: Effect.Effect<number>
}

export interface NodeSettings {
  readonly prefix: string
  readonly sinkPort: number
  readonly upstream?: Record<string, unknown>
  readonly config?: Record<string, unknown>
}

/** `sluice serve` on the shared broker and Redis, under `prefix`; killed (SIGKILL) if still running when the scope closes. */
export const startNode = (name: string, settings: NodeSettings): Effect.Effect<Node, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const config = {
      http: { host: "127.0.0.1", port },
      queue: { kind: "rabbitmq", url: brokerUrl, prefix: settings.prefix },
      cache: { kind: "redis", url: redisUrl, prefix: settings.prefix },
      upstreams: [{ name: "sink", host: "127.0.0.1", port: settings.sinkPort, maxConnections: 4, ...settings.upstream }],
      retry: { initialDelay: "200 millis", maxDelay: "1 second" },
      ...settings.config
    }
    const file = join(tmpdir(), `${settings.prefix}-${name}.json`)
    writeFileSync(file, JSON.stringify(config))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(file, { force: true })))
    const node = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(bin, ["serve", "--config", file, "--drain-timeout", "2 seconds"], { stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
        const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
        const base = `http://127.0.0.1:${port}`
        const node: Node = {
          name,
          pid: child.pid!,
          port,
          stdout: () => stdout,
          kill: (signal) => void child.kill(signal),
          exited,
          metric: (line) =>
            Effect.promise(async () => {
              const text = await (await fetch(`${base}/metrics`)).text()
              const found = text.split("\n").find((l) => l.startsWith(line))
              return found === undefined ? 0 : Number(found.slice(line.length).trim())
            }),
          readyz: Effect.promise(() => fetch(`${base}/readyz`).then((r) => r.status, () => 0))
        }
        return { child, node }
      }),
      ({ child }) =>
        child.exitCode === null && child.signalCode === null
          ? Effect.promise(() => new Promise<void>((resolve) => (child.once("close", () => resolve()), child.kill("SIGKILL"))))
          : Effect.void
    ).pipe(Effect.map(({ node }) => node))
    yield* waitFor(`${name} serving`, () => node.stdout().includes("\"msg\":\"serving\""), 60_000, node)
    return node
  })

/** Polls `test` every 50 ms until it holds; dies after `ms` with what the node said. */
export const waitFor = (what: string, test: () => boolean, ms: number, node?: Node) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!test()) {
      if (Date.now() > deadline) {
        return yield* Effect.dieMessage(`timed out waiting for ${what}${node === undefined ? "" : `\n${node.stdout()}`}`)
      }
      yield* Effect.sleep("50 millis")
    }
  })

/** Submits messages `from`..`to`-1 (recipient r<i>@example.net) in batches of 1000, round-robin over the nodes. */
export const submit = (nodes: ReadonlyArray<Node>, from: number, to: number) =>
  Effect.promise(async () => {
    let batch = 0
    for (let start = from; start < to; start += 1000, batch++) {
      const node = nodes[batch % nodes.length]!
      const messages = Array.from({ length: Math.min(1000, to - start) }, (_, i) => ({
        from: "sender@example.com",
        to: [`r${start + i}@example.net`],
        subject: `message ${start + i}`,
        text: "hello"
      }))
      const response = await fetch(`http://127.0.0.1:${node.port}/v1/messages/batch`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ messages })
      })
      const body = await response.json() as { results: Array<{ id?: string }> }
      if (response.status !== 202 || body.results.some((r) => r.id === undefined)) {
        throw new Error(`batch at ${start} to ${node.name}: ${response.status} ${JSON.stringify(body).slice(0, 500)}`)
      }
    }
  })

/**
 * Puts messages `from`..`to`-1 straight into the broker, as a node's submit does after composing them,
 * from a queue in the test process that takes nothing: the nodes find a full queue when they start.
 */
export const fill = (prefix: string, from: number, to: number) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      AmqpQueue.layer({ url: brokerUrl, prefix, streams: ["default"] }).pipe(Layer.provide(StatusStore.layerMemory()))
    )
    const queue = Context.get(context, DeliveryQueue)
    for (let start = from; start < to; start += 1000) {
      yield* queue.enqueue(Array.from({ length: Math.min(1000, to - start) }, (_, i) => ({
        id: messageId(Date.now()),
        from: "sender@example.com",
        to: [`r${start + i}@example.net`],
        content: new TextEncoder().encode(`Subject: message ${start + i}\r\n\r\nhello\r\n`),
        stream: "default"
      })))
    }
  }).pipe(Effect.scoped)
