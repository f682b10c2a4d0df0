/** The `sluice` command line: `serve` and `sink`. */
export * as Cli from "./Cli.js"
/** Exit codes from failures (0 ok, 2 bad command line or config, 1 other), and how they are reported. */
export * as ExitCode from "./ExitCode.js"
/** The JSON-lines logger with stable field names. */
export * as JsonLogger from "./JsonLogger.js"
/** The configuration `serve` runs on: a file, or the embedded default from flags. */
export * as ServeConfig from "./ServeConfig.js"
