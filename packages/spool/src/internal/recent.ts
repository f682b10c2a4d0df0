import type { Entry } from "./record.js"

/** What an entry is counted as beside its content: the record's object and the map's slot. */
const overhead = 512

/**
 * Messages this process enqueued and has not handed out yet, so that `take` need not read back and
 * decode what it has just written: most messages are taken soon after they are accepted. An entry is
 * added as its commit starts (nothing takes a message before its due key is on disk) and dropped if
 * that commit fails, so what is taken from here is on disk, as it is on disk: whatever changes a
 * record drops its entry. Within a budget of bytes: a message that does not fit is read from disk
 * when it is taken, as any other. Entries are never evicted, so in a backlog the oldest ones (the
 * next to be taken) are the ones kept.
 */
export class Recent {
  private readonly entries = new Map<string, Entry & { readonly content: Buffer }>()
  private bytes = 0

  constructor(private readonly budget: number) {}

  add(entry: Entry & { readonly content: Buffer }): void {
    const size = entry.content.byteLength + overhead
    if (this.bytes + size > this.budget) return
    this.entries.set(entry.record.id, entry)
    this.bytes += size
  }

  /** The entry of `id`, which leaves: the caller takes it, or changes its record. */
  take(id: string): (Entry & { readonly content: Buffer }) | undefined {
    const entry = this.entries.get(id)
    if (entry === undefined) return undefined
    this.entries.delete(id)
    this.bytes -= entry.content.byteLength + overhead
    return entry
  }
}
