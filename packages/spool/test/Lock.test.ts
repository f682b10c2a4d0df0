import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Spool } from "../src/index.js"
import { parse, run } from "./support/child.js"
import { tempDir } from "./support/spool.js"

const locked = expect.objectContaining({ _tag: "SpoolError", reason: "Locked" })

describe("one process at a time per spool", () => {
  it.scoped("a second open in the same process fails while the first is open, and works once it is closed", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Spool.make({ path })
        const second = yield* Effect.exit(Effect.scoped(Spool.make({ path })))
        expect(second).toEqual(Exit.fail(locked))
        if (Exit.isFailure(second)) expect(String(second.cause)).toContain(path)
      }))
      const again = yield* Spool.make({ path })
      expect(yield* again.isOpen).toBe(true)
    }))

  it.live("another live process's spool is refused, naming it; once it is killed (-9) the spool opens", () =>
    Effect.scoped(Effect.gen(function*() {
      const path = yield* tempDir
      const holder = yield* run("open.ts", [path, "hold"])
      yield* holder.line((l) => l.includes("\"open\":true"), "open")
      const refused = yield* Effect.flip(Effect.scoped(Spool.make({ path })))
      expect(refused).toMatchObject({ _tag: "SpoolError", reason: "Locked", path })
      expect(refused.message).toContain(`process ${holder.pid}`)

      holder.process.kill("SIGKILL")
      yield* holder.exited
      // Its lock file is still there, naming a process that no longer runs.
      const spool = yield* Spool.make({ path })
      expect(yield* spool.isOpen).toBe(true)

      const other = yield* run("open.ts", [path])
      const said = parse(yield* other.line((l) => l.startsWith("{"), "a result"))
      expect(said).toMatchObject({ error: { reason: "Locked", path } })
      expect(String((said.error as { message: string }).message)).toContain(`process ${process.pid}`)
    })), 60_000)

  it.scoped("drafts of the lock file left by a process that died (a full disk, a kill) are removed at open; a live one's are not", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      const dead = spawnSync(process.execPath, ["-e", ""]).pid
      const left = [`spool.lock.${dead}.0badcafe`, `spool.lock.${process.pid}.00c0ffee`]
      // The parent of this test process runs: its draft may be in use.
      const live = `spool.lock.${process.ppid}.5afe5afe`
      for (const name of [...left, live]) fs.writeFileSync(nodePath.join(path, name), "")
      const spool = yield* Spool.make({ path })
      expect(yield* spool.isOpen).toBe(true)
      expect(fs.readdirSync(path).filter((name) => name.startsWith("spool.lock")).sort()).toEqual(["spool.lock", live])
    }))
})
