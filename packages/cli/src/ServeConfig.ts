import * as nodePath from "node:path"
import { FileSystem } from "@effect/platform"
import type { Config } from "@sluice/engine"
import type { Logging } from "@sluice/sluice"
import { SluiceConfig } from "@sluice/sluice"
import { Data, Effect, Option } from "effect"
import type { UpstreamFlag } from "./internal/flags.js"

/** The command line asks for something that cannot work; `message` says what to do instead. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/** The config file cannot be read or is not JSON. */
export class ConfigFileError extends Data.TaggedError("ConfigFileError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `config file ${this.path}: ${this.reason}`
  }
}

/** How much is logged: `log.level` in the config, `--log-level` on the command line. */
export type LogLevelName = Logging.Level

export interface ServeFlags {
  readonly config: Option.Option<string>
  readonly upstreams: ReadonlyArray<UpstreamFlag>
  readonly host: Option.Option<string>
  readonly port: Option.Option<number>
  readonly logLevel: Option.Option<LogLevelName>
}

const readJson = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError((error) =>
        new ConfigFileError({
          path,
          reason: error._tag === "SystemError" && error.reason === "NotFound" ? "no such file" : error.message
        })
      )
    )
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) => new ConfigFileError({ path, reason: `not JSON: ${(error as Error).message}` })
    })
  })

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The configuration `serve` runs on: the file given by `--config`, or the embedded default built from
 * `--upstream` flags (durable queue under ./.sluice, HTTP on 127.0.0.1:8025); `--host` and `--port`
 * override the listener, `--log-level` the file's `log.level`, either way. Decoded by the file's
 * schema, composed from each package's section, so a bad field is named by its path. Relative paths
 * in a file (`queue.path`, its default too) are from the file's directory; without one, from the
 * working directory.
 */
export const load = (
  flags: ServeFlags
): Effect.Effect<SluiceConfig.SluiceConfig, UsageError | ConfigFileError | Config.ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    let input: unknown
    if (Option.isSome(flags.config)) {
      if (flags.upstreams.length > 0) {
        return yield* new UsageError({
          message: "--upstream is for running without --config; list the upstreams in the config file instead"
        })
      }
      input = yield* readJson(flags.config.value)
    } else {
      if (flags.upstreams.length === 0) {
        return yield* new UsageError({
          message: "serve needs --config <file>, or at least one --upstream host:port[,weight] for the embedded default"
        })
      }
      input = { upstreams: flags.upstreams }
    }
    const overridden = Option.isSome(flags.host) || Option.isSome(flags.port)
    // A malformed `http` is left alone so that decoding names it, rather than being papered over.
    if (overridden && isObject(input) && (input.http === undefined || isObject(input.http))) {
      input = {
        ...input,
        http: {
          ...input.http,
          ...Option.match(flags.host, { onNone: () => ({}), onSome: (host) => ({ host }) }),
          ...Option.match(flags.port, { onNone: () => ({}), onSome: (port) => ({ port }) })
        }
      }
    }
    // Same for a malformed `log`.
    if (Option.isSome(flags.logLevel) && isObject(input) && (input.log === undefined || isObject(input.log))) {
      input = { ...input, log: { ...input.log, level: flags.logLevel.value } }
    }
    const config = yield* SluiceConfig.decode(input)
    // A path in a file is the file's: the same file means the same spool from any directory.
    return Option.isSome(flags.config) ? SluiceConfig.resolvePaths(config, nodePath.dirname(nodePath.resolve(flags.config.value))) : config
  })
