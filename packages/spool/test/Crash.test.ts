import * as nodePath from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Sink } from "@sluice/sink"
import { Spool } from "../src/index.js"
import { run } from "./support/child.js"
import { tempDir } from "./support/spool.js"

const total = 3000
const connections = 4
// What can be delivered twice is what was sent and not yet settled at the kill: two transactions per
// connection (pipelined, RFC 2920), and outcomes gathered for the next settlement commit, which the
// scheduler's prefetch (Scheduler.ts) bounds. Leased and waiting, never sent, is never duplicated.
const prefetch = Math.max(8, 2 * connections)

const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("kill -9", () => {
  it.live("every message whose submit returned ends delivered; duplicates only for what was in flight", () =>
    Effect.scoped(Effect.gen(function*() {
      const path = nodePath.join(yield* tempDir, "spool")
      // A little slower than submitting, so a backlog is queued when the kill lands.
      const sink = yield* Sink.make({ record: "full", dataDelayMs: 5 })
      const args = [path, sink.host, String(sink.port), String(connections)]

      const first = yield* run("engine.ts", [...args, "submit", String(total)])
      // Kill it while it both accepts and delivers.
      const deadline = Date.now() + 60_000
      while (first.lines.filter((l) => l.startsWith("accepted")).length < total / 2 || sink.received < 20) {
        if (Date.now() > deadline) return yield* Effect.die(new Error(`no progress: ${first.lines.length} lines, ${sink.received} received`))
        yield* realSleep(5)
      }
      first.process.kill("SIGKILL")
      expect(yield* first.exited).toBe("SIGKILL")
      const accepted = new Map(first.lines.filter((l) => l.startsWith("accepted")).map((l) => {
        const [, seq, id] = l.split(" ")
        return [Number(seq), id!]
      }))
      const receivedAtKill = sink.received

      const second = yield* run("engine.ts", [...args, "drain"])
      yield* second.line((l) => l === "drained", "drained", 90_000)
      expect(yield* second.exited).toBe(0)

      const seqs = new Map<number, number>()
      for (const m of sink.messages) {
        const seq = Number(/X-Seq: (\d+)/.exec(m.data.toString())?.[1])
        seqs.set(seq, (seqs.get(seq) ?? 0) + 1)
      }
      const spool = yield* Spool.make({ path })
      expect(yield* spool.depth).toBe(0)
      for (const [seq, id] of accepted) {
        expect(seqs.get(seq) ?? 0, `message ${seq} (${id})`).toBeGreaterThanOrEqual(1)
        const record = Option.getOrThrow(yield* spool.status(id))
        expect(record.status, `message ${seq} (${id})`).toBe("delivered")
      }
      const duplicates = [...seqs.values()].reduce((n, times) => n + times - 1, 0)
      expect(duplicates).toBeLessThanOrEqual(2 * connections + prefetch)
      // The kill did land mid-run: something was accepted after it or still to deliver.
      expect(sink.received).toBeGreaterThan(receivedAtKill)
      console.log(`accepted ${accepted.size} before the kill, ${receivedAtKill} delivered by then, ${duplicates} delivered twice`)
    })), 180_000)
})
