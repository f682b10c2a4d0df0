import { statfsSync } from "node:fs"
import type { NewMessage } from "@sluice/engine"

/** Bytes this process may still write on the file system holding `path`; undefined where it cannot tell. */
export const freeBytes = (path: string): number | undefined => {
  try {
    const stats = statfsSync(path)
    return stats.bavail * stats.bsize
  } catch {
    return undefined
  }
}

// LMDB's pages (4 KiB on Linux): a content larger than a page takes pages of its own, rounded up,
// and each commit copies the B-tree pages on the way to what it changed.
const page = 4096
const perCommit = 16 * page
const perMessage = 2 * page

/** About what storing `messages` adds to the spool's file, counted high. */
export const bytesToStore = (messages: ReadonlyArray<NewMessage>): number => {
  let bytes = perCommit
  for (const message of messages) bytes += Math.ceil(message.content.byteLength / page) * page + perMessage
  return bytes
}
