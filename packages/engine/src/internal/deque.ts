/** A FIFO with O(1) push and shift; arrays shift in O(n), which hurts at queue depths of millions. */
export class Deque<A> {
  private items: Array<A | undefined> = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(item: A): void {
    this.items.push(item)
  }

  /** Puts an item back at the front (O(1) after a shift; rare otherwise). */
  unshift(item: A): void {
    if (this.head > 0) this.items[--this.head] = item
    else this.items.unshift(item)
  }

  peek(): A | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined
  }

  shift(): A | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }
}
