// Subpath imports: the @effect/platform-node index loads its HTTP server and more, a second of start-up.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
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
