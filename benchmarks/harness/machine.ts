import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { repoRoot } from "./children.js"
import { postfixTools } from "./postfix.js"

export interface Machine {
  readonly os: string
  readonly kernel: string
  readonly arch: string
  readonly cpus: { readonly model: string; readonly count: number; readonly mhz: number }
  readonly memoryMiB: number
  readonly node: string
  readonly loadAverageAtStart: ReadonlyArray<number>
  /** The commit measured; `uncommitted` lists tracked files that differed from it (other work in progress included). */
  readonly git: { readonly commit: string | undefined; readonly dirty: boolean | undefined; readonly uncommitted: ReadonlyArray<string> }
}

const osName = (): string => {
  try {
    const release = readFileSync("/etc/os-release", "utf8")
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(release)
    if (pretty) return pretty[1]!
  } catch {
    // not Linux, or no os-release
  }
  return `${os.type()} ${os.release()}`
}

const git = (args: Array<string>): string | undefined => {
  try {
    return execFileSync("git", args, { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return undefined
  }
}

/** The 1, 5 and 15 minute load averages: the other work on the machine while the figures were taken. */
export const loadAverage = (): Array<number> => os.loadavg().map((load) => Math.round(load * 100) / 100)

export const describeMachine = (): Machine => {
  const cpus = os.cpus()
  const status = git(["status", "--porcelain", "--untracked-files=no"])
  return {
    os: osName(),
    kernel: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    cpus: { model: cpus[0]?.model.trim() ?? "unknown", count: cpus.length, mhz: cpus[0]?.speed ?? 0 },
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    loadAverageAtStart: loadAverage(),
    git: {
      commit: git(["rev-parse", "HEAD"]),
      dirty: status === undefined ? undefined : status !== "",
      uncommitted: (status ?? "").split("\n").filter((line) => line !== "").map((line) => line.slice(3))
    }
  }
}

/**
 * The installed version of an npm package, as the workspace packages that use it find it (their own
 * node_modules first, then the root's). Read from the files: some packages (lmdb) do not export
 * their package.json.
 */
export const packageVersion = (name: string): string => {
  for (const dir of ["smtp", "sink", "spool", "amqp"].map((pkg) => join(repoRoot, "packages", pkg)).concat(repoRoot)) {
    try {
      return (JSON.parse(readFileSync(join(dir, "node_modules", name, "package.json"), "utf8")) as { version: string }).version
    } catch {
      // try the next place
    }
  }
  return "not installed"
}

export const versions = (): Record<string, string> => {
  const postfix = postfixTools()
  return {
    effect: packageVersion("effect"),
    "smtp-client": packageVersion("smtp-client"),
    "smtp-server": packageVersion("smtp-server"),
    nodemailer: packageVersion("nodemailer"),
    lmdb: packageVersion("lmdb"),
    amqplib: packageVersion("amqplib"),
    undici: packageVersion("undici"),
    tsx: packageVersion("tsx"),
    postfix: postfix === undefined ? "not installed" : postfix.version
  }
}
