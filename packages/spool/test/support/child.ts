import type { ChildProcess, SpawnOptions } from "node:child_process"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Scope } from "effect"
import { Effect } from "effect"

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

export interface Child {
  readonly process: ChildProcess
  readonly pid: number
  /** Every line it printed on stdout so far. */
  readonly lines: ReadonlyArray<string>
  /** Waits (real time) for a line that `match` accepts, and returns it. */
  readonly line: (match: (line: string) => boolean, what: string, timeoutMs?: number) => Effect.Effect<string>
  /** Resolves with the exit code, or the signal that ended it. */
  readonly exited: Effect.Effect<number | NodeJS.Signals>
}

/** Runs `node --conditions=@sluice/source --import tsx test/fixtures/<script> ...args` from the package, killed with the scope if still alive. */
export const run = (script: string, args: ReadonlyArray<string>, options: SpawnOptions = {}): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, ["--conditions=@sluice/source", "--import", "tsx", path.join("test/fixtures", script), ...args], {
        cwd: packageDir,
        stdio: ["ignore", "pipe", "pipe"],
        ...options
      })
      const lines: Array<string> = []
      const waiters = new Set<() => void>()
      let rest = ""
      let stderr = ""
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        const parts = (rest + chunk).split("\n")
        rest = parts.pop()!
        lines.push(...parts)
        for (const wake of waiters) wake()
      })
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        stderr = (stderr + chunk).slice(-4000)
      })
      const exit = new Promise<number | NodeJS.Signals>((resolve) =>
        child.once("exit", (code, signal) => {
          for (const wake of waiters) wake()
          resolve(code ?? signal!)
        })
      )
      const line: Child["line"] = (match, what, timeoutMs = 30_000) =>
        Effect.async<string>((resume) => {
          const deadline = setTimeout(() => check(true), timeoutMs)
          const check = (timedOut = false) => {
            const found = lines.find(match)
            if (found !== undefined || timedOut || child.exitCode !== null || child.signalCode !== null) {
              waiters.delete(check)
              clearTimeout(deadline)
              resume(found !== undefined
                ? Effect.succeed(found)
                : Effect.die(new Error(`child ${script} never printed ${what}; stderr: ${stderr}`)))
            }
          }
          waiters.add(check)
          check()
          return Effect.sync(() => {
            waiters.delete(check)
            clearTimeout(deadline)
          })
        })
      return { process: child, pid: child.pid!, lines, line, exited: Effect.promise(() => exit) }
    }),
    (child) =>
      child.process.exitCode === null && child.process.signalCode === null
        ? Effect.sync(() => child.process.kill("SIGKILL")).pipe(Effect.zipRight(child.exited))
        : Effect.void
  )

/** The JSON object a child printed on the line `line`. */
export const parse = (line: string): Record<string, unknown> => JSON.parse(line) as Record<string, unknown>
