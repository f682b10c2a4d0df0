/** A min-heap of ids by due time, so deferred messages come back in the order they are due. */
export class DueHeap {
  private readonly heap: Array<{ readonly at: number; readonly id: string }> = []

  get size(): number {
    return this.heap.length
  }

  get nextDue(): number | undefined {
    return this.heap[0]?.at
  }

  push(at: number, id: string): void {
    const heap = this.heap
    heap.push({ at, id })
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]!.at <= heap[i]!.at) break
      ;[heap[parent], heap[i]] = [heap[i]!, heap[parent]!]
      i = parent
    }
  }

  /** Removes and returns every id due at or before `now`, earliest first. */
  popDue(now: number): Array<string> {
    const due: Array<string> = []
    while (this.heap.length > 0 && this.heap[0]!.at <= now) due.push(this.pop())
    return due
  }

  private pop(): string {
    const heap = this.heap
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let min = i
        if (l < heap.length && heap[l]!.at < heap[min]!.at) min = l
        if (r < heap.length && heap[r]!.at < heap[min]!.at) min = r
        if (min === i) break
        ;[heap[min], heap[i]] = [heap[i]!, heap[min]!]
        i = min
      }
    }
    return top.id
  }
}
