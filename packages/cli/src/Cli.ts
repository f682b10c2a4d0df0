import type { CliApp } from "@effect/cli"
import { Command } from "@effect/cli"
import type { Effect } from "effect"
import * as QueueCommand from "./QueueCommand.js"
import * as ServeCommand from "./ServeCommand.js"
import * as SinkCommand from "./SinkCommand.js"

const sluice = Command.make("sluice").pipe(
  Command.withDescription("An actor-based, high-throughput email delivery engine."),
  Command.withSubcommands([ServeCommand.command, SinkCommand.command, QueueCommand.command])
)

/**
 * Runs the `sluice` command on `process.argv`-shaped arguments. Its failures are classified by
 * `ExitCode`, so they are left untyped here.
 */
export const run: (args: ReadonlyArray<string>) => Effect.Effect<void, unknown, CliApp.CliApp.Environment> = Command
  .run(sluice, { name: "sluice", version: "0.1.0" })
