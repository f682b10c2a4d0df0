import { HttpApiBuilder, HttpApiSwagger, HttpServer } from "@effect/platform"
import type { HttpServerError } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type { Config, Sluice } from "@sluice/engine"
import type { Duration } from "effect"
import { Effect, Layer } from "effect"
import * as Http from "node:http"
import { SluiceApi } from "./Api.js"
import * as auth from "./internal/auth.js"
import { renderProblems } from "./internal/errors.js"
import * as handlers from "./internal/handlers.js"
import * as shutdown from "./internal/shutdown.js"
import type { Recipients } from "./Recipients.js"
import type { Templates } from "./Templates.js"

export interface Options {
  /** How long closing waits for requests in flight to be answered (default 10 seconds). */
  readonly closeTimeout?: Duration.DurationInput
}

const listen = (config: Config.SluiceConfig, options: Options) =>
  Layer.scoped(HttpServer.HttpServer, Effect.gen(function*() {
    const app = yield* HttpApiBuilder.httpApp
    const node = Http.createServer()
    const server = yield* NodeHttpServer.make(() => node, { host: config.http.host, port: config.http.port })
    const closing = yield* shutdown.make
    yield* server.serve(app, closing.middleware)
    // Added last, so it runs first: the listener stops before the handler is detached.
    yield* Effect.addFinalizer(() => closing.close(node, options.closeTimeout ?? "10 seconds"))
    const address = server.address
    yield* Effect.logInfo("http listening").pipe(Effect.annotateLogs(
      address._tag === "TcpAddress" ? { host: address.hostname, port: address.port } : { path: address.path }
    ))
    return server
  }))

/**
 * The HTTP ingestion adapter (CONTRACT.md) on `config.http`: the `SluiceApi` endpoints, /openapi.json,
 * /docs, Prometheus /metrics. It gives the listening `HttpServer` (its `address` has the port when
 * `http.port` is 0). Closing its scope stops it before the services it uses, so a graceful shutdown
 * answers what it accepted before the engine drains.
 */
export const layer = (
  config: Config.SluiceConfig,
  options: Options = {}
): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError, Sluice | Templates | Recipients> =>
  listen(config, options).pipe(
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(HttpApiBuilder.api(SluiceApi).pipe(
      Layer.provide(handlers.layer({ maxBodyBytes: config.http.maxBodyBytes })),
      Layer.provide(auth.layer(config.http.apiKeys))
    )),
    Layer.provide(HttpApiBuilder.middleware(renderProblems)),
    Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer]),
    Layer.provide(NodeHttpServer.layerContext)
  )
