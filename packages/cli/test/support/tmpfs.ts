// The same as packages/spool/test/support/tmpfs.ts (a package's tests stay inside it).
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Scope } from "effect"
import { Effect } from "effect"

const mounted = new Set<string>()

const unmount = (dir: string) => {
  try {
    execFileSync("umount", [dir], { stdio: "pipe" })
  } catch {
    // Still busy (a file open in a process being torn down): detach it now, freed when let go.
    try {
      execFileSync("umount", ["-l", dir], { stdio: "pipe" })
    } catch {
      // Not mounted any more.
    }
  }
  mounted.delete(dir)
  try {
    fs.rmdirSync(dir)
  } catch {
    // Left in the temporary directory: empty, and nothing is mounted there.
  }
}

// A worker torn down in the middle of a test still leaves nothing mounted.
process.once("exit", () => {
  for (const dir of mounted) unmount(dir)
})

const mount = (size: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-tmpfs-"))
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" })
  } catch (error) {
    fs.rmdirSync(dir)
    throw error
  }
  mounted.add(dir)
  return dir
}

/**
 * Whether this process may mount a tmpfs (as root, which is how CI runs the tests), tried once when
 * the module loads. LMDB's map-full is no stand-in for a full disk: lmdb-js grows the map by itself.
 */
export const canMount: boolean = (() => {
  if (process.platform !== "linux") return false
  try {
    unmount(mount("64k"))
    return true
  } catch {
    return false
  }
})()

/** A tmpfs of `size` (mount's `size=`, e.g. "8m"), mounted for the scope: unmounted however the test ends. */
export const tmpfs = (size: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(() => mount(size)), (dir) => Effect.sync(() => unmount(dir)))

/** Writes `bytes` to `file`, or as much as fits: returns how much was written. */
export const fill = (file: string, bytes = Infinity): number => {
  const fd = fs.openSync(file, "w")
  const chunk = Buffer.alloc(64 * 1024, 1)
  let written = 0
  try {
    while (written < bytes) {
      written += fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - written))
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error
  } finally {
    fs.closeSync(fd)
  }
  return written
}
