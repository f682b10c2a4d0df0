import { execFileSync } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { join } from "node:path"

export interface PostfixTools {
  readonly smtpSink: string
  readonly smtpSource: string
  readonly version: string
}

const findExecutable = (name: string): string | undefined => {
  const dirs = [...(process.env.PATH ?? "").split(":").filter((dir) => dir !== ""), "/usr/sbin", "/usr/local/sbin"]
  for (const dir of dirs) {
    const path = join(dir, name)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {
      // not here
    }
  }
  return undefined
}

let cached: PostfixTools | undefined | null = null

/**
 * Postfix's smtp-sink and smtp-source, when installed (scripts/install-postfix.sh installs them).
 * `BENCH_NO_POSTFIX=1` pretends they are not, to try the smtp-server-only path.
 */
export const postfixTools = (): PostfixTools | undefined => {
  if (cached !== null) return cached
  const smtpSink = findExecutable("smtp-sink")
  const smtpSource = findExecutable("smtp-source")
  if (process.env.BENCH_NO_POSTFIX === "1" || smtpSink === undefined || smtpSource === undefined) {
    cached = undefined
    return cached
  }
  let version = "unknown"
  for (const [command, args] of [["postconf", ["-d", "-h", "mail_version"]], ["dpkg-query", ["-W", "-f=${Version}", "postfix"]]] as const) {
    try {
      const out = execFileSync(findExecutable(command) ?? command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
      if (out !== "") {
        version = out
        break
      }
    } catch {
      // try the next
    }
  }
  cached = { smtpSink, smtpSource, version }
  return cached
}
