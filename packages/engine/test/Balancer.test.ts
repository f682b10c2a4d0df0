import { describe, expect, it } from "@effect/vitest"
import { Balancer } from "../src/internal/Balancer.js"

const names = ["A", "B", "C", "D", "E"]
const peersOf = (weights: ReadonlyArray<number>) => weights.map((weight, i) => ({ name: names[i]!, weight }))
const always = () => true

const run = (balancer: Balancer, picks: number, eligible: (name: string) => boolean = always) =>
  Array.from({ length: picks }, () => balancer.pick(eligible))

const countsOf = (picks: ReadonlyArray<string | undefined>) => {
  const counts: Record<string, number> = {}
  for (const name of picks) if (name !== undefined) counts[name] = (counts[name] ?? 0) + 1
  return counts
}

// After the manner of undici's test/node-test/balanced-pool.js: weights in, the first picks and the
// long-run shares out.
const cases: ReadonlyArray<{
  readonly weights: ReadonlyArray<number>
  readonly sequence: string
  readonly ratios: ReadonlyArray<number>
}> = [
  { weights: [2, 3], sequence: "BABAB BABAB", ratios: [0.4, 0.6] },
  { weights: [1, 1], sequence: "ABABAB", ratios: [0.5, 0.5] },
  { weights: [1, 1, 1], sequence: "ABCABCABC", ratios: [1 / 3, 1 / 3, 1 / 3] },
  // nginx's own example (ngx_http_upstream_round_robin.c): { a a b a c a a }
  { weights: [5, 1, 1], sequence: "AABACAA AABACAA", ratios: [5 / 7, 1 / 7, 1 / 7] },
  { weights: [1, 0, 1], sequence: "ACACAC", ratios: [0.5, 0, 0.5] },
  { weights: [0.5, 1.5], sequence: "BABB BABB", ratios: [0.25, 0.75] },
  { weights: [1, 9], sequence: "BBBBABBBBB", ratios: [0.1, 0.9] },
  { weights: [4, 2, 1], sequence: "ABACABA", ratios: [4 / 7, 2 / 7, 1 / 7] },
  { weights: [100, 1], sequence: "A".repeat(50) + "B" + "A".repeat(50), ratios: [100 / 101, 1 / 101] }
]

describe("Balancer", () => {
  describe.each(cases)("weights $weights", ({ ratios, sequence, weights }) => {
    const total = weights.reduce((sum, weight) => sum + weight, 0)

    it("interleaves the first picks smoothly", () => {
      const expected = sequence.replaceAll(" ", "")
      expect(run(new Balancer(peersOf(weights)), expected.length).join("")).toBe(expected)
    })

    it("gives each peer its exact share over whole rounds", () => {
      // A round is `total` picks; over whole rounds smooth WRR is exact, not merely close.
      const rounds = Math.floor(10_000 / total)
      const counts = countsOf(run(new Balancer(peersOf(weights)), rounds * total))
      weights.forEach((weight, i) => expect(counts[names[i]!] ?? 0).toBe(rounds * weight))
    })

    it("keeps the ratios over 10,000 picks", () => {
      const counts = countsOf(run(new Balancer(peersOf(weights)), 10_000))
      ratios.forEach((ratio, i) => expect(Math.abs((counts[names[i]!] ?? 0) - 10_000 * ratio)).toBeLessThan(1))
    })

    it("never gives a peer more than one pick beyond its share in any prefix", () => {
      const balancer = new Balancer(peersOf(weights))
      const counts: Record<string, number> = {}
      for (let n = 1; n <= 1_000; n++) {
        const name = balancer.pick(always)!
        counts[name] = (counts[name] ?? 0) + 1
        weights.forEach((weight, i) => expect(counts[names[i]!] ?? 0).toBeLessThan(n * weight / total + 1))
      }
    })
  })

  it("returns undefined when no peer is eligible", () => {
    const balancer = new Balancer(peersOf([2, 3]))
    expect(balancer.pick(() => false)).toBeUndefined()
    expect(new Balancer([]).pick(always)).toBeUndefined()
    expect(new Balancer(peersOf([0, 0])).pick(always)).toBeUndefined()
    // and nothing was spent by the empty picks
    expect(run(balancer, 5).join("")).toBe("BABAB")
  })

  it("never picks a peer of weight 0, even when it is the only eligible one", () => {
    const balancer = new Balancer(peersOf([0, 1]))
    expect(run(balancer, 100).every((name) => name === "B")).toBe(true)
    expect(balancer.pick((name) => name === "A")).toBeUndefined()
  })

  it("hands an ineligible peer's share to the others, and does not burst it when it returns", () => {
    const balancer = new Balancer(peersOf([2, 3]))
    expect(run(balancer, 3).join("")).toBe("BAB")

    // A's circuit opens (or its mailbox fills) for a while: every pick goes to B.
    const withoutA = run(balancer, 1_000, (name) => name !== "A")
    expect(countsOf(withoutA)).toEqual({ B: 1_000 })

    // Back: A has kept no credit from the 1,000 picks it sat out, so it gets its 40%, interleaved.
    const after = run(balancer, 5_000)
    for (let start = 0; start < after.length; start += 5) {
      expect(after.slice(start, start + 5).filter((name) => name === "A").length).toBeLessThanOrEqual(2)
    }
    expect(countsOf(after)).toEqual({ A: 2_000, B: 3_000 })
  })

  it("splits an ineligible peer's share among the others by their weights", () => {
    const balancer = new Balancer(peersOf([1, 1, 2]))
    const counts = countsOf(run(balancer, 3_000, (name) => name !== "C"))
    expect(counts).toEqual({ A: 1_500, B: 1_500 })
  })

  it("gives a peer that flickers in and out no more than its share while it is eligible", () => {
    const balancer = new Balancer(peersOf([1, 1, 1]))
    let n = 0
    // C is eligible every other pick, as a mailbox that fills and drains would make it.
    const counts = countsOf(run(balancer, 6_000, (name) => name !== "C" || n++ % 2 === 1))
    expect(counts["C"]).toBeLessThanOrEqual(1_000)
    expect(counts["A"]! + counts["B"]! + counts["C"]!).toBe(6_000)
  })
})
