import { describe, expect, it } from "@effect/vitest"
import type { Circuits, Target } from "../src/internal/Router.js"
import { Router } from "../src/internal/Router.js"

interface Job {
  readonly n: number
  readonly excluded: Set<string>
  readonly avoid: string | undefined
}

type Upstream = { -readonly [K in keyof Target]: Target[K] }

const upstream = (name: string, weight: number, extra: Partial<Upstream> = {}): Upstream => ({
  name,
  weight,
  role: "active",
  spill: false,
  room: 1_000,
  ...extra
})

const open = (...names: ReadonlyArray<string>): Circuits => ({ available: new Set(names), probing: new Set() })

/** Routes `count` jobs; returns the upstream (or line, in brackets) each went to, as a string. */
const routeAll = (router: Router<Job, Upstream>, count: number, circuits: Circuits) => {
  let sequence = ""
  for (let n = 0; n < count; n++) {
    const routed = router.route({ n, excluded: new Set(), avoid: undefined }, circuits)
    if (routed === "queued") sequence += "."
    else if (typeof routed === "string") sequence += "!"
    else {
      sequence += routed.target.name
      routed.target.room--
    }
  }
  return sequence
}

describe("Router", () => {
  // Table-driven, after undici's balanced-pool test: upstreams in, the routing sequence out
  // ("." = into the picked upstream's line, "!" = unroutable).
  const cases: ReadonlyArray<{
    readonly name: string
    readonly upstreams: () => ReadonlyArray<Upstream>
    readonly circuits: Circuits
    readonly sequence: string
  }> = [
    {
      name: "2:3 with room everywhere interleaves smoothly",
      upstreams: () => [upstream("A", 2), upstream("B", 3)],
      circuits: open("A", "B"),
      sequence: "BABABBABAB"
    },
    {
      name: "a full upstream's turns wait in its line: the others do not take them",
      upstreams: () => [upstream("A", 2, { room: 0 }), upstream("B", 3)],
      circuits: open("A", "B"),
      sequence: "B.B.BB.B.B"
    },
    {
      name: "a full upstream with spill sits its turns out: the others take them",
      upstreams: () => [upstream("A", 2, { room: 0, spill: true }), upstream("B", 3)],
      circuits: open("A", "B"),
      sequence: "BBBBBBBBBB"
    },
    {
      name: "with every upstream full and spilling, turns wait in lines after all",
      upstreams: () => [upstream("A", 1, { room: 0, spill: true }), upstream("B", 1, { room: 0, spill: true })],
      circuits: open("A", "B"),
      sequence: "......"
    },
    {
      name: "an open circuit moves its share to the other actives",
      upstreams: () => [upstream("A", 2), upstream("B", 3), upstream("C", 5)],
      circuits: open("A", "C"),
      sequence: "CACCCACCAC"
    },
    {
      name: "standbys only while no active can take mail",
      upstreams: () => [upstream("A", 1), upstream("S", 1, { role: "standby" })],
      circuits: open("A", "S"),
      sequence: "AAAA"
    },
    {
      name: "every active circuit open: the standbys carry it",
      upstreams: () => [upstream("A", 1), upstream("S", 1, { role: "standby" }), upstream("T", 1, { role: "standby" })],
      circuits: open("S", "T"),
      sequence: "STST"
    },
    {
      name: "nothing available: unroutable",
      upstreams: () => [upstream("A", 1), upstream("B", 1)],
      circuits: open(),
      sequence: "!!!"
    }
  ]

  it.each(cases)("$name", ({ circuits, sequence, upstreams }) => {
    const router = new Router<Job, Upstream>(upstreams(), 1_000)
    expect(routeAll(router, sequence.length, circuits)).toBe(sequence)
  })

  it("holds 2:3 exactly over 2,000 jobs when both upstreams are always full", () => {
    const a = upstream("A", 2, { room: 0 })
    const b = upstream("B", 3, { room: 0 })
    const router = new Router<Job, Upstream>([a, b], 10_000)
    routeAll(router, 2_000, open("A", "B"))
    a.room = 10_000
    b.room = 10_000
    const released = router.release(open("A", "B"))
    expect(released.filter((x) => x.target === a)).toHaveLength(800)
    expect(released.filter((x) => x.target === b)).toHaveLength(1_200)
    expect(router.queued).toBe(0)
  })

  it("releases a line in order, as far as its upstream has room, and only to that upstream", () => {
    const a = upstream("A", 1, { room: 0 })
    const b = upstream("B", 1, { room: 0 })
    const router = new Router<Job, Upstream>([a, b], 100)
    routeAll(router, 6, open("A", "B"))
    b.room = 2
    const released = router.release(open("A", "B"))
    expect(released.map((x) => [x.target.name, x.job.n])).toEqual([["B", 1], ["B", 3]])
    expect(router.queued).toBe(4)
  })

  it("a job routed while its upstream has others waiting joins the line behind them", () => {
    const a = upstream("A", 1, { room: 0 })
    const router = new Router<Job, Upstream>([a], 100)
    expect(routeAll(router, 2, open("A"))).toBe("..")
    a.room = 5
    // Room again, but two are waiting: a newcomer does not overtake them.
    expect(routeAll(router, 1, open("A"))).toBe(".")
    expect(router.release(open("A")).map((x) => x.job.n)).toEqual([0, 1, 0])
  })

  it("evicts the line of an upstream whose circuit opened, for its jobs to be routed again", () => {
    const a = upstream("A", 1, { room: 0 })
    const b = upstream("B", 1, { room: 0 })
    const router = new Router<Job, Upstream>([a, b], 100)
    routeAll(router, 4, open("A", "B"))
    const evicted = router.evict(open("B"))
    expect(evicted.map((job) => job.n)).toEqual([0, 2])
    expect(router.queued).toBe(2)
    expect(router.release(open("B"))).toEqual([])
  })

  it("skips upstreams that already failed the job", () => {
    const router = new Router<Job, Upstream>([upstream("A", 1), upstream("B", 1)], 100)
    const routed = router.route({ n: 0, excluded: new Set(["A"]), avoid: undefined }, open("A", "B"))
    expect(typeof routed === "object" && routed.target.name).toBe("B")
    expect(router.route({ n: 1, excluded: new Set(["A", "B"]), avoid: undefined }, open("A", "B"))).toBe("excluded")
  })

  it("sends a retry elsewhere than the upstream that deferred it, while another can take it", () => {
    const router = new Router<Job, Upstream>([upstream("A", 1), upstream("B", 1), upstream("C", 1, { role: "standby" })], 100)
    const targets = Array.from({ length: 6 }, (_, n) => {
      const routed = router.route({ n, excluded: new Set(), avoid: "A" }, open("A", "B", "C"))
      return typeof routed === "object" ? routed.target.name : routed
    })
    expect(targets).toEqual(["B", "B", "B", "B", "B", "B"])
    // Only A can take it: it goes there after all (a standby is no alternative while an active can).
    const routed = router.route({ n: 6, excluded: new Set(), avoid: "A" }, open("A", "C"))
    expect(typeof routed === "object" && routed.target.name).toBe("A")
    // Failed by the others during this lease, and A deferred it last time: A is still a place to try.
    const last = router.route({ n: 7, excluded: new Set(["B"]), avoid: "A" }, open("A", "B"))
    expect(typeof last === "object" && last.target.name).toBe("A")
  })

  it("is full when the lines hold its capacity", () => {
    const router = new Router<Job, Upstream>([upstream("A", 1, { room: 0 })], 3)
    routeAll(router, 3, open("A"))
    expect(router.isFull).toBe(true)
    expect(router.clear().map((job) => job.n)).toEqual([0, 1, 2])
    expect(router.isFull).toBe(false)
  })
})
