import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { Data, Effect, Layer } from "effect"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import * as LmdbStore from "./lmdbStore.js"

/** The directory for a store that must survive restarts could not be opened. */
export class StorageUnavailable extends Data.TaggedError("StorageUnavailable")<{
  readonly directory: string
  readonly cause: unknown
}> {
  override get message() {
    return `cannot open the store in ${this.directory}: ${String((this.cause as { message?: unknown })?.message ?? this.cause)}`
  }
}

/**
 * What the stores read of the file's `queue` section (@sluice/sluice's QueueLayer.Config): only
 * where the queue keeps its files, which is where they keep theirs.
 */
export interface WithQueue {
  readonly queue:
    | { readonly kind: "memory" }
    | { readonly kind: "embedded"; readonly path: string }
    | { readonly kind: "rabbitmq" }
}

/**
 * Where templates, suppressions and domain verdicts live when no shared store (Redis) is configured:
 * in memory for a memory queue (tests, throw-away runs), else on disk (LMDB) beside the spool (for
 * RabbitMQ, under ./.sluice), so they survive restarts.
 */
export const directoryFor = (config: WithQueue, name: string): string | undefined => {
  switch (config.queue.kind) {
    case "memory":
      return undefined
    case "embedded":
      return nodePath.join(nodePath.dirname(config.queue.path), name)
    case "rabbitmq":
      return nodePath.join(".sluice", name)
  }
}

/** The KeyValueStore layer for `name` ("templates", "recipients") under this configuration. */
export const layerFromConfig = (
  config: WithQueue,
  name: string
): Layer.Layer<KeyValueStore.KeyValueStore, StorageUnavailable> => {
  const directory = directoryFor(config, name)
  if (directory === undefined) return KeyValueStore.layerMemory
  return Layer.scoped(
    KeyValueStore.KeyValueStore,
    Effect.gen(function*() {
      // A file where the directory should be, or no write permission, stops the start naming the
      // directory, rather than failing every later write.
      yield* Effect.tryPromise({
        try: async () => {
          await fs.mkdir(directory, { recursive: true })
          await fs.access(directory, fs.constants.R_OK | fs.constants.W_OK)
        },
        catch: (cause) => cause
      })
      return yield* LmdbStore.make(directory)
    }).pipe(Effect.mapError((cause) => new StorageUnavailable({ directory, cause })))
  )
}
