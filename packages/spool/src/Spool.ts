import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import type { Scope } from "effect"
import { Duration, Effect, Layer, Schedule } from "effect"
import type { DeliveryQueueShape } from "@sluice/engine"
import { DeliveryQueue, QueueError } from "@sluice/engine"
import { acquire } from "./internal/lock.js"
import { makeQueue } from "./internal/queue.js"
import { bytesToStore, freeBytes } from "./internal/space.js"
import { openStore, prepareDirectory, reopen } from "./internal/store.js"
import type * as SpoolConfig from "./SpoolConfig.js"
import { fromCause, SpoolError } from "./SpoolError.js"

export interface Options {
  /** The spool's directory; created if missing. One process at a time may have it open. */
  readonly path: string
  /** Above this many unfinished messages, enqueue fails with QueueFull. Default 1,000,000. */
  readonly maxDepth?: number
  /**
   * How long a taken message may stay unsettled before it is handed out again (default 5 minutes).
   * After a crash, every lease of the dead process is handed out again at once.
   */
  readonly leaseTimeout?: Duration.DurationInput
  /** How long the record of a final message stays readable by `status` (default 24 hours). */
  readonly retention?: Duration.DurationInput
  /**
   * How many bytes of the spool's file its memory map may keep resident in this process before the
   * spool closes and reopens it to let them go (default 16 MiB). LMDB reads through the map, and
   * the kernel keeps each page read mapped, so draining a deep spool would otherwise hold the whole
   * file in the process's RSS. Measured as the growth of the process's resident file pages since
   * the last reopen, where Linux's /proc tells it (elsewhere the spool never reopens by itself).
   */
  readonly maxMappedBytes?: number
  /**
   * Room kept free on the spool's file system (default 4 MiB): a submit that would leave less is
   * refused (QueueError with `outOfSpace`), so that what is already accepted can still be settled
   * (each outcome is a write) and the process, its lock and its logs are not left without a byte. It
   * takes submits again by itself once room is made (by deliveries, compaction or an operator).
   * 0 turns the check off: a submit is refused only when LMDB's commit fails for want of room.
   */
  readonly minFreeBytes?: number
}

/** The spool's queue, plus what an operator or a test may want of it. */
export interface SpoolShape extends DeliveryQueueShape {
  /** The absolute path of the spool's directory. */
  readonly path: string
  /** Drops the records of messages final for longer than the retention now (it also runs by itself). */
  readonly compact: Effect.Effect<number, never>
  /** Closes and reopens the environment now, dropping its resident pages (it also runs by itself). */
  readonly remap: Effect.Effect<void, SpoolError>
}

export const defaults = {
  maxDepth: 1_000_000,
  leaseTimeout: Duration.minutes(5),
  retention: Duration.hours(24),
  maxMappedBytes: 16 * 2 ** 20,
  minFreeBytes: 4 * 2 ** 20
} as const

/**
 * `enqueue`, refused before it writes when it would leave less than `minFree` bytes on the disk, and
 * telling a full disk (`outOfSpace`) when LMDB's commit fails for want of room anyway (another
 * process filled the disk meanwhile).
 */
const keepingRoom = (
  path: string,
  minFree: number,
  enqueue: DeliveryQueueShape["enqueue"]
): DeliveryQueueShape["enqueue"] =>
(messages) =>
  Effect.suspend(() => {
    const free = minFree > 0 ? freeBytes(path) : undefined
    const needed = bytesToStore(messages)
    if (free !== undefined && free - needed < minFree) {
      return Effect.fail(
        new QueueError({
          operation: "enqueue",
          reason: `spool ${path}: no space left on the device (${free} bytes free, ${needed} needed, ${minFree} kept free to settle what is accepted)`,
          outOfSpace: true
        })
      )
    }
    return enqueue(messages).pipe(Effect.mapError((error) =>
      error._tag === "QueueError" && error.outOfSpace !== true && fromCause(path, "", error.cause).reason === "DiskFull"
        ? new QueueError({ operation: error.operation, reason: error.reason, outOfSpace: true, cause: error.cause })
        : error
    ))
  })

/**
 * Opens the spool at `options.path`, for the scope: takes its lock, opens LMDB, hands the leases of a
 * process that died back out, and compacts expired records in the background. Closing the scope
 * closes the environment (pending writes land first) and releases the lock.
 */
export const make = (options: Options): Effect.Effect<SpoolShape, SpoolError, Scope.Scope> =>
  Effect.gen(function*() {
    if (options.path.trim() === "" || options.path.includes("\0")) {
      return yield* new SpoolError({ path: options.path, reason: "InvalidPath", detail: "the path is empty or holds a NUL character" })
    }
    const path = nodePath.resolve(options.path)
    yield* prepareDirectory(path)
    yield* acquire(path)
    const store = yield* openStore(path, options.maxMappedBytes ?? defaults.maxMappedBytes)
    const retention = Duration.decode(options.retention ?? defaults.retention)
    const queue = yield* makeQueue(store, {
      maxDepth: options.maxDepth ?? defaults.maxDepth,
      leaseMs: Duration.toMillis(options.leaseTimeout ?? defaults.leaseTimeout),
      retentionMs: Duration.toMillis(retention)
    }).pipe(Effect.mapError((error) => new SpoolError({ path, reason: "Io", detail: error.reason, cause: error })))
    yield* Effect.addFinalizer(() => queue.close)
    const compact = queue.compact.pipe(
      Effect.tapError((error) => Effect.logError("spool compaction failed", error)),
      Effect.orElseSucceed(() => 0)
    )
    yield* compact.pipe(
      Effect.repeat(Schedule.spaced(Duration.min(retention, Duration.minutes(1)))),
      Effect.forkScoped
    )
    const remap = Effect.promise(() => reopen(store)).pipe(
      Effect.flatMap(() => store.broken === undefined ? Effect.void : Effect.fail(store.broken))
    )
    const enqueue = keepingRoom(path, options.minFreeBytes ?? defaults.minFreeBytes, queue.enqueue)
    return { ...queue, enqueue, path, compact, remap }
  })

/** The spool as the engine's DeliveryQueue. */
export const layer = (options: Options): Layer.Layer<DeliveryQueue, SpoolError> =>
  Layer.scoped(DeliveryQueue, make(options))

/** The spool a configuration file asks for (`queue.kind` "embedded"). */
export const layerFromConfig = (
  queue: SpoolConfig.Config
): Layer.Layer<DeliveryQueue, SpoolError> =>
  layer({ path: queue.path, maxDepth: queue.maxDepth, ...(queue.maxMappedBytes === undefined ? {} : { maxMappedBytes: queue.maxMappedBytes }) })

/**
 * A spool in a fresh temporary directory, removed with the scope: for tests and benchmarks.
 * `options.path` is ignored.
 */
export const temporary = (options: Partial<Options> = {}): Effect.Effect<SpoolShape, SpoolError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => fs.mkdtempSync(nodePath.join(os.tmpdir(), "sluice-spool-")),
      catch: (error) => fromCause(os.tmpdir(), "creating a temporary directory", error)
    }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.flatMap((dir) => make({ ...options, path: dir })))
