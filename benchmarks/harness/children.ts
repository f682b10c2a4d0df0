import type { ChildProcess, SpawnOptions } from "node:child_process"
import { spawn } from "node:child_process"
import { basename, join } from "node:path"
import { fileURLToPath } from "node:url"
import { bundle, bundleCommand } from "../../scripts/bundle.js"

/** The repository root: child processes run from there, so node_modules resolve. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url))

/**
 * Every child process the harness started, so that a scenario that overruns its time (or a run that is
 * interrupted) can end them: by their own pid, one by one, and nothing else.
 */
const children = new Set<ChildProcess>()

export const track = <C extends ChildProcess>(child: C): C => {
  children.add(child)
  child.once("exit", () => children.delete(child))
  return child
}

export const killAll = (signal: NodeJS.Signals = "SIGKILL"): void => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
  }
  children.clear()
}

process.once("exit", () => killAll())

const bundles = new Map<string, Promise<string>>()

/**
 * `file` bundled into plain JavaScript, once per run, into results/tmp/bundles/. The npm packages it
 * imports load from where the bundle is, so it must be where they resolve.
 */
const bundled = (file: string): Promise<string> => {
  let done = bundles.get(file)
  if (done === undefined) {
    done = bundle(file, join(repoRoot, "benchmarks/results/tmp/bundles", `${basename(file, ".ts")}.mjs`))
    bundles.set(file, done)
  }
  return done
}

/**
 * Spawns `node <file bundled>` with an IPC channel; stdout and stderr go to the parent's stderr.
 * Measured processes run bundled JavaScript, as a deployment does (`npm run build`), not under
 * tsx: its loader would add some 70 MiB to every RSS figure, Sluice's and the peers' alike.
 */
export const spawnClient = async (file: string, args: ReadonlyArray<string>, options: { readonly flags?: ReadonlyArray<string> } = {}) => {
  const script = await bundled(fileURLToPath(file))
  const spawnOptions: SpawnOptions = {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: { ...process.env, NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? "" }
  }
  const child = spawn(process.execPath, [...(options.flags ?? []), script, ...args], spawnOptions)
  child.stdout?.on("data", (chunk: Buffer) => process.stderr.write(chunk))
  child.stderr?.on("data", (chunk: Buffer) => process.stderr.write(chunk))
  return track(child)
}

let command: Promise<string> | undefined

/** The sluice command as `npm run build` builds it (from the sources as they are now), once per run. */
export const sluiceCommand = (): Promise<string> => command ??= bundleCommand()

/** Resolves with the first IPC message that satisfies `pick`; rejects if the child exits first. */
export const nextMessage = <A>(child: ChildProcess, pick: (message: any) => A | undefined): Promise<A> =>
  new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      const picked = pick(message)
      if (picked === undefined) return
      cleanup()
      resolve(picked)
    }
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup()
      reject(new Error(`child process exited (${signal ?? `code ${code}`}) before answering`))
    }
    const cleanup = () => {
      child.off("message", onMessage)
      child.off("exit", onExit)
    }
    child.on("message", onMessage)
    child.once("exit", onExit)
  })

/** Resolves when the child has exited, with its code (or signal). */
export const exited = (child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))
