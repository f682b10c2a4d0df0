import { ValidationError } from "@effect/cli"
import type { Exit } from "effect"
import { Cause, Console, Effect, Option } from "effect"

/**
 * Failures that mean "fix the command line or the config": exit 2. A listener address that is taken
 * or not ours is one: the fix is another `http.port` or `http.host`.
 */
const badInput = new Set([
  "UsageError",
  "ConfigFileError",
  "ConfigError",
  "QueueUnavailable",
  "SpoolError",
  "StorageUnavailable",
  "ListenError",
  "AdminRefused"
])

/** Failures that one line explains (a server that cannot be reached): exit 1, no stack. */
const plain = new Set(["AdminUnavailable"])

/**
 * A spool another live process has open: nothing to fix in the command line or the config, the
 * other process is there (exit 1), but one line naming it and its lock file says all there is to say.
 */
const isSpoolInUse = (error: unknown): boolean =>
  typeof error === "object" && error !== null &&
  (error as { _tag?: string })._tag === "SpoolError" && (error as { reason?: string }).reason === "Locked"

const isBadInput = (error: unknown): boolean =>
  ValidationError.isValidationError(error) ||
  (typeof error === "object" && error !== null && badInput.has((error as { _tag?: string })._tag ?? "") && !isSpoolInUse(error))

/** 0 ok or stopped by a signal, 2 bad command line or config, 1 anything else (a spool in use among them). */
export const of = (exit: Exit.Exit<unknown, unknown>): number => {
  if (exit._tag === "Success" || Cause.isInterruptedOnly(exit.cause)) return 0
  const failure = Cause.failureOption(exit.cause)
  return Option.isSome(failure) && isBadInput(failure.value) && !Cause.isDie(exit.cause) ? 2 : 1
}

/**
 * Says on stderr why the command failed. @effect/cli has already printed its own parse errors; bad
 * input gets one plain message; anything else also goes to the JSON log, for whoever watches it.
 */
export const report = (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) return Effect.void
  if (Option.isSome(failure) && (isBadInput(failure.value) || isSpoolInUse(failure.value) || plain.has((failure.value as { _tag?: string })._tag ?? ""))) {
    return Console.error(`sluice: ${describe(failure.value)}`)
  }
  return Effect.logFatal("sluice stopped on an error", cause).pipe(
    Effect.zipRight(Console.error(`sluice: ${Cause.pretty(cause)}`))
  )
}

const describe = (error: unknown): string => {
  const { _tag, message } = error as { _tag: string; message: string }
  return _tag === "ConfigError" ? `the configuration is not valid:\n${indent(message)}` : message
}

const indent = (text: string) => text.split("\n").map((line) => `  ${line}`).join("\n")
