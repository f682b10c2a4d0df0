/**
 * A host application embedding Sluice, run in its own process by test/embedding.test.ts: it delivers
 * one message and has another deferred, then closes. With LOGGER=1 it passes `logger` and prints what
 * arrived, as JSON, when it is done; without, it prints nothing itself, so whatever its stdout or
 * stderr holds was written by Sluice.
 */
import type { Logging } from "@sluice/sluice"
import { createEngine } from "@sluice/sluice"

const lines: Array<Logging.Line> = []
const engine = await createEngine(
  {
    queue: { kind: "embedded", path: process.env.SPOOL_PATH! },
    upstreams: [{ host: "127.0.0.1", port: Number(process.env.SMTP_PORT) }],
    log: { level: "debug" }
  },
  process.env.LOGGER === "1" ? { logger: (line) => lines.push(line) } : {}
)
const events = engine.events()
const from = "shop@example.com"
const delivered = await engine.submit({ from, to: ["ada@example.net"], subject: "hello", text: "delivered" })
// The sink refuses an address with a code in it with that code: 451, come back later.
const deferred = await engine.submit({ from, to: ["later+451@example.net"], subject: "hello", text: "deferred" })
const waiting = new Set([delivered.id, deferred.id])
for await (const event of events) {
  if ((event._tag === "Delivered" || event._tag === "Deferred") && waiting.delete(event.id) && waiting.size === 0) break
}
await engine.close()
if (process.env.LOGGER === "1") process.stdout.write(JSON.stringify({ delivered: delivered.id, deferred: deferred.id, lines }))
