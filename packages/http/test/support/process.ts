import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Scope } from "effect"
import { Effect } from "effect"
import { realSleep } from "./adapter.js"

// The link npm makes in the root node_modules/.bin, run through its shebang, as `npx sluice` does.
const bin = fileURLToPath(new URL("../../../../node_modules/.bin/sluice", import.meta.url))

export type LogLine = Record<string, unknown> & { readonly msg: string; readonly level: string }

export interface Serve {
  /** Everything it wrote to stdout so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  readonly logs: () => ReadonlyArray<LogLine>
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** The exit code once it ends (null when a signal ended it). */
  readonly exited: Effect.Effect<number | null>
  /** The base URL of its HTTP listener. */
  readonly base: string
}

/** A directory of its own for one test, with `config` written as sluice.json in it. */
export const workspace = (config: (dir: string) => unknown) => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-http-"))
  const file = join(dir, "sluice.json")
  writeFileSync(file, JSON.stringify(config(dir)))
  return { dir, file }
}

/**
 * Starts `sluice serve ...args` in the scope and waits until its HTTP listener is up; closing the
 * scope kills it if it still runs.
 */
export const serve = (args: ReadonlyArray<string>, cwd?: string): Effect.Effect<Serve, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { child, output } = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(bin, ["serve", ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] })
        const output = { stdout: "", stderr: "", closed: undefined as number | null | undefined }
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => output.stdout += chunk)
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => output.stderr += chunk)
        child.on("close", (code) => output.closed = code)
        return { child, output }
      }),
      ({ child, output }) =>
        output.closed !== undefined
          ? Effect.void
          : Effect.async<void>((resume) => {
            child.once("close", () => resume(Effect.void))
            child.kill("SIGKILL")
          })
    )
    const logs = () =>
      output.stdout.split("\n").flatMap((line) => {
        if (!line.startsWith("{")) return []
        try {
          return [JSON.parse(line) as LogLine]
        } catch {
          return [] // the last line may still be arriving
        }
      })
    const deadline = Date.now() + 60_000
    let listening: LogLine | undefined
    while ((listening = logs().find((line) => line.msg === "http listening")) === undefined) {
      if (output.closed !== undefined || Date.now() > deadline) {
        return yield* Effect.die(new Error(`serve did not listen (exit ${output.closed})\n${output.stdout}\n${output.stderr}`))
      }
      yield* realSleep(20)
    }
    return {
      stdout: () => output.stdout,
      stderr: () => output.stderr,
      logs,
      kill: (signal) => Effect.sync(() => void child.kill(signal)),
      exited: Effect.async<number | null>((resume) => {
        if (output.closed !== undefined) return resume(Effect.succeed(output.closed))
        child.once("close", (code) => resume(Effect.succeed(code)))
      }),
      base: `http://127.0.0.1:${listening.port as number}`
    }
  })
