import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Scope } from "effect"
import { Effect } from "effect"

// The link npm makes in the root node_modules/.bin, run through its shebang, as `npx sluice` does:
// the built command (`npm test` builds it first).
const bin = fileURLToPath(new URL("../../../../node_modules/.bin/sluice", import.meta.url))

export type LogLine = Record<string, unknown> & { readonly msg: string; readonly level: string }

/** A `sluice` child process, its output collected as it comes. */
export interface Sluice {
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  /** The JSON lines on stdout so far. */
  readonly logs: () => ReadonlyArray<LogLine>
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Its exit code once it ends and its output is closed (null when a signal ended it). */
  readonly exited: Effect.Effect<number | null>
  /** Waits for a log line that satisfies `test`; dies with the output if the process ends first or time runs out. */
  readonly waitForLog: (test: (line: LogLine) => boolean, what: string, timeoutMs?: number) => Effect.Effect<LogLine>
}

export interface StartOptions {
  readonly cwd?: string
}

/** Starts `sluice ...args` in the scope; closing the scope kills what is still running. */
export const start = (args: ReadonlyArray<string>, options: StartOptions = {}): Effect.Effect<Sluice, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(bin, args, {
        cwd: options.cwd,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      let closed: number | null | undefined
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
      child.on("close", (code) => closed = code)
      const logs = () =>
        stdout.split("\n").flatMap((line) => {
          if (!line.startsWith("{")) return []
          try {
            return [JSON.parse(line) as LogLine]
          } catch {
            return [] // the last line may still be arriving
          }
        })
      const exited = Effect.async<number | null>((resume) => {
        if (closed !== undefined) return resume(Effect.succeed(closed))
        child.once("close", (code) => resume(Effect.succeed(code)))
      })
      const sluice: Sluice = {
        pid: child.pid!,
        stdout: () => stdout,
        stderr: () => stderr,
        logs,
        kill: (signal) => Effect.sync(() => void child.kill(signal)),
        exited,
        waitForLog: (test, what, timeoutMs = 30_000) =>
          Effect.gen(function*() {
            const deadline = Date.now() + timeoutMs
            for (;;) {
              const found = logs().find(test)
              if (found !== undefined) return found
              if (closed !== undefined || Date.now() > deadline) {
                return yield* Effect.die(
                  new Error(`no log line for ${what} (exit ${closed})\nstdout:\n${stdout}\nstderr:\n${stderr}`)
                )
              }
              yield* realSleep(20)
            }
          })
      }
      return { child, sluice }
    }),
    ({ child }) =>
      child.exitCode === null && child.signalCode === null
        ? Effect.async<void>((resume) => {
          child.once("close", () => resume(Effect.void))
          child.kill("SIGKILL")
        })
        : Effect.void
  ).pipe(Effect.map(({ sluice }) => sluice))

/** Runs `sluice ...args` to its end. */
export const run = (args: ReadonlyArray<string>, options: StartOptions = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const sluice = yield* start(args, options)
    const code = yield* sluice.exited.pipe(
      Effect.timeoutFail({ duration: "40 seconds", onTimeout: () => new Error(`sluice ${args.join(" ")} did not end`) }),
      Effect.orDie
    )
    return { code, stdout: sluice.stdout(), stderr: sluice.stderr() }
  }))

/** A port nothing listens on right now, for a child process to take. */
export const freePort: Effect.Effect<number> = Effect.async((resume) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Waits real time: for processes and sockets, not schedules. */
export const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Starts `sluice sink` with `args` on a free port and returns it with that port. */
export const startSink = (args: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const sink = yield* start(["sink", "--port", "0", ...args])
    const listening = yield* sink.waitForLog((line) => line.msg === "sink listening", "the sink to listen")
    return { sink, port: listening.port as number }
  })

/** A fresh directory for the test, removed with its scope. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "sluice-cli-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)
