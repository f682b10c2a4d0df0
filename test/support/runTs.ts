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

/** Runs a TypeScript file under tsx in a process of its own, in `cwd`; fails after 40 s as `what` that did not end. */
export const runTs = (file: string, cwd: string, env: Record<string, string>, what: string): Effect.Effect<Ran, Error> =>
  Effect.async<Ran>((resume) => {
    const child = spawn(process.execPath, ["--conditions=@sluice/source", "--import", tsx, file], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(Effect.timeoutFail({ duration: "40 seconds", onTimeout: () => new Error(`${what} did not end`) }))
