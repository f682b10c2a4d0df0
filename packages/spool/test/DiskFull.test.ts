import * as fs from "node:fs"
import * as nodePath from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Logger, LogLevel, Option } from "effect"
import type { QueueError, SluiceShape } from "@sluice/engine"
import { Config, DeliveryQueue, Sluice } from "@sluice/engine"
import { Sink } from "@sluice/sink"
import { Spool } from "../src/index.js"
import { canMount, fill, tmpfs } from "./support/tmpfs.js"

// A full disk, for real: a small tmpfs, which takes root to mount (CI runs as root). Elsewhere these
// tests are skipped: LMDB's map-full cannot stand in, lmdb-js grows its map by itself.

const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Polls (real time: a disk, sockets) until `check` holds; dies naming `what` after 60 s. */
const until = <E>(check: Effect.Effect<boolean, E>, what: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 60_000
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* realSleep(20)
    }
  })

/** Every unhandled rejection in this process while the scope is open (the crash of issue 14). */
const unhandledRejections = Effect.acquireRelease(
  Effect.sync(() => {
    const seen: Array<unknown> = []
    const listener = (reason: unknown) => void seen.push(reason)
    process.on("unhandledRejection", listener)
    return { seen, listener }
  }),
  ({ listener }) => Effect.sync(() => void process.off("unhandledRejection", listener))
).pipe(Effect.map(({ seen }) => seen))

// Large enough to fill 8 MB in a few hundred submits.
const body = "x".repeat(76).concat("\r\n").repeat(400)
const message = (seq: number) => ({
  from: "sender@example.com",
  to: [`r${seq}@example.net`],
  raw: `Subject: message ${seq}\r\nX-Seq: ${seq}\r\n\r\n${body}`
})

/**
 * The engine on a spool at `path`, delivering to a sink that defers every message (451 at MAIL FROM)
 * while `upstream.down`: an upstream that is down, so the spool fills, and every retry is a settle
 * written to the full disk.
 */
const start = (path: string, spool: Partial<Spool.Options>) =>
  Effect.gen(function*() {
    const upstream = { down: true, tried: 0 }
    const sink = yield* Sink.make({
      onMailFrom: () => {
        upstream.tried++
        return upstream.down ? { code: 451, text: "down for now" } : undefined
      }
    })
    const config = yield* Config.decode({
      upstreams: [{ name: "sink", host: sink.host, port: sink.port }],
      retry: { maxAttempts: 10_000, initialDelay: "50 millis", maxDelay: "200 millis", maxAge: "1 hour" },
      circuitBreaker: { failureThreshold: 1000, cooldown: "100 millis" }
    })
    const context = yield* Layer.build(
      Sluice.layer(config, { drainTimeout: "2 seconds" }).pipe(Layer.provideMerge(Spool.layer({ path, ...spool })))
    ).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.None)))
    return { sluice: Context.get(context, Sluice), queue: Context.get(context, DeliveryQueue), sink, upstream }
  })

/** Submits message after message until one is refused: the seqs and ids accepted, and the refusal. */
const submitUntilRefused = (sluice: SluiceShape, accepted: Map<number, string>) =>
  Effect.gen(function*() {
    for (let seq = accepted.size; seq < 2000; seq++) {
      const result = yield* Effect.either(sluice.submit(message(seq)))
      if (result._tag === "Right") {
        accepted.set(seq, result.right.id)
        continue
      }
      expect(result.left._tag).toBe("QueueError")
      return result.left as QueueError
    }
    return yield* Effect.die(new Error("2000 messages fit on an 8 MB disk"))
  })

/** Lets the upstream take mail, waits until nothing is left, and checks each accepted message arrived once. */
const deliverAll = (running: Effect.Effect.Success<ReturnType<typeof start>>, accepted: Map<number, string>) =>
  Effect.gen(function*() {
    const { queue, sink, sluice, upstream } = running
    upstream.down = false
    yield* until(Effect.map(queue.depth, (depth) => depth === 0), "every message to be delivered")
    const received = new Map<number, number>()
    for (const m of sink.messages) {
      const seq = Number(/X-Seq: (\d+)/.exec(m.data.toString("latin1"))?.[1])
      received.set(seq, (received.get(seq) ?? 0) + 1)
    }
    for (const [seq, id] of accepted) {
      expect(received.get(seq), `message ${seq} (${id}) arrives exactly once`).toBe(1)
      const record = Option.getOrThrow(yield* sluice.status(id))
      expect(record.status, `message ${seq} (${id})`).toBe("delivered")
    }
    expect(sink.messages.length).toBe(accepted.size)
  })

describe.skipIf(!canMount)("a full disk (a tmpfs of 8 MB)", () => {
  // Not tested here: LMDB's own commit failing for want of room (minFreeBytes 0). lmdb-js survives
  // it with the unhandled commit promise now heard (store.ts), but its native code then corrupts its
  // heap at times ("malloc(): invalid next size" seen in CI): the reserve below is what keeps the
  // spool out of that path.
  it.live("room is kept for what is accepted: submits are refused before the disk is full, deferrals are still written, and all arrive once", () =>
    Effect.scoped(Effect.gen(function*() {
      const rejections = yield* unhandledRejections
      const disk = yield* tmpfs("8m")
      const filler = nodePath.join(disk, "filler")
      fill(filler, 2 * 2 ** 20)
      const running = yield* start(nodePath.join(disk, "spool"), { minFreeBytes: 2 ** 20 })
      const { queue, sluice } = running

      const accepted = new Map<number, string>()
      const refused = yield* submitUntilRefused(sluice, accepted)
      expect(refused.outOfSpace).toBe(true)
      expect(refused.message).toContain("no space left on the device")
      // Refused before LMDB ran out: nothing failed, the room is there.
      expect(fs.statfsSync(disk).bavail * fs.statfsSync(disk).bsize).toBeGreaterThan(2 ** 20 / 2)
      expect(Exit.isFailure(yield* Effect.exit(sluice.submit(message(accepted.size))))).toBe(true)

      // Every retry of the deferred messages is a settle: they keep landing while submits are refused.
      const id = accepted.get(0)!
      const attemptsNow = Option.getOrThrow(yield* sluice.status(id)).attempts
      yield* until(
        Effect.map(sluice.status(id), (record) => Option.getOrThrow(record).attempts > attemptsNow + 1),
        "deferrals to be settled on the full disk"
      )
      expect(yield* queue.isOpen).toBe(true)

      fs.rmSync(filler)
      for (let i = 0; i < 10; i++) {
        const seq = accepted.size
        accepted.set(seq, (yield* sluice.submit(message(seq))).id)
      }
      yield* deliverAll(running, accepted)
      expect(rejections).toEqual([])
    })), 120_000)

  it.live("opening a spool on a full disk fails saying so, leaves no lock file behind, and works once room is made", () =>
    Effect.scoped(Effect.gen(function*() {
      const disk = yield* tmpfs("1m")
      const path = nodePath.join(disk, "spool")
      yield* Effect.scoped(Spool.make({ path }))
      const filler = nodePath.join(disk, "filler")
      fill(filler)

      const refused = yield* Effect.flip(Effect.scoped(Spool.make({ path })))
      expect(refused).toMatchObject({ _tag: "SpoolError", reason: "DiskFull", path })
      expect(refused.message).toContain("no space left on the device")
      expect(fs.readdirSync(path).filter((name) => name.startsWith("spool.lock"))).toEqual([])

      fs.rmSync(filler)
      const spool = yield* Spool.make({ path })
      expect(yield* spool.isOpen).toBe(true)
    })), 60_000)
})
