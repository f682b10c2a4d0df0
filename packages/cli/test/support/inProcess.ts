import * as NodeContext from "@effect/platform-node/NodeContext"
import { Console, Effect } from "effect"
import { Cli, ExitCode } from "../../src/index.js"

/** Runs the `sluice` command in this process, as main.ts does, capturing what it prints. */
export const sluice = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const current = yield* Effect.console
    const capture: Console.Console = {
      ...current,
      log: (...parts) => Effect.sync(() => void stdout.push(parts.join(" "))),
      error: (...parts) => Effect.sync(() => void stderr.push(parts.join(" ")))
    }
    const exit = yield* Cli.run(["node", "sluice", ...args]).pipe(
      Effect.tapErrorCause(ExitCode.report),
      Effect.withConsole(capture),
      Effect.provide(NodeContext.layer),
      Effect.exit
    )
    // @effect/cli colours its output even when not on a terminal.
    const plain = (lines: Array<string>) => lines.join("\n").replace(/\x1b\[[0-9;]*m/g, "")
    return { code: ExitCode.of(exit), stdout: plain(stdout), stderr: plain(stderr) }
  })
