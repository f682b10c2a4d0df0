import { Data } from "effect"
import { freeBytes } from "./internal/space.js"

/**
 * Why a spool could not be opened or written:
 * - `InvalidPath`: the path is empty or not a usable name;
 * - `NotADirectory`: the path, or a folder on the way to it, is a file;
 * - `PermissionDenied`: the process may not create or write there;
 * - `Locked`: another live process (or this one) already has the spool open;
 * - `DiskFull`: no space left on the device;
 * - `Corrupt`: the files there are not a spool this version can read;
 * - `Io`: any other failure of the file system.
 */
export type SpoolErrorReason = "InvalidPath" | "NotADirectory" | "PermissionDenied" | "Locked" | "DiskFull" | "Corrupt" | "Io"

/** The spool at `path` cannot be used; `detail` says what happened, in words an operator can act on. */
export class SpoolError extends Data.TaggedError("SpoolError")<{
  readonly path: string
  readonly reason: SpoolErrorReason
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message() {
    return `spool ${this.path}: ${this.detail}`
  }
}

const byCode: Record<string, SpoolErrorReason> = {
  ENOTDIR: "NotADirectory",
  EISDIR: "NotADirectory",
  EEXIST: "NotADirectory",
  EACCES: "PermissionDenied",
  EPERM: "PermissionDenied",
  EROFS: "PermissionDenied",
  ENOSPC: "DiskFull",
  EDQUOT: "DiskFull",
  EFBIG: "DiskFull",
  ENAMETOOLONG: "InvalidPath",
  EINVAL: "InvalidPath"
}

// LMDB reports errno values as numbers, Node as names.
const byErrno: Record<number, string> = { 1: "EPERM", 13: "EACCES", 20: "ENOTDIR", 21: "EISDIR", 27: "EFBIG", 28: "ENOSPC", 30: "EROFS", 122: "EDQUOT" }

const wording: Record<SpoolErrorReason, string> = {
  InvalidPath: "not a usable path",
  NotADirectory: "not a directory (a file is in the way)",
  PermissionDenied: "permission denied",
  Locked: "already open",
  DiskFull: "no space left on the device",
  Corrupt: "not a readable spool",
  Io: "input/output error"
}

/**
 * LMDB writes through its memory map, so a full disk often shows as EIO (a page that could not be
 * written back) rather than ENOSPC. An I/O error on a file system with (next to) no room left is
 * taken for what it is.
 */
const isAlmostFull = (path: string): boolean => (freeBytes(path) ?? Infinity) < 1024 * 1024

/** The errno name in an error from Node or LMDB, if there is one. */
export const errorCode = (error: unknown): string | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const code = (error as { code?: unknown }).code
  if (typeof code === "string") return code
  if (typeof code === "number") return byErrno[code]
  return /MDB_INVALID|MDB_VERSION_MISMATCH|MDB_CORRUPTED|MDB_PAGE_NOTFOUND/.exec(String(error))?.[0]
}

/** A SpoolError from whatever the file system or LMDB threw, doing `what`. */
export const fromCause = (path: string, what: string, cause: unknown): SpoolError => {
  const code = errorCode(cause)
  const named: SpoolErrorReason = code === undefined
    ? "Io"
    : code.startsWith("MDB_") ? "Corrupt" : byCode[code] ?? "Io"
  const reason = named === "Io" && isAlmostFull(path) ? "DiskFull" : named
  const said = cause instanceof Error ? cause.message : String(cause)
  return new SpoolError({ path, reason, detail: `${what}: ${wording[reason]} (${said})`, cause })
}
