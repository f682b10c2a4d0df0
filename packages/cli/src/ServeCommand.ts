import { Command, Options } from "@effect/cli"
import { Config, Sluice } from "@sluice/engine"
import type { Duration } from "effect"
import { Effect, Layer, Schema } from "effect"
import { invalid, port as portFlag } from "./internal/flags.js"
import * as QueueLayer from "./QueueLayer.js"
import * as ServeConfig from "./ServeConfig.js"

const config = Options.file("config", { exists: "either" }).pipe(
  Options.withPseudoName("FILE"),
  Options.withDescription("A JSON config file (see CONTRACT.md). Without it, the embedded default runs."),
  Options.optional
)

const upstream = Options.text("upstream").pipe(
  Options.withPseudoName("host:port[,weight]"),
  Options.withDescription("An upstream SMTP relay for the embedded default; repeat for more."),
  Options.repeated,
  Options.mapEffect((values) =>
    Effect.forEach(values, (value) => ServeConfig.parseUpstream(value).pipe(Effect.mapError(invalid)))
  )
)

const host = Options.text("host").pipe(
  Options.withPseudoName("HOST"),
  Options.withDescription("The HTTP listener's address (default 127.0.0.1, or the config's http.host)."),
  Options.optional
)

const port = portFlag().pipe(
  Options.withDescription("The HTTP listener's port (default 8025, or the config's http.port)."),
  Options.optional
)

const drainTimeout = Options.text("drain-timeout").pipe(
  Options.withPseudoName("DURATION"),
  Options.withDescription("How long shutdown waits for in-flight deliveries before handing them back."),
  Options.withDefault("30 seconds"),
  Options.mapEffect((text) =>
    Schema.decodeUnknown(Config.DurationFromInput)(/^\d+$/.test(text) ? Number(text) : text).pipe(
      Effect.mapError(() => invalid(`--drain-timeout "${text}" is not a duration (try "30 seconds" or 30000)`))
    )
  )
)

/** Runs the engine until interrupted (SIGTERM/SIGINT), then drains it through the layers' scopes. */
const run = (flags: ServeConfig.ServeFlags & { readonly drainTimeout: Duration.Duration }) =>
  Effect.gen(function*() {
    const config = yield* ServeConfig.load(flags)
    const app = Sluice.layer(config, { drainTimeout: flags.drainTimeout }).pipe(
      Layer.provide(QueueLayer.layer(config.queue))
    )
    yield* Layer.build(app)
    yield* Effect.logInfo("serving").pipe(Effect.annotateLogs({
      queue: config.queue.kind,
      upstreams: config.upstreams.map(Config.upstreamName)
    }))
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.onInterrupt(() => Effect.logInfo("stopped"))
  )

export const command = Command.make("serve", { config, upstream, host, port, drainTimeout }, (flags) =>
  run({
    config: flags.config,
    upstreams: flags.upstream,
    host: flags.host,
    port: flags.port,
    drainTimeout: flags.drainTimeout
  })).pipe(
    Command.withDescription(
      "Run the delivery engine with its HTTP API. Logs are JSON lines on stdout; SIGTERM or SIGINT drains and exits 0."
    )
  )
