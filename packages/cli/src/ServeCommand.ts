import { Command, Options } from "@effect/cli"
import type { FileSystem } from "@effect/platform"
import { Duration, Effect, Option } from "effect"
import type { Config } from "@sluice/engine"
import type { Templates } from "@sluice/content"
import type { HttpAdapter } from "@sluice/http"
import type { QueueLayer } from "@sluice/sluice"
import type { SpoolError } from "@sluice/spool"
import type { ConfigFileError, LogLevelName, UsageError } from "./ServeConfig.js"
import { choice, duration, invalid, parseUpstream, port as portFlag } from "./internal/flags.js"

const config = Options.file("config", { exists: "either" }).pipe(
  Options.withPseudoName("FILE"),
  Options.withDescription(
    "A JSON config file (its fields: the README's Configuration section); relative paths in it are from its directory. Without it, the embedded default runs."
  ),
  Options.optional
)

const upstream = Options.text("upstream").pipe(
  Options.withPseudoName("host:port[,weight]"),
  Options.withDescription(
    "An upstream SMTP relay for the embedded default; repeat for more. Needed without --config, refused with it (the file lists its upstreams)."
  ),
  Options.repeated,
  // Optional in the usage line too: with --config there is none.
  Options.optional,
  Options.mapEffect((values) =>
    Effect.forEach(Option.getOrElse(values, () => []), (value) => parseUpstream(value).pipe(Effect.mapError(invalid)))
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

const drainTimeout = duration("drain-timeout").pipe(
  Options.withDescription("How long shutdown waits for in-flight deliveries before handing them back (default 30 seconds)."),
  Options.withDefault(Duration.seconds(30))
)

const logLevels: ReadonlyArray<LogLevelName> = ["debug", "info", "warn", "error"]

const logLevel = choice("log-level", logLevels, "debug|info|warn|error").pipe(
  Options.withDescription("The lowest level logged (default info, or the config's log.level)."),
  Options.optional
)

const options = { config, upstream, host, port, drainTimeout, logLevel }

/** The parsed flags of `sluice serve`. */
export type Flags = Command.Command.ParseConfig<typeof options>

/**
 * Why `serve` could not start: all of them are about what it was given, the HTTP listener's address
 * included (exit 2), but a spool another process has open (a SpoolError "Locked": exit 1).
 */
export type ServeError =
  | UsageError
  | ConfigFileError
  | Config.ConfigError
  | QueueLayer.QueueUnavailable
  | SpoolError
  | Templates.StorageUnavailable
  | HttpAdapter.ListenError

export const command: Command.Command<"serve", FileSystem.FileSystem, ServeError, Flags> = Command.make(
  "serve",
  options,
  (flags) =>
  // Loaded on use: the engine and its adapters are most of the start-up time, and --help needs none of them.
  Effect.promise(() => import("./internal/serve.js")).pipe(Effect.flatMap((serve) =>
    serve.run({
      config: flags.config,
      upstreams: flags.upstream,
      host: flags.host,
      port: flags.port,
      drainTimeout: flags.drainTimeout,
      logLevel: flags.logLevel
    })
  ))
).pipe(
  Command.withDescription(
      "Run the delivery engine with its HTTP API. Logs are JSON lines on stdout; SIGTERM or SIGINT drains and exits 0."
    )
  )
