import { describe, expect, it } from "@effect/vitest"
import { KeyValueStore } from "@effect/platform"
import { Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as storage from "../src/internal/templates/storage.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-storage-test-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

// What the stores read of a configuration: its `queue` section.
const configFor = (queue: storage.WithQueue["queue"]) => Effect.succeed({ queue })

const openStore = (config: storage.WithQueue, name: string) =>
  Effect.flatMap(Layer.build(storage.layerFromConfig(config, name)), (c) => Effect.provide(KeyValueStore.KeyValueStore, c))

describe("the local store of templates and recipients (suppressions, domain verdicts)", () => {
  it.effect("lives in memory for a memory queue, beside the spool for an embedded one", () =>
    Effect.gen(function*() {
      expect(storage.directoryFor(yield* configFor({ kind: "memory" }), "templates")).toBeUndefined()
      expect(storage.directoryFor(yield* configFor({ kind: "embedded", path: "/var/lib/sluice/spool" }), "templates"))
        .toBe("/var/lib/sluice/templates")
    }))

  it.scoped("on disk: strings and bytes, has, size, remove and clear, and it all survives reopening", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const config = yield* configFor({ kind: "embedded", path: path.join(dir, "spool") })
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* openStore(config, "recipients")
        yield* store.set("a", "ünïcode")
        yield* store.set("b", new Uint8Array([0, 1, 255]))
        yield* store.set("c", "gone soon")
        yield* store.remove("c")
        expect(yield* store.get("a")).toEqual(Option.some("ünïcode"))
        expect(yield* store.get("c")).toEqual(Option.none())
        expect(yield* store.has("b")).toBe(true)
        expect(yield* store.has("c")).toBe(false)
      }))
      const store = yield* openStore(config, "recipients")
      expect(yield* store.get("a")).toEqual(Option.some("ünïcode"))
      expect(Option.map(yield* store.getUint8Array("b"), (bytes) => [...bytes])).toEqual(Option.some([0, 1, 255]))
      expect(yield* store.size).toBe(2)
      yield* store.clear
      expect(yield* store.size).toBe(0)
    }))

  it.scoped("a file where the directory should be fails with StorageUnavailable naming the directory", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.writeFileSync(path.join(dir, "templates"), "")
      const config = yield* configFor({ kind: "embedded", path: path.join(dir, "spool") })
      const error = yield* Effect.flip(Layer.build(storage.layerFromConfig(config, "templates")))
      expect(error._tag).toBe("StorageUnavailable")
      expect(error.directory).toBe(path.join(dir, "templates"))
      expect(error.message).toContain(path.join(dir, "templates"))
    }))
})
