import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, HashMap, Logger, Option } from "effect"
import * as Record from "../src/internal/record.js"
import { commit, openStore } from "../src/internal/store.js"
import { Spool } from "../src/index.js"
import { message, tempDir } from "./support/spool.js"

const isRoot = process.getuid?.() === 0

/** A tmpfs of `size` mounted on a fresh directory for the scope: a disk that really fills up. */
const smallDisk = (size: string) =>
  Effect.acquireRelease(
    Effect.map(tempDir, (dir) => {
      execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir])
      return dir
    }),
    (dir) => Effect.sync(() => execFileSync("umount", [dir]))
  )

/**
 * Runs `effect` with the permissions of nobody when this process is root, since root may write
 * anywhere. In this process, by its effective ids: a child process running as nobody would have to
 * read its code from the checkout, which may sit under a directory nobody cannot enter (a home
 * directory, mode 0700). Only the effect's own file system calls run as nobody.
 */
const asNobody = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  isRoot
    ? Effect.acquireUseRelease(
      Effect.sync(() => {
        process.setegid!(65534)
        process.seteuid!(65534)
      }),
      () => effect,
      () =>
        Effect.sync(() => {
          process.seteuid!(0)
          process.setegid!(0)
        })
    )
    : effect

describe("a spool that cannot be used says where and why", () => {
  it.scoped("a file in the way, or an empty path", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = nodePath.join(dir, "file")
      fs.writeFileSync(file, "not a spool")
      for (const path of [file, nodePath.join(file, "spool")]) {
        const error = yield* Effect.flip(Effect.scoped(Spool.make({ path })))
        expect(error).toMatchObject({ _tag: "SpoolError", reason: "NotADirectory", path })
        expect(error.message).toContain(path)
      }
      expect(yield* Effect.flip(Effect.scoped(Spool.make({ path: " " })))).toMatchObject({ reason: "InvalidPath" })
      expect(fs.readFileSync(file, "utf8")).toBe("not a spool")
    }))

  it.scoped("no permission to write there", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.chmodSync(dir, 0o555)
      const path = nodePath.join(dir, "spool")
      const error = yield* Effect.flip(asNobody(Effect.scoped(Spool.make({ path }))))
      expect(error).toMatchObject({ _tag: "SpoolError", reason: "PermissionDenied", path })
      expect(error.message).toContain(path)
      expect(fs.existsSync(path)).toBe(false)
    }))

  it.scoped("files that are not a spool", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      fs.writeFileSync(nodePath.join(path, "data.mdb"), Buffer.alloc(64 * 1024, 0x5a))
      const error = yield* Effect.flip(Effect.scoped(Spool.make({ path })))
      expect(error).toMatchObject({ _tag: "SpoolError", reason: "Corrupt", path })
      // The lock is not left behind by a failed open.
      expect(fs.existsSync(nodePath.join(path, "spool.lock"))).toBe(false)
    }))

  it.scoped("a record that cannot be read is quarantined and logged; the rest goes on", () =>
    Effect.gen(function*() {
      const path = yield* tempDir
      const ids = yield* Effect.scoped(Effect.gen(function*() {
        const spool = yield* Spool.make({ path })
        return (yield* spool.enqueue([message(1), message(2), message(3)])).map((e) => e.id)
      }))
      // Damage two records behind the spool's back: one's envelope is not msgpack (its content, after
      // it, is intact), one is not a record.
      const damaged = yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* openStore(path)
        const bytes = Buffer.from(store.db.messages.get(ids[0]!)!)
        bytes[6] = 0xc1
        yield* Effect.promise(() =>
          commit(store, () => {
            store.db.messages.put(ids[0]!, bytes)
            store.db.messages.put(ids[2]!, Record.pack({ id: ids[2], status: "lost" }))
          })
        )
        return bytes
      }))
      const logs: Array<{ message: string; messageId: unknown }> = []
      const logger = Logger.make(({ annotations, message }) => {
        logs.push({ message: String(message), messageId: Option.getOrUndefined(HashMap.get(annotations, "messageId")) })
      })
      yield* Effect.gen(function*() {
        const spool = yield* Spool.make({ path })
        expect(yield* spool.depth).toBe(3)
        const taken = yield* spool.take("default", 10)
        expect(taken.map((m) => m.id)).toEqual([ids[1]])
        expect(yield* spool.depth).toBe(1)
        expect(Option.isNone(yield* spool.status(ids[0]!))).toBe(true)
        expect(logs.filter((l) => l.message.includes("quarantined")).map((l) => l.messageId)).toEqual([ids[0], ids[2]])
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Effect.scoped)
      // Moved aside with its content, not thrown away.
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* openStore(path)
        const kept = Record.unpack(store.db.quarantine.get(ids[0]!)!) as { reason: string; record: Uint8Array }
        expect(kept.reason).toContain("not msgpack")
        expect(Buffer.from(kept.record)).toEqual(damaged)
        expect(Buffer.from(kept.record).toString()).toContain("body 1")
        expect(store.db.messages.get(ids[0]!)).toBeUndefined()
      }))
    }))

  it.scoped.skipIf(!isRoot)("disk full: the failing enqueue says so, writes nothing, and what was accepted stays", () =>
    Effect.gen(function*() {
      const path = yield* smallDisk("1m")
      const accepted: Array<string> = []
      const failure = yield* Effect.scoped(Effect.gen(function*() {
        // No room kept (see DiskFull.test.ts for that): LMDB's commit itself fails.
        const spool = yield* Spool.make({ path, minFreeBytes: 0 })
        for (let i = 0; i < 1000; i++) {
          const batch = Array.from({ length: 10 }, (_, j) =>
            message(i * 10 + j, { idempotencyKey: `k${i * 10 + j}`, content: Buffer.alloc(1024, 0x61) }))
          const exit = yield* Effect.exit(spool.enqueue(batch))
          if (Exit.isFailure(exit)) {
            expect(yield* spool.depth).toBe(accepted.length)
            return { error: Option.getOrThrow(Exit.causeOption(exit)), next: i * 10 }
          }
          accepted.push(...exit.value.map((e) => e.id))
        }
        return yield* Effect.die(new Error("a 1 MB disk never filled up"))
      }))
      expect(String(failure.error)).toContain(path)
      expect(String(failure.error)).toContain("no space left")
      expect(accepted.length).toBeGreaterThan(0)

      const spool = yield* Spool.make({ path })
      expect(yield* spool.depth).toBe(accepted.length)
      for (const id of accepted) expect(Option.isSome(yield* spool.status(id))).toBe(true)
      // The failed batch left no idempotency keys behind: its messages were never accepted.
      const taken = yield* spool.take("default", accepted.length + 10)
      expect(taken.map((m) => m.id)).toEqual(accepted)
      expect(taken.every((m) => m.content.length === 1024)).toBe(true)
    }))

  it.scoped.skipIf(!isRoot)("disk full at open", () =>
    Effect.gen(function*() {
      const disk = yield* smallDisk("256k")
      try {
        fs.writeFileSync(nodePath.join(disk, "filler"), Buffer.alloc(1024 * 1024))
      } catch {
        // Filled up: that is the point.
      }
      const path = nodePath.join(disk, "spool")
      const error = yield* Effect.flip(Effect.scoped(Spool.make({ path })))
      expect(error).toMatchObject({ _tag: "SpoolError", reason: "DiskFull", path })
      expect(error.message).toContain("no space left")
    }))
})
