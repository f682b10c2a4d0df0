import * as PlatformError from "@effect/platform/Error"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import type { Scope } from "effect"
import { Effect, Option } from "effect"
import type { Database } from "lmdb"
import { open } from "lmdb"

const failure = (method: string, directory: string) => (cause: unknown) =>
  new PlatformError.SystemError({
    module: "KeyValueStore",
    method,
    reason: "Unknown",
    pathOrDescriptor: directory,
    description: String((cause as Error)?.message ?? cause),
    cause
  })

/**
 * A KeyValueStore in an LMDB environment in `directory`. Reads are synchronous memory-mapped lookups
 * (a render or a recipient check costs no system call); a write resolves once it is on disk.
 */
export const make = (directory: string): Effect.Effect<KeyValueStore.KeyValueStore, PlatformError.SystemError, Scope.Scope> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.try({
        // overlappingSync off: a resolved write must mean flushed, as in the spool.
        try: (): Database<Buffer, string> => open({ path: directory, encoding: "binary", overlappingSync: false }),
        catch: failure("open", directory)
      }),
      (db) => Effect.promise(() => db.close())
    )
    const getUint8Array = (key: string) =>
      Effect.try({ try: () => Option.fromNullable(db.get(key)), catch: failure("get", directory) })
    return KeyValueStore.make({
      get: (key) => Effect.map(getUint8Array(key), Option.map((bytes) => bytes.toString("utf8"))),
      getUint8Array,
      set: (key, value) =>
        Effect.tryPromise({
          try: () => db.put(key, typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value)),
          catch: failure("set", directory)
        }).pipe(Effect.asVoid),
      remove: (key) => Effect.tryPromise({ try: () => db.remove(key), catch: failure("remove", directory) }).pipe(Effect.asVoid),
      clear: Effect.tryPromise({ try: () => db.clearAsync(), catch: failure("clear", directory) }),
      size: Effect.try({
        try: () => (db.getStats() as { entryCount: number }).entryCount,
        catch: failure("size", directory)
      }),
      has: (key) => Effect.try({ try: () => db.doesExist(key), catch: failure("has", directory) })
    })
  })
