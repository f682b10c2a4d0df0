import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import * as Cli from "./Cli.js"
import * as ExitCode from "./ExitCode.js"
import * as JsonLogger from "./JsonLogger.js"

Cli.run(process.argv).pipe(
  Effect.tapErrorCause(ExitCode.report),
  Effect.provide(NodeContext.layer),
  Effect.provide(JsonLogger.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) => onExit(ExitCode.of(exit))
  })
)
