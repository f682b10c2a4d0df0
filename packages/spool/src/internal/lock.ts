import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Scope } from "effect"
import { Effect } from "effect"
import { fromCause, SpoolError } from "../SpoolError.js"

interface Holder {
  readonly pid: number
  /** The holder's start time (Linux /proc), so a pid reused by another program is not taken for it. */
  readonly started: string
}

/** Spools this process holds, by lock file: a second open in the same process is refused too. */
const held = new Set<string>()

const startedOf = (pid: number): string | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // Field 22 (starttime) counts from the one after the command name, which may hold spaces.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]
  } catch {
    return undefined
  }
}

const self: Holder = { pid: process.pid, started: startedOf(process.pid) ?? "" }

const pidRuns = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const isAlive = (holder: Holder, file: string): boolean => {
  if (holder.pid === process.pid) return held.has(file)
  if (!pidRuns(holder.pid)) return false
  const started = startedOf(holder.pid)
  return started === undefined || holder.started === "" || started === holder.started
}

const readHolder = (file: string): Holder | undefined => {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<Holder>
    return typeof parsed.pid === "number" ? { pid: parsed.pid, started: String(parsed.started ?? "") } : undefined
  } catch {
    return undefined
  }
}

const draftName = /^spool\.lock\.(\d+)\.[0-9a-f]+$/
const asideName = /^spool\.lock\.stale\.[0-9a-f]+$/

/**
 * Removes what an earlier try at the lock left behind: the draft of a process that died before it
 * removed it (or failed to, on a full disk), and a stale lock moved aside by a process that died
 * before it removed that (left a minute, so as not to pull it from under a process taking over now).
 * This process's drafts go too: taking the lock is one synchronous step, so none of them is in use.
 */
const sweep = (dir: string) => {
  for (const name of fs.readdirSync(dir)) {
    const draft = draftName.exec(name)
    const file = path.join(dir, name)
    try {
      if (draft !== null && (Number(draft[1]) === process.pid || !pidRuns(Number(draft[1])))) {
        fs.rmSync(file, { force: true })
      } else if (asideName.test(name) && Date.now() - fs.statSync(file).ctimeMs > 60_000) {
        fs.rmSync(file, { force: true })
      }
    } catch {
      // Gone meanwhile, or not ours to remove: it does not stand in the way of the lock.
    }
  }
}

/**
 * Takes `dir`'s lock file for this process, in the scope: LMDB lets several processes write one
 * environment, but two queues leasing the same messages would deliver each twice. The file is
 * written whole under another name and hard-linked into place, so it is never seen half-written, and
 * link fails if it exists. A lock whose process is gone (kill -9) is stale and taken over.
 */
export const acquire = (dir: string): Effect.Effect<void, SpoolError, Scope.Scope> => {
  const file = path.join(dir, "spool.lock")
  const take = Effect.try({
    try: () => {
      if (held.has(file)) {
        throw new SpoolError({ path: dir, reason: "Locked", detail: `already open in this process (${process.pid})` })
      }
      sweep(dir)
      const draft = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`
      try {
        // Inside the try: on a full disk the draft is created and then its write fails.
        fs.writeFileSync(draft, JSON.stringify(self), { flush: true })
        for (let attempt = 0; attempt < 3; attempt++) {
          try {
            fs.linkSync(draft, file)
            held.add(file)
            return
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
          }
          const holder = readHolder(file)
          if (holder !== undefined && isAlive(holder, file)) {
            throw new SpoolError({
              path: dir,
              reason: "Locked",
              detail: `already open in process ${holder.pid} (${file}); one process at a time may use a spool`
            })
          }
          // Stale: move it aside and look again at what was moved, in case another process took
          // the lock over between our reading and our moving.
          const aside = `${file}.stale.${randomBytes(4).toString("hex")}`
          try {
            fs.renameSync(file, aside)
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === "ENOENT") continue
            throw error
          }
          const moved = readHolder(aside)
          if (moved !== undefined && holder !== undefined && moved.pid !== holder.pid && isAlive(moved, file)) {
            fs.renameSync(aside, file)
            throw new SpoolError({
              path: dir,
              reason: "Locked",
              detail: `already open in process ${moved.pid} (${file}); one process at a time may use a spool`
            })
          }
          fs.rmSync(aside, { force: true })
        }
        throw new SpoolError({ path: dir, reason: "Locked", detail: `could not take ${file}: others keep taking it` })
      } finally {
        fs.rmSync(draft, { force: true })
      }
    },
    catch: (error) => error instanceof SpoolError ? error : fromCause(dir, "taking the lock file", error)
  })
  const release = Effect.sync(() => {
    held.delete(file)
    if (readHolder(file)?.pid === process.pid) fs.rmSync(file, { force: true })
  })
  return Effect.acquireRelease(take, () => release)
}
