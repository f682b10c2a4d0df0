import { HttpApiBuilder, HttpApiSwagger, HttpServer } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type { Recipients, Templates } from "@sluice/content"
import type { Sluice, Suspensions } from "@sluice/engine"
import { Data, Duration, Effect, Layer } from "effect"
import * as Http from "node:http"
import { SluiceApi } from "./Api.js"
import type * as HttpConfig from "./HttpConfig.js"
import * as auth from "./internal/auth.js"
import * as body from "./internal/body.js"
import * as fast from "./internal/fast.js"
import { renderProblems } from "./internal/errors.js"
import * as handlers from "./internal/handlers.js"
import * as shutdown from "./internal/shutdown.js"

export interface Options {
  /** How long closing waits for requests in flight to be answered (default 10 seconds). */
  readonly closeTimeout?: Duration.DurationInput
  /**
   * Submits and health checks on the fast path, a plain Node handler ahead of the HttpApi app with the
   * same answers (internal/fast.ts). Default true; false sends every request through the HttpApi app.
   */
  readonly fastPath?: boolean
}

// Node's default: the headers of a request must arrive within a minute.
const headersTimeout = 60_000

/** Why the listener could not take its address, from the system's error code. */
export type ListenReason = "address-in-use" | "permission-denied" | "address-not-available" | "unknown-host" | "other"

const reasons: Record<string, ListenReason> = {
  EADDRINUSE: "address-in-use",
  EACCES: "permission-denied",
  EADDRNOTAVAIL: "address-not-available",
  ENOTFOUND: "unknown-host",
  EAI_AGAIN: "unknown-host"
}

const explanations: Record<ListenReason, string> = {
  "address-in-use": "address already in use",
  "permission-denied": "permission denied",
  "address-not-available": "no interface of this machine has that address",
  "unknown-host": "the host name does not resolve",
  other: "the system refused"
}

/** The HTTP listener cannot listen on `http.host`:`http.port`; `reason` says why. */
export class ListenError extends Data.TaggedError("ListenError")<{
  readonly host: string
  readonly port: number
  readonly reason: ListenReason
  readonly cause: unknown
}> {
  override get message() {
    const address = this.host.includes(":") ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`
    const detail = this.reason === "other" && this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `cannot listen on ${address}: ${explanations[this.reason]}${detail}`
  }
}

/** The configuration file's `http` section: the listener, its limits and keys. */
export type Section = HttpConfig.Config

const listenError = (http: Section, cause: unknown) => {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  return new ListenError({
    host: http.host,
    port: http.port,
    reason: (code !== undefined ? reasons[code] : undefined) ?? "other",
    cause
  })
}

const listen = (http: Section, options: Options, limits: body.Limits) =>
  Layer.scoped(HttpServer.HttpServer, Effect.gen(function*() {
    const api = yield* HttpApiBuilder.httpApp
    // /metrics, /openapi.json and /docs say much about the server: behind the keys unless made public.
    const app = http.publicMetrics ? api : auth.guard(http.apiKeys, auth.operatorPaths)(api)
    const node = Http.createServer({
      // Node's own bound on a whole request, headers and body (300 s by default), for bodies nobody
      // reads (an unknown route): a body being read gets its 408 at http.bodyTimeout (body.ts).
      requestTimeout: headersTimeout + Duration.toMillis(limits.deadlines.timeout),
      headersTimeout
    })
    const server = yield* NodeHttpServer.make(() => node, { host: http.host, port: http.port }).pipe(
      Effect.mapError((error) => listenError(http, error.cause))
    )
    const closing = yield* shutdown.make
    yield* server.serve(app, closing.middleware)
    if (options.fastPath !== false) {
      // The HttpApi app's handler, just attached by `serve`, becomes the fallback of the fast path's.
      const [slow] = node.listeners("request") as Array<(request: Http.IncomingMessage, response: Http.ServerResponse) => void>
      const handle = yield* fast.make({ limits, apiKeys: http.apiKeys, closing })
      const either = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
        if (!handle(request, response)) slow!(request, response)
      }
      node.off("request", slow!)
      node.on("request", either)
      yield* Effect.addFinalizer(() => Effect.sync(() => node.off("request", either)))
    }
    // Added last, so it runs first: the listener stops before the handler is detached.
    yield* Effect.addFinalizer(() => closing.close(node, options.closeTimeout ?? "10 seconds"))
    const address = server.address
    yield* Effect.logInfo("http listening").pipe(Effect.annotateLogs(
      address._tag === "TcpAddress" ? { host: address.hostname, port: address.port } : { path: address.path }
    ))
    return server
  }))

/**
 * The HTTP ingestion adapter (README, "HTTP API") on the `http` section alone: the `SluiceApi` endpoints, /openapi.json,
 * /docs, Prometheus /metrics. It gives the listening `HttpServer` (its `address` has the port when
 * `http.port` is 0). Submits and health checks take the fast path (internal/fast.ts) unless
 * `options.fastPath` is false; the answers are the same either way. Closing its scope stops it before
 * the services it uses, so a graceful shutdown answers what it accepted before the engine drains.
 */
export const layer = (
  http: Section,
  options: Options = {}
): Layer.Layer<HttpServer.HttpServer, ListenError, Sluice | Suspensions.Suspensions | Templates.Templates | Recipients.Recipients> => {
  const limits: body.Limits = { maxBytes: http.maxBodyBytes, deadlines: body.deadlines(http.bodyTimeout) }
  return listen(http, options, limits).pipe(
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(HttpApiBuilder.api(SluiceApi).pipe(
      Layer.provide(handlers.layer(limits, http.apiKeys)),
      Layer.provide(auth.layer(http.apiKeys))
    )),
    Layer.provide(HttpApiBuilder.middleware(renderProblems)),
    Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer]),
    Layer.provide(NodeHttpServer.layerContext)
  )
}
