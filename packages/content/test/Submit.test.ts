import { KeyValueStore } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Config, decodeMessage, MemoryQueue, Sluice } from "@sluice/engine"
import { Sink } from "@sluice/sink"
import { Context, Effect, Layer, Option } from "effect"
import { Recipients } from "../src/Recipients.js"
import { Templates } from "../src/Templates.js"

// Issue 15, item 1: templates and recipient checks are the engine's, through its ports, so a program
// that embeds the engine (no HTTP) renders and checks the same way the HTTP API does.

const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const delivered = (sluice: Sluice["Type"], id: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    for (;;) {
      const record = Option.getOrUndefined(yield* Effect.orDie(sluice.status(id)))
      if (record?.status === "delivered") return record
      if (Date.now() > deadline) return yield* Effect.die(new Error(`${id} not delivered: ${JSON.stringify(record)}`))
      yield* realSleep(10)
    }
  })

/** An engine on a memory queue delivering to `sink`, given `services` (the ports among them), all in the scope. */
const engine = <S>(sink: Sink.Sink, services: Layer.Layer<S>) =>
  Effect.gen(function*() {
    const config = yield* Effect.orDie(Config.decode({
      upstreams: [{ name: "sink", host: sink.host, port: sink.port }]
    }))
    const context = yield* Layer.build(
      Sluice.layer(config, { drainTimeout: "2 seconds" }).pipe(
        Layer.provideMerge(services),
        Layer.provide(MemoryQueue.layer({ maxDepth: 100 }))
      )
    )
    return context
  })

describe("Sluice.submit renders and checks, without HTTP", () => {
  it.scoped("a template is rendered and a suppressed recipient refused by the engine; the rendered message reaches a real sink", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const stores = Layer.mergeAll(Templates.layer, Recipients.layer()).pipe(Layer.provide(KeyValueStore.layerMemory))
      const context = yield* engine(sink, stores)
      const sluice = Context.get(context, Sluice)
      yield* Context.get(context, Templates).put("welcome", { subject: "Welcome {{name}}", text: "Hello {{name}}" })
      yield* Effect.orDie(Context.get(context, Recipients).suppress("Gone@Example.net", "bounced"))

      const message = yield* decodeMessage({ from: "shop@example.com", to: ["ann@example.net"], template: { id: "welcome", vars: { name: "Ann" } } })
      const { id } = yield* sluice.submit(message)
      yield* delivered(sluice, id)
      const data = sink.messages[0]!.data.toString("utf8")
      expect(data).toContain("Subject: Welcome Ann")
      expect(data).toContain("Hello Ann")

      const refused = yield* Effect.flip(sluice.submit({ from: "shop@example.com", to: ["ok@example.net", "gone@example.net"], text: "x" }))
      expect(refused).toMatchObject({ _tag: "RecipientsRefused", refused: [{ index: 1, address: "gone@example.net" }] })
      const missing = yield* Effect.flip(sluice.submit({ from: "shop@example.com", to: ["ok@example.net"], template: { id: "nope" } }))
      expect(missing).toMatchObject({ _tag: "TemplateNotFound", id: "nope" })
      // A batch: each judged alone, the good one queued beside the refused.
      const batch = yield* sluice.submitBatch([
        { from: "shop@example.com", to: ["gone@example.net"], template: { id: "welcome", vars: { name: "G" } } },
        { from: "shop@example.com", to: ["bo@example.net"], template: { id: "welcome", vars: { name: "Bo" } } }
      ])
      expect(batch[0]).toMatchObject({ _tag: "Left", left: { _tag: "RecipientsRefused" } })
      expect(batch[1]!._tag).toBe("Right")
      if (batch[1]!._tag === "Right") yield* delivered(sluice, batch[1]!.right.id)
      expect(sink.messages.map((m) => m.to)).toEqual([["ann@example.net"], ["bo@example.net"]])
    }))

  it.scoped("an engine built without Templates refuses a template at `template`, and queues plain messages", () =>
    Effect.gen(function*() {
      const sink = yield* Sink.make()
      const context = yield* engine(sink, Layer.empty)
      const sluice = Context.get(context, Sluice)
      const error = yield* Effect.flip(sluice.submit({ from: "a@example.com", to: ["b@example.net"], template: { id: "welcome" } }))
      expect(error).toMatchObject({ _tag: "InvalidMessage", field: "template" })
      const { id } = yield* sluice.submit({ from: "a@example.com", to: ["b@example.net"], text: "plain" })
      yield* delivered(sluice, id)
    }))
})
