import { FileSystem, KeyValueStore } from "@effect/platform"
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import type { Config } from "@sluice/engine"
import { Data, Effect, Layer } from "effect"
import * as nodePath from "node:path"

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
 * Where templates or suppressions live when no shared store (Redis) is configured: in memory for a
 * memory queue (tests, throw-away runs), else on disk beside the spool, so they survive restarts.
 */
export const directoryFor = (config: Config.SluiceConfig, name: string): string | undefined => {
  switch (config.queue.kind) {
    case "memory":
      return undefined
    case "embedded":
      return nodePath.join(nodePath.dirname(config.queue.path), name)
    case "rabbitmq":
      return nodePath.join(".sluice", name)
  }
}

/** The KeyValueStore layer for `name` ("templates", "suppressions") under this configuration. */
export const layerFromConfig = (
  config: Config.SluiceConfig,
  name: string
): Layer.Layer<KeyValueStore.KeyValueStore, StorageUnavailable> => {
  const directory = directoryFor(config, name)
  if (directory === undefined) return KeyValueStore.layerMemory
  // The store itself only checks that the path exists; a file there, or no write permission, should
  // stop the start (naming the directory), not fail every later put.
  const usable = Layer.effectDiscard(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(directory, { recursive: true })
    yield* fs.access(directory, { readable: true, writable: true })
  }))
  return KeyValueStore.layerFileSystem(directory).pipe(
    Layer.provide(usable),
    Layer.mapError((cause) => new StorageUnavailable({ directory, cause })),
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )
}
