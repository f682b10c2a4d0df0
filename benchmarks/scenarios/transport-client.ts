/**
 * One measured client run of the transport scenario (and of the peers of the engine scenarios), in a
 * process of its own so its CPU time and peak RSS are its own:
 * `node --import tsx transport-client.ts '<json config>'`.
 *
 * It first sends `warmup` messages through a transport it then closes (JIT and connection code warm),
 * then times `messages` sends through a fresh pooled transport: from creating the transport to the
 * last message's final reply (closing it is not timed). With several targets, the connections are
 * split evenly among them and messages go round-robin. Reports over IPC, then exits.
 */
import { runClient } from "../harness/client.js"
import type { Socket } from "node:net"
import { connect } from "node:net"
import { Effect } from "effect"
import nodemailer from "nodemailer"
import { SmtpOptions, SmtpPool } from "@sluice/smtp"
import type { Percentiles, RssPoint } from "../harness/sampling.js"
import { Latencies, sampleRss } from "../harness/sampling.js"
import { FROM, makeMessage, TO } from "./message.js"

export interface ClientConfig {
  /**
   * "nodemailer-nodelay": Nodemailer's pool on sockets with Nagle's algorithm off (TCP_NODELAY),
   * handed to it through its `getSocket` option; a reference, not the target peer.
   * "raw": plain sockets pipelined as far as RFC 2920 allows, the physical limit (see rawRun).
   */
  readonly client: "sluice" | "nodemailer" | "nodemailer-nodelay" | "raw"
  readonly targets: ReadonlyArray<{ readonly host: string; readonly port: number }>
  readonly messages: number
  readonly warmup: number
  /**
   * Messages in flight at once, in all (not used by "raw" and "sluice": they pipeline as RFC 2920
   * allows, at most two transactions per connection).
   */
  readonly concurrency: number
  /** Connections in all, split among the targets. */
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
  /** From handing a message to the client to its final reply, over the timed run. */
  readonly latencyMs: Percentiles | null
  /** RSS over the timed run. */
  readonly rss: ReadonlyArray<RssPoint>
}

interface Outcome {
  accepted: number
  failed: number
  firstFailure: string | undefined
  elapsedMs: number
  cpu: NodeJS.CpuUsage
  latencies: Latencies
}

const config = JSON.parse(process.argv[2] ?? "{}") as ClientConfig
const message = makeMessage(config.size)
const envelope = { from: FROM, to: [TO] }

const perTarget = (i: number) => Math.max(1, Math.floor(config.connections / config.targets.length) + (i < config.connections % config.targets.length ? 1 : 0))

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

/**
 * Sluice's pool through its Source API, as the engine drives it: each connection pulls the next
 * message when it may start one (idle, or pipelined behind a body whose 354 came), and ends it in
 * `done`. Like "raw", the number in flight is bounded by the connections and RFC 2920 pipelining
 * (at most two transactions per connection), not by `concurrency`.
 */
const sluice = (count: number) =>
  measure((started, finished) =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      interface Timed extends SmtpPool.Delivery {
        readonly t0: number
      }
      const latencies = new Latencies()
      let next = 0
      let accepted = 0
      let failed = 0
      let firstFailure: string | undefined
      let allDone = () => {}
      const source: SmtpPool.Source<Timed> = {
        next: () => next < count ? (next++, { from: FROM, to: envelope.to, content: message, t0: performance.now() }) : undefined,
        done: (delivery, outcome) => {
          latencies.record(delivery.t0)
          if (outcome._tag === "Left") {
            failed++
            firstFailure ??= outcome.left.message
          } else {
            const recipients = outcome.right.recipients
            if (recipients.length === 1 && recipients[0]!.verdict === "delivered") accepted++
            else {
              failed++
              firstFailure ??= JSON.stringify(recipients)
            }
          }
          if (accepted + failed === count) allDone()
        }
      }
      started()
      const pools: Array<SmtpPool.SmtpPool> = []
      for (const [i, target] of config.targets.entries()) {
        pools.push(yield* SmtpPool.make(SmtpOptions.make({
          name: `bench-${i}`,
          host: target.host,
          port: target.port,
          maxConnections: perTarget(i),
          // As Nodemailer's maxMessages: Infinity: the pool's sessions carry every message.
          maxMessagesPerConnection: Number.POSITIVE_INFINITY
        }), source))
      }
      yield* Effect.async<void>((resume) => {
        allDone = () => resume(Effect.void)
        for (const pool of pools) pool.wake()
      })
      finished()
      return { accepted, failed, firstFailure, latencies }
    })))
  )

// Nodemailer's getSocket hook: a connected socket with Nagle's algorithm off.
const noDelaySocket = (
  options: { host?: string; port?: number },
  callback: (error: Error | null, socketOptions?: { connection: Socket }) => void
) => {
  const socket = connect({ host: options.host!, port: options.port!, noDelay: true })
  socket.once("error", (error) => callback(error))
  socket.once("connect", () => callback(null, { connection: socket }))
}

const nodemailerRun = (count: number) =>
  measure(async (started, finished) => {
    started()
    const transports = config.targets.map((target, i) =>
      nodemailer.createTransport({
        host: target.host,
        port: target.port,
        pool: true,
        maxConnections: perTarget(i),
        maxMessages: Number.POSITIVE_INFINITY,
        secure: false,
        ignoreTLS: true,
        ...(config.client === "nodemailer-nodelay" ? { getSocket: noDelaySocket } : {})
      } as import("nodemailer/lib/smtp-pool/index.js").Options)
    )
    const latencies = new Latencies()
    let next = 0
    let accepted = 0
    let failed = 0
    let firstFailure: string | undefined
    const worker = async () => {
      while (next < count) {
        const transport = transports[next++ % transports.length]!
        const t0 = performance.now()
        try {
          const info = await transport.sendMail({ envelope, raw: message })
          latencies.record(t0)
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
    for (const transport of transports) transport.close()
    return { accepted, failed, firstFailure, latencies }
  })

/**
 * The physical limit of a conforming client: plain sockets, no SMTP library. Each connection says
 * EHLO once, then pipelines as far as RFC 2920 allows: MAIL, RCPT and DATA in one write; on DATA's
 * 354, the message, its end and the next transaction's MAIL, RCPT and DATA in one write, without
 * waiting for the message's final reply. Replies are counted, four per transaction (the fourth is
 * DATA's final one).
 */
const rawRun = (count: number) =>
  measure(async (started, finished) => {
    const group = Buffer.from(`MAIL FROM:<${FROM}>\r\nRCPT TO:<${TO}>\r\nDATA\r\n`)
    const body = Buffer.concat([message, Buffer.from(".\r\n")])
    const bodyAndNext = Buffer.concat([body, group])
    const latencies = new Latencies()
    let next = 0
    let accepted = 0
    let failed = 0
    let firstFailure: string | undefined
    started()
    const connection = (host: string, port: number) =>
      new Promise<void>((resolve, reject) => {
        const socket = connect({ host, port, noDelay: true })
        const sentAt: Array<number> = []
        let replies = 0
        let greeted = false
        let tail = ""
        let ended = false
        const end = () => {
          ended = true
          socket.end("QUIT\r\n", () => resolve())
        }
        /** Starts the next transaction's group; false when there is none left. */
        const claim = () => {
          if (next >= count) return false
          next++
          sentAt.push(performance.now())
          return true
        }
        socket.setEncoding("latin1")
        socket.on("error", reject)
        socket.on("close", () => {
          if (!ended) reject(new Error(`raw: the server closed the connection after ${replies} replies; last: ${tail}`))
        })
        socket.on("data", (chunk: string) => {
          const lines = (tail + chunk).split("\r\n")
          tail = lines.pop() ?? ""
          for (const line of lines) {
            if (line[3] === "-") continue
            if (!greeted) {
              // The greeting, then EHLO's reply.
              if (line.startsWith("220")) socket.write("EHLO bench.example\r\n")
              else if (line.startsWith("250")) {
                greeted = true
                if (claim()) socket.write(group)
                else end()
              } else reject(new Error(`raw: unexpected reply before the first transaction: ${line}`))
              continue
            }
            const step = ++replies % 4
            if (step === 3) {
              if (!line.startsWith("354")) return reject(new Error(`raw: DATA refused: ${line}`))
              socket.write(claim() ? bodyAndNext : body)
            } else if (step === 0) {
              latencies.record(sentAt.shift()!)
              if (line.startsWith("2")) accepted++
              else {
                failed++
                firstFailure ??= line
              }
              if (sentAt.length === 0 && !ended) end()
            }
          }
        })
      })
    await Promise.all(config.targets.flatMap((target, i) => Array.from({ length: perTarget(i) }, () => connection(target.host, target.port))))
    finished()
    return { accepted, failed, firstFailure, latencies }
  })

const main = async () => {
  const run = config.client === "sluice" ? sluice : config.client === "raw" ? rawRun : nodemailerRun
  const warm = config.warmup > 0 ? await run(config.warmup) : undefined
  if (warm !== undefined && warm.failed > 0) throw new Error(`warm-up: ${warm.failed} failed, first: ${warm.firstFailure}`)
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const rss = sampleRss()
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
    heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
    latencyMs: outcome.latencies.summary(),
    rss: rss.stop()
  }
  return report
}

runClient(`transport client (${config.client})`, main)
