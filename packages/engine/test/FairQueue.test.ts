import { describe, expect, it } from "@effect/vitest"
import { FairQueue } from "../src/internal/FairQueue.js"

const weightsOf = (weights: Record<string, number>) => new Map(Object.entries(weights))

const fill = <A>(queue: FairQueue<A>, stream: string, items: ReadonlyArray<A>) => {
  for (const item of items) queue.push(stream, item)
}
const numbered = (stream: string, n: number) => Array.from({ length: n }, (_, i) => `${stream}${i}`)

/** Pops n items (fewer if the queue runs dry) and returns the stream of each. */
const popStreams = (queue: FairQueue<unknown>, n: number) => {
  const streams: Array<string> = []
  for (let i = 0; i < n; i++) {
    const next = queue.pop()
    if (next === undefined) break
    streams.push(next.stream)
  }
  return streams
}

const countsOf = (streams: ReadonlyArray<string>) => {
  const counts: Record<string, number> = {}
  for (const stream of streams) counts[stream] = (counts[stream] ?? 0) + 1
  return counts
}

// Every stream backlogged far beyond the pops: the shares are the weights, exactly over whole rounds.
const backlogged: ReadonlyArray<{
  readonly weights: Record<string, number>
  readonly first: string
  readonly pops: number
  readonly counts: Record<string, number>
}> = [
  { weights: { a: 8, b: 1 }, first: "aaaaaaaab aaaaaaaab", pops: 9_000, counts: { a: 8_000, b: 1_000 } },
  { weights: { a: 4, b: 2, c: 1 }, first: "aabaabc aabaabc", pops: 7_000, counts: { a: 4_000, b: 2_000, c: 1_000 } },
  { weights: { a: 1, b: 1, c: 1 }, first: "abcabc", pops: 9_000, counts: { a: 3_000, b: 3_000, c: 3_000 } },
  { weights: { a: 1, b: 3 }, first: "bbab bbab", pops: 8_000, counts: { a: 2_000, b: 6_000 } },
  // streams missing from the map weigh 1
  { weights: { a: 2 }, first: "aab aab", pops: 9_000, counts: { a: 6_000, b: 3_000 } }
]

describe("FairQueue", () => {
  describe.each(backlogged)("backlogged streams weighted $weights", ({ counts, first, pops, weights }) => {
    const streams = Object.keys(counts)
    const make = () => {
      const queue = new FairQueue<string>(weightsOf(weights))
      for (const stream of streams) fill(queue, stream, numbered(stream, pops))
      return queue
    }

    it("interleaves in weight order", () => {
      const expected = first.replaceAll(" ", "")
      expect(popStreams(make(), expected.length).join("")).toBe(expected)
    })

    it("serves them in proportion to their weights", () => {
      expect(countsOf(popStreams(make(), pops))).toEqual(counts)
    })
  })

  it("is FIFO within a stream", () => {
    const queue = new FairQueue<string>(weightsOf({ a: 3, b: 1 }))
    fill(queue, "a", numbered("a", 50))
    fill(queue, "b", numbered("b", 50))
    const popped: Record<string, Array<string>> = { a: [], b: [] }
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) popped[next.stream]!.push(next.item)
    expect(popped).toEqual({ a: numbered("a", 50), b: numbered("b", 50) })
  })

  it("keeps count and says when it is empty", () => {
    const queue = new FairQueue<number>(weightsOf({}))
    expect(queue.isEmpty).toBe(true)
    expect(queue.pop()).toBeUndefined()
    queue.push("a", 1)
    queue.push("a", 2)
    queue.push("b", 3)
    expect([queue.size(), queue.size("a"), queue.size("b"), queue.size("c")]).toEqual([3, 2, 1, 0])
    expect(queue.isEmpty).toBe(false)
    expect(queue.pop()).toEqual({ stream: "a", item: 1 })
    expect([queue.size(), queue.size("a")]).toEqual([2, 1])
    queue.pop()
    queue.pop()
    expect([queue.size(), queue.isEmpty, queue.pop()]).toEqual([0, true, undefined])
  })

  it("carries items that are themselves undefined", () => {
    const queue = new FairQueue<undefined>(weightsOf({}))
    queue.push("a", undefined)
    expect(queue.pop()).toEqual({ stream: "a", item: undefined })
    expect(queue.pop()).toBeUndefined()
  })

  it("breaks ties by stream name, whatever order the streams arrived in", () => {
    const queue = new FairQueue<string>(weightsOf({}))
    fill(queue, "c", ["c"])
    fill(queue, "a", ["a"])
    fill(queue, "b", ["b"])
    expect(popStreams(queue, 3)).toEqual(["a", "b", "c"])
  })

  it("rejects a weight that is not a positive number", () => {
    expect(() => new FairQueue(weightsOf({ a: 0 }))).toThrow(RangeError)
    expect(() => new FairQueue(weightsOf({ a: -1 }))).toThrow(RangeError)
    expect(() => new FairQueue(weightsOf({ a: Number.NaN }))).toThrow(RangeError)
    expect(() => new FairQueue(weightsOf({ a: Infinity }))).toThrow(RangeError)
  })

  it("gives an idle stream's share to the others", () => {
    const queue = new FairQueue<string>(weightsOf({ a: 4, b: 2, c: 2 }))
    fill(queue, "a", numbered("a", 10_000))
    fill(queue, "b", numbered("b", 10_000))
    // c has nothing to send: a and b split everything 4:2
    expect(countsOf(popStreams(queue, 6_000))).toEqual({ a: 4_000, b: 2_000 })
  })

  it("serves a stream that comes back from idle promptly, without a burst beyond its share", () => {
    const queue = new FairQueue<string>(weightsOf({ a: 8, b: 1, c: 1 }))
    fill(queue, "a", numbered("a", 100_000))
    fill(queue, "b", numbered("b", 100_000))
    fill(queue, "c", numbered("c", 10))
    popStreams(queue, 1_000) // c drains early, then sits idle while a and b go on

    expect(queue.size("c")).toBe(0)
    fill(queue, "c", numbered("c", 10_000))
    const after = popStreams(queue, 1_000)
    // c's share is 1/10: first served within one round of 10 pops, and never more than one beyond
    // its share in any prefix, despite the ~900 pops it sat out.
    expect(after.indexOf("c")).toBeLessThan(10)
    let served = 0
    after.forEach((stream, i) => {
      if (stream === "c") served++
      expect(served).toBeLessThanOrEqual((i + 1) / 10 + 1)
    })
    expect(countsOf(after)).toEqual({ a: 800, b: 100, c: 100 })
  })

  it("does not let a stream that drains and refills at once lose its place", () => {
    const queue = new FairQueue<string>(weightsOf({ a: 1, b: 1 }))
    fill(queue, "a", numbered("a", 1_000))
    const streams: Array<string> = []
    queue.push("b", "b")
    // b always has exactly one item: it refills the moment it is served, like a producer keeping pace.
    for (let i = 0; i < 1_000; i++) {
      const next = queue.pop()!
      streams.push(next.stream)
      if (next.stream === "b") queue.push("b", "b")
    }
    expect(countsOf(streams)).toEqual({ a: 500, b: 500 })
  })

  it.each([1, 2, 5])("starves no one: a weight-1 stream among %i weight-100 streams", (heavy) => {
    const weights: Record<string, number> = { light: 1 }
    for (let i = 0; i < heavy; i++) weights[`heavy${i}`] = 100
    const queue = new FairQueue<string>(weightsOf(weights))
    for (const stream of Object.keys(weights)) fill(queue, stream, numbered(stream, 20_000))

    const streams = popStreams(queue, 100 * heavy * 20)
    // Its share is 1 in 100 × heavy + 1: served at least once in every such window.
    const window = 100 * heavy + 1
    let last = -1
    streams.forEach((stream, i) => {
      if (stream === "light") {
        expect(i - last).toBeLessThanOrEqual(window)
        last = i
      }
    })
    expect(streams.length - 1 - last).toBeLessThan(window)
    expect(countsOf(streams)["light"]).toBeGreaterThanOrEqual(19)
  })

  it("carries nothing of a drained run into the next", () => {
    const queue = new FairQueue<string>(weightsOf({ a: 8, b: 1 }))
    fill(queue, "a", numbered("a", 1_000))
    popStreams(queue, 1_000)
    // Same answer as a fresh queue: nothing of the past run leaks into the next one.
    fill(queue, "a", numbered("a", 100))
    fill(queue, "b", numbered("b", 100))
    expect(popStreams(queue, 18).join("")).toBe("aaaaaaaabaaaaaaaab")
  })
})
