import { spawn } from "node:child_process"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Effect } from "effect"

export const root = fileURLToPath(new URL("../..", import.meta.url))
// Loaded by URL: the program runs in a fresh directory, where a bare "tsx" would not resolve.
const tsx = pathToFileURL(join(root, "node_modules", "tsx", "dist", "loader.mjs")).href

export interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `command args` in `cwd` to its end; fails after `seconds` as `what` that did not end. */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: Record<string, string>; readonly what: string; readonly seconds?: number }
): Effect.Effect<Ran, Error> =>
  Effect.async<Ran>((resume) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(Effect.timeoutFail({ duration: `${options.seconds ?? 40} seconds`, onTimeout: () => new Error(`${options.what} did not end`) }))

/** Runs a TypeScript file of the workspace under tsx, on the packages' sources, in `cwd`. */
export const runTs = (file: string, cwd: string, env: Record<string, string>, what: string): Effect.Effect<Ran, Error> =>
  run(process.execPath, ["--conditions=@sluice/source", "--import", tsx, file], { cwd, env, what })
