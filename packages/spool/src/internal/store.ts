import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as nodePath from "node:path"
import type { Database, RootDatabase } from "lmdb"
import { open } from "lmdb"
import type { Scope } from "effect"
import { Effect } from "effect"
import { fromCause, SpoolError } from "../SpoolError.js"
import { Residency } from "./residency.js"

/** [stream, dueAt, id]: messages waiting, in the order they are due. */
export type DueKey = [string, number, string]
/** [until, id]: messages leased, in the order their leases run out. */
export type LeaseKey = [number, string]
/** [at, first id] → the ids (msgpack) of final messages, in the order their records may be dropped; empty: the one id of the key, as spools wrote before. */
export type ExpiryKey = [number, string]

/** The LMDB environment and its databases. */
export interface Databases {
  readonly root: RootDatabase
  /** id → the record of a message not final yet, with its bytes (see record.ts); spools written before kept final ones here too. */
  readonly messages: Database<Buffer, string>
  /**
   * id → the record of a final message, until its retention ends. Apart from `messages`, so that what
   * is still queued lies together: a walk over the queue in id order (the oldest message, inspection)
   * does not read page after page of delivered records on its way.
   */
  readonly finals: Database<Buffer, string>
  /** id → the message bytes of a record written by an earlier layout, until it is final. */
  readonly contents: Database<Buffer, string>
  readonly due: Database<Buffer, DueKey>
  readonly leases: Database<Buffer, LeaseKey>
  readonly expiries: Database<Buffer, ExpiryKey>
  /** idempotency key (see `idempotencyKey`) → the first message's id. */
  readonly idempotency: Database<string, string>
  /** id → records that could not be read, moved aside with the reason. */
  readonly quarantine: Database<Buffer, string>
}

/**
 * The spool's databases, open at `path`. Order lives in keys, not in memory: taking the next due
 * messages of a stream is a range read, so a million waiting messages cost disk, not heap.
 *
 * LMDB reads through a memory map, and every page of the file read stays resident in this process
 * until the map goes: draining a deep spool would hold the whole file in RSS. So the environment is
 * closed and opened again from time to time (`reopen`), and `db` is the current one: read it at
 * each use, never keep it across a wait.
 */
export interface Store {
  readonly path: string
  readonly residency: Residency
  db: Databases
  /** Set while the environment is reopened: no access until it settles. */
  reopening: Promise<void> | undefined
  /** Why the environment could not be opened again, when it could not: every access fails with it. */
  broken: SpoolError | undefined
}

export const empty = Buffer.alloc(0)
/** Above every due time and lease end. */
export const end = Number.MAX_SAFE_INTEGER

/** Keys of any length fit: long ones are hashed (LMDB keys are at most 1978 bytes). */
export const idempotencyKey = (key: string): string =>
  key.length <= 256 ? `=${key}` : `#${createHash("sha256").update(key).digest("base64")}`

/** Creates `path` if missing and checks this process may use it. */
export const prepareDirectory = (path: string): Effect.Effect<void, SpoolError> =>
  Effect.try({
    try: () => {
      fs.mkdirSync(path, { recursive: true })
      if (!fs.statSync(path).isDirectory()) {
        throw new SpoolError({ path, reason: "NotADirectory", detail: "not a directory (a file is in the way)" })
      }
      fs.accessSync(path, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK)
    },
    catch: (error) => error instanceof SpoolError ? error : fromCause(path, "preparing the directory", error)
  })

const lmdbMagic = 0xbeefc0de

/**
 * LMDB crashes the process (SIGSEGV) on a data file that is not LMDB's instead of returning
 * MDB_INVALID, so the header is checked first: its meta page carries the magic number.
 */
const checkHeader = (path: string) => {
  const file = nodePath.join(path, "data.mdb")
  let header: Buffer
  try {
    const fd = fs.openSync(file, "r")
    try {
      header = Buffer.alloc(64)
      header = header.subarray(0, fs.readSync(fd, header, 0, 64, 0))
    } finally {
      fs.closeSync(fd)
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return
    throw error
  }
  if (header.length === 0) return // created, never written: LMDB initializes it
  for (let offset = 0; offset + 4 <= header.length; offset += 4) {
    if (header.readUInt32LE(offset) === lmdbMagic) return
  }
  throw new SpoolError({ path, reason: "Corrupt", detail: `${file} is not an LMDB data file; move it away or point the spool elsewhere` })
}

const ignore = () => {}

/**
 * LMDB batches each event turn's writes into one transaction, whose first instruction it writes
 * itself, at the end of the turn, and it drops that instruction's commit promise. When the commit
 * fails (ENOSPC on a full disk), that promise rejects with nobody listening, and Node ends the
 * process on the unhandled rejection, although every write of ours was answered. `committed` hands
 * out the current transaction's promise: listening to it right after LMDB wrote that instruction (its
 * `beforecommit` turn, which a microtask follows) and after each of our writes leaves no promise of a
 * failed commit unheard. The failure itself reaches the writes it failed (see `whenWritable`).
 */
const claimCommit = (root: RootDatabase): void => {
  root.committed.then(ignore, ignore)
}

const openDatabases = (path: string): Databases => {
  checkHeader(path)
  const root = open({
    path,
    encoding: "binary",
    // The default overlaps the fsync with the next transaction and resolves writes before
    // they are flushed; here a resolved write must mean durable (the 202 promise).
    overlappingSync: false,
    noMemInit: true
  })
  root.on("beforecommit", () => queueMicrotask(() => claimCommit(root)))
  const binary = (name: string) => root.openDB<Buffer, never>(name, { encoding: "binary" })
  return {
    root,
    messages: binary("messages") as Database<Buffer, string>,
    finals: binary("finals") as Database<Buffer, string>,
    contents: binary("contents") as Database<Buffer, string>,
    due: binary("due") as Database<Buffer, DueKey>,
    leases: binary("leases") as Database<Buffer, LeaseKey>,
    expiries: binary("expiries") as Database<Buffer, ExpiryKey>,
    idempotency: root.openDB<string, string>("idempotency", { encoding: "string" }),
    quarantine: binary("quarantine") as Database<Buffer, string>
  }
}

/** Opens (creating if needed) the environment in the directory `path`, closing it with the scope. */
export const openStore = (path: string, maxMappedBytes = Infinity): Effect.Effect<Store, SpoolError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: (): Store => ({ path, residency: new Residency(maxMappedBytes), db: openDatabases(path), reopening: undefined, broken: undefined }),
      catch: (error) => error instanceof SpoolError ? error : fromCause(path, "opening the database", error)
    }),
    (store) => Effect.promise(async () => {
      while (store.reopening !== undefined) await store.reopening
      if (store.broken === undefined) await store.db.root.close()
    })
  )

/**
 * Closes the environment, once the commits in flight have landed, and opens it again: the memory
 * map goes, and with it every page of the file it held resident. Accesses wait meanwhile (see
 * `Store`). If it cannot be opened again, the store is `broken` until a later call succeeds.
 */
export const reopen = (store: Store): Promise<void> => {
  if (store.reopening !== undefined) return store.reopening
  const closing = store.broken === undefined ? store.db.root.close() : Promise.resolve()
  const openAgain = () => {
    try {
      store.db = openDatabases(store.path)
      store.broken = undefined
    } catch (error) {
      store.broken = error instanceof SpoolError ? error : fromCause(store.path, "opening the database again", error)
    }
  }
  const done = closing.then(openAgain, openAgain).finally(() => {
    store.reopening = undefined
    store.residency.reset()
  })
  store.reopening = done
  return done
}

/**
 * Undefined when the store can be used now; otherwise a promise that settles once it can, after a
 * reopen in progress or another try at one that failed, or rejects with why it cannot.
 */
export const whenUsable = (store: Store): Promise<void> | undefined => {
  if (store.reopening === undefined && store.broken === undefined) return undefined
  return (async () => {
    while (store.reopening !== undefined) await store.reopening
    if (store.broken !== undefined) await reopen(store)
    if (store.broken !== undefined) throw store.broken
  })()
}

/** To be called at each access: reopens the environment when its map holds more than its budget. */
export const noteAccess = (store: Store): void => {
  if (store.reopening === undefined && store.residency.exceeded()) void reopen(store)
}

/**
 * Runs `write` on the environment once it can be used: after a reopen in progress, or another try at
 * one that failed. LMDB rejects a failed commit with a generic error whose `commitError` holds the
 * real one (ENOSPC…); that is the one to report, and it must be handled or Node treats it as an
 * unhandled rejection.
 */
const whenWritable = async <A>(store: Store, write: (db: Databases) => Promise<A>): Promise<A> => {
  noteAccess(store)
  // Checked again after each wait, in the same step as the write: a reopen may start meanwhile.
  for (let waiting = whenUsable(store); waiting !== undefined; waiting = whenUsable(store)) await waiting
  const db = store.db
  const written = write(db)
  claimCommit(db.root)
  return written.then(
    (value) => value,
    async (error: unknown) => {
      const inner = (error as { commitError?: Promise<unknown> } | null)?.commitError
      throw inner === undefined ? error : await inner.then(() => error, (cause: unknown) => cause)
    }
  )
}

/**
 * The writes `f` makes, as one atomic batch in the next commit (shared with every other write of
 * this event turn: group commit), resolved once it is on disk.
 */
export const commit = (store: Store, f: () => void): Promise<void> =>
  whenWritable(store, (db) => db.root.batch(f).then(() => undefined))

/**
 * `f` run inside the next write transaction, on the databases it is given: what it reads cannot
 * change before what it writes lands (a read-modify-write), since LMDB has one writer. Resolved with
 * what `f` returns, once it is on disk. `f` must not throw: it shares its commit with other writes.
 */
export const transact = <A>(store: Store, f: (db: Databases) => A): Promise<A> =>
  whenWritable(store, (db) => db.root.transaction(() => f(db)))

/**
 * The value of `key`, copied out of lmdb-js's shared read buffer into a Buffer of Node's pool: small
 * values then share an 8 KiB ArrayBuffer, where `get` gives each its own (an allocation outside the
 * heap that the collector must track and free, one per message the queue reads back).
 */
export const readPooled = (db: Database<Buffer, string>, key: string): Buffer | undefined => {
  // Valid until the next read; its length is the value's, not the shared buffer's.
  const shared = db.getBinaryFast(key)
  if (shared === undefined) return undefined
  const size = shared.length
  const bytes = Buffer.allocUnsafe(size)
  bytes.set(new Uint8Array(shared.buffer, shared.byteOffset, size))
  return bytes
}

/** How many entries a database holds, without reading them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const countOf = (db: Database<any, any>): number =>
  (db.getStats() as { entryCount: number }).entryCount
