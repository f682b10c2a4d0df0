/**
 * One measured client run of the transport scenario, in a process of its own so its CPU time and peak
 * RSS are its own: `node --import tsx transport-client.ts '<json config>'`.
 *
 * It first sends `warmup` messages through a transport it then closes (JIT and connection code warm),
 * then times `messages` sends through a fresh pooled transport: from creating the transport to the
 * last message's final reply (closing it is not timed). Reports over IPC, then exits.
 */
import { connect } from "node:net"
import { Effect } from "effect"
import nodemailer from "nodemailer"
import { SmtpOptions, SmtpPool } from "@sluice/smtp"
import { FROM, makeMessage, TO } from "./message.js"

export interface ClientConfig {
  /**
   * "nodemailer-nodelay": Nodemailer's pool on sockets with Nagle's algorithm off (TCP_NODELAY),
   * handed to it through its `getSocket` option; a reference, not the target peer.
   */
  readonly client: "sluice" | "nodemailer" | "nodemailer-nodelay"
  readonly host: string
  readonly port: number
  readonly messages: number
  readonly warmup: number
  readonly concurrency: number
  readonly connections: number
  readonly size: number
}

export interface ClientReport {
  readonly type: "result"
  readonly client: ClientConfig["client"]
  readonly messages: number
  readonly accepted: number
  readonly failed: number
  readonly firstFailure: string | undefined
  readonly warmupAccepted: number
  readonly elapsedMs: number
  readonly cpuUserMs: number
  readonly cpuSystemMs: number
  /** Peak resident set of this process over its life (warm-up included), in MiB. */
  readonly peakRssMiB: number
  readonly heapUsedMiB: number
}

interface Outcome {
  accepted: number
  failed: number
  firstFailure: string | undefined
  elapsedMs: number
  cpu: NodeJS.CpuUsage
}

const config = JSON.parse(process.argv[2] ?? "{}") as ClientConfig
const message = makeMessage(config.size)
const envelope = { from: FROM, to: [TO] }

const measure = async (run: (started: () => void, finished: () => void) => Promise<Omit<Outcome, "elapsedMs" | "cpu">>): Promise<Outcome> => {
  let t0 = 0
  let t1 = 0
  let cpu0: NodeJS.CpuUsage = process.cpuUsage()
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 }
  const outcome = await run(
    () => {
      cpu0 = process.cpuUsage()
      t0 = performance.now()
    },
    () => {
      t1 = performance.now()
      cpu = process.cpuUsage(cpu0)
    }
  )
  return { ...outcome, elapsedMs: t1 - t0, cpu }
}

const describe = (error: unknown): string => error instanceof Error ? error.message : JSON.stringify(error)

const sluice = (count: number) =>
  measure((started, finished) =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      started()
      const pool = yield* SmtpPool.make(SmtpOptions.make({
        name: "bench",
        host: config.host,
        port: config.port,
        maxConnections: config.connections,
        // As Nodemailer's maxMessages: Infinity: the pool's sessions carry every message.
        maxMessagesPerConnection: Number.POSITIVE_INFINITY
      }))
      let accepted = 0
      let failed = 0
      let firstFailure: string | undefined
      yield* Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        () =>
          pool.send(envelope, message).pipe(
            Effect.match({
              onFailure: (error) => {
                failed++
                firstFailure ??= error.message
              },
              onSuccess: (result) => {
                if (result.recipients.length === 1 && result.recipients[0]!.verdict === "delivered") accepted++
                else {
                  failed++
                  firstFailure ??= JSON.stringify(result.recipients)
                }
              }
            })
          ),
        { concurrency: config.concurrency, discard: true }
      )
      finished()
      return { accepted, failed, firstFailure }
    })))
  )

// Nodemailer's getSocket hook: a connected socket with Nagle's algorithm off.
const noDelaySocket = (
  _options: unknown,
  callback: (error: Error | null, socketOptions?: { connection: import("node:net").Socket }) => void
) => {
  const socket = connect({ host: config.host, port: config.port, noDelay: true })
  socket.once("error", (error) => callback(error))
  socket.once("connect", () => callback(null, { connection: socket }))
}

const nodemailerRun = (count: number) =>
  measure(async (started, finished) => {
    started()
    const transport = nodemailer.createTransport({
      host: config.host,
      port: config.port,
      pool: true,
      maxConnections: config.connections,
      maxMessages: Number.POSITIVE_INFINITY,
      secure: false,
      ignoreTLS: true,
      ...(config.client === "nodemailer-nodelay" ? { getSocket: noDelaySocket } : {})
    } as import("nodemailer/lib/smtp-pool/index.js").Options)
    let next = 0
    let accepted = 0
    let failed = 0
    let firstFailure: string | undefined
    const worker = async () => {
      while (next < count) {
        next++
        try {
          const info = await transport.sendMail({ envelope, raw: message })
          if (info.accepted.length === 1 && info.rejected.length === 0) accepted++
          else {
            failed++
            firstFailure ??= `accepted ${JSON.stringify(info.accepted)}, rejected ${JSON.stringify(info.rejected)}`
          }
        } catch (error) {
          failed++
          firstFailure ??= describe(error)
        }
      }
    }
    await Promise.all(Array.from({ length: config.concurrency }, worker))
    finished()
    transport.close()
    return { accepted, failed, firstFailure }
  })

const main = async () => {
  const run = config.client === "sluice" ? sluice : nodemailerRun
  const warm = config.warmup > 0 ? await run(config.warmup) : undefined
  if (warm !== undefined && warm.failed > 0) throw new Error(`warm-up: ${warm.failed} failed, first: ${warm.firstFailure}`)
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const outcome = await run(config.messages)
  const report: ClientReport = {
    type: "result",
    client: config.client,
    messages: config.messages,
    accepted: outcome.accepted,
    failed: outcome.failed,
    firstFailure: outcome.firstFailure,
    warmupAccepted: warm?.accepted ?? 0,
    elapsedMs: outcome.elapsedMs,
    cpuUserMs: outcome.cpu.user / 1000,
    cpuSystemMs: outcome.cpu.system / 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20
  }
  // Run by hand (no IPC channel), it prints the report instead.
  if (process.send === undefined) console.log(JSON.stringify(report, null, 2))
  else process.send(report, () => process.exit(0))
}

main().catch((error) => {
  console.error(`transport client (${config.client}):`, error)
  process.exit(1)
})
