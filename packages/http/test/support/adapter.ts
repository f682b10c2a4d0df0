import { HttpServer } from "@effect/platform"
import { Recipients, Templates } from "@sluice/content"
import { Config, MemoryQueue, Sluice, Suspensions } from "@sluice/engine"
import { Sink } from "@sluice/sink"
import type { Scope } from "effect"
import { Context, Effect, Layer, Logger, LogLevel, Schema } from "effect"
import { request } from "undici"
import { HttpAdapter, HttpConfig } from "../../src/index.js"

// What these tests configure: the engine's sections, the http section and a memory queue's.
const TestConfig = Schema.Struct({
  ...Config.SluiceConfig.fields,
  http: HttpConfig.Config,
  queue: Config.withDefault(MemoryQueue.Config, () => ({ kind: "memory" as const, maxDepth: 1_000_000 }))
})

export interface Answer {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly text: string
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly body: any
}

export interface CallOptions {
  /** Sent as JSON with Content-Type: application/json. */
  readonly json?: unknown
  /** Sent as it is. */
  readonly raw?: string | Buffer | AsyncIterable<Buffer>
  readonly headers?: Record<string, string>
}

/** One HTTP exchange over a real socket; fails when there is no answer (refused, reset). */
export const attempt = (base: string, method: string, path: string, options: CallOptions = {}): Effect.Effect<Answer, Error> =>
  Effect.tryPromise({ catch: (error) => error as Error, try: async () => {
    const headers: Record<string, string> = { ...options.headers }
    let body: string | Buffer | AsyncIterable<Buffer> | undefined = options.raw
    if (options.json !== undefined) {
      headers["content-type"] ??= "application/json"
      body = JSON.stringify(options.json)
    }
    const response = await request(`${base}${path}`, { method: method as "GET", headers, body: body as string })
    const text = await response.body.text()
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
    return { status: response.statusCode, headers: response.headers, text, body: parsed }
  } })

/** One HTTP exchange that must get an answer. */
export const call = (base: string, method: string, path: string, options: CallOptions = {}): Effect.Effect<Answer> =>
  Effect.orDie(attempt(base, method, path, options))

export interface Running {
  readonly base: string
  readonly sink: Sink.Sink
  readonly call: (method: string, path: string, options?: CallOptions) => Effect.Effect<Answer>
}

/**
 * The adapter on port 0 in front of an engine on a memory queue delivering to a real sink, all in
 * the scope. `config` is merged over that default (its `http` too).
 */
export const start = (
  config: Record<string, unknown> = {},
  sinkOptions: Sink.SinkOptions = {},
  adapterOptions: HttpAdapter.Options = {}
): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.gen(function*() {
    const sink = yield* Sink.make(sinkOptions).pipe(Effect.orDie)
    const decoded = yield* Config.decodeWith(TestConfig)({
      upstreams: [{ name: "sink", host: sink.host, port: sink.port }],
      ...config,
      http: { port: 0, ...(config.http as object | undefined) }
    }).pipe(Effect.orDie)
    // One store of each, as serve has: the engine renders and checks submits with them, and suppresses
    // on the list submits are checked against; the adapter's routes manage them.
    const stores = Layer.mergeAll(Templates.layerFromConfig(decoded), Recipients.layerFromConfig(decoded), Suspensions.layerMemory(decoded))
    const engine = Sluice.layer(decoded, { drainTimeout: "2 seconds" }).pipe(
      Layer.provide(MemoryQueue.layer({ maxDepth: decoded.queue.maxDepth })),
      Layer.provide(Recipients.layerSuppressions.pipe(Layer.provideMerge(stores)))
    )
    const context = yield* Layer.build(
      HttpAdapter.layer(decoded.http, adapterOptions).pipe(Layer.provide(Layer.mergeAll(engine, stores)))
    ).pipe(Effect.orDie, Effect.provide(Logger.minimumLogLevel(LogLevel.Error)))
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") return yield* Effect.die("not listening on TCP")
    const base = `http://127.0.0.1:${address.port}`
    // With its own sink as the upstream, ready once the engine has reached it (a probe), as a
    // client waits for /readyz.
    if (config.upstreams === undefined) yield* readyWithin(base, 20_000)
    return { base, sink, call: (method, path, options) => call(base, method, path, options) }
  })

/** Polls /readyz until it answers 200; dies after `timeoutMs`. */
export const readyWithin = (base: string, timeoutMs: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while ((yield* call(base, "GET", "/readyz")).status !== 200) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`${base}/readyz never answered 200`))
      yield* realSleep(10)
    }
  })

/** Waits real time: for sockets and processes, not schedules. */
export const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Polls GET /v1/messages/{id} until its status is `status`; dies with the last answer after `timeoutMs`. */
export const statusUntil = (
  running: { readonly call: Running["call"] },
  id: string,
  status: string,
  timeoutMs = 20_000
): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const answer = yield* running.call("GET", `/v1/messages/${id}`)
      if (answer.body?.status === status) return answer
      if (Date.now() > deadline) return yield* Effect.die(new Error(`${id} never became ${status}: ${answer.text}`))
      yield* realSleep(20)
    }
  })

/** A message with an X-Seq header, to find it at the sink. */
export const message = (seq: number, extra: Record<string, unknown> = {}) => ({
  from: "sender@example.com",
  to: [`r${seq}@example.net`],
  subject: `message ${seq}`,
  text: `body ${seq}`,
  headers: { "X-Seq": String(seq) },
  ...extra
})

/** The X-Seq header of a message as the sink received it. */
export const seqOf = (data: Buffer): number => Number(/^X-Seq: (\d+)/m.exec(data.toString())?.[1])
